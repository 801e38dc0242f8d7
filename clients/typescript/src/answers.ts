/**
 * The server's JSON answers, read into the client's types. Reading is lenient where a field is
 * informative (an older server may lack it) and strict where the client relies on it (a grant
 * without an activation id is not a grant).
 */

import type { ClientCode, OfflineCode } from "./codes.js";
import type { HttpOutcome } from "./http.js";
import type { EntitlementsClaim } from "./token.js";
import type {
  Activation,
  Denial,
  Entitlements,
  HeartbeatSchedule,
  LicenseSummary,
  OnlineGrant,
} from "./types.js";

type Body = Record<string, unknown>;
export type Answer = Extract<HttpOutcome, { kind: "answer" }>;

const isObject = (v: unknown): v is Body => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];

/**
 * A granted answer, `flag` being `activated`, `valid` or `alive`; null when the answer is not one
 * (the flag is not true, or the activation id is missing).
 */
export function parseGrant(answer: Answer, flag: string): OnlineGrant | null {
  const b = answer.body;
  if (answer.status < 200 || answer.status > 299 || !b || b[flag] !== true) return null;
  const activation = parseActivation(b.activation);
  if (!activation) return null;
  return {
    ok: true,
    code: "VALID",
    source: "server",
    message: str(b.message) ?? "The license is valid.",
    status: answer.status,
    offline: b.offline === true,
    offlineUntil: str(b.offline_until),
    activation,
    license: parseLicense(b.license),
    entitlements: parseEntitlements(b.entitlements),
    heartbeat: parseHeartbeat(b.heartbeat),
    token: str(b.token),
    tokenExpiresAt: str(b.token_expires_at),
  };
}

export function parseActivation(v: unknown): Activation | null {
  if (!isObject(v)) return null;
  const id = str(v.id);
  if (!id) return null;
  return {
    id,
    name: str(v.name),
    platform: str(v.platform),
    createdAt: str(v.created_at),
    lastSeenAt: str(v.last_seen_at),
  };
}

export function parseLicense(v: unknown): LicenseSummary {
  const l = isObject(v) ? v : {};
  return {
    productId: str(l.product_id) ?? "",
    seats: num(l.seats) ?? 0,
    seatsUsed: num(l.seats_used) ?? 0,
  };
}

/** Entitlements from an answer or a token claim (both are snake_case); empty when absent. */
export function parseEntitlements(v: unknown): Entitlements {
  const e: EntitlementsClaim & Body = isObject(v) ? v : {};
  return {
    variants: strings(e.variants),
    recurrence: str(e.recurrence),
    subscriptionEndsAt: str(e.subscription_ends_at),
    features: strings(e.features),
  };
}

export function parseHeartbeat(v: unknown): HeartbeatSchedule | null {
  if (!isObject(v)) return null;
  const nextAt = str(v.next_at);
  const intervalSecs = num(v.interval_secs);
  if (!nextAt || intervalSecs === null) return null;
  return { intervalSecs, nextAt, deadline: str(v.deadline) ?? nextAt };
}

/** The denial an answer that is not a grant stands for. */
export function parseDenial(answer: Answer): Denial {
  const b = answer.body ?? {};
  const base = {
    ok: false as const,
    offline: false,
    status: answer.status,
    retryAfterSecs: answer.retryAfterSecs,
    serverError: null,
    detail: null,
  };
  const message = str(b.message);
  // Gumroad's error shape, {success: false, message}: bad input has no reason code.
  if (answer.status === 400 || answer.status === 422) {
    return { ...base, source: "server", code: "INVALID_INPUT", message: message ?? "The request was refused." };
  }
  const code = str(b.code);
  if (code) {
    return { ...base, source: "server", code, message: message ?? `Denied: ${code}.` };
  }
  if (answer.status === 429) {
    return { ...base, source: "server", code: "RATE_LIMITED", message: message ?? "Too many requests." };
  }
  return {
    ...base,
    source: "server",
    code: "SERVER_ERROR",
    message: `The license server gave an unexpected answer (HTTP ${answer.status}).`,
  };
}

/** A denial decided on this machine, before or without any answer. */
export function clientDenial(
  code: ClientCode,
  message: string,
  extra: Partial<Pick<Denial, "offline" | "serverError" | "detail">> = {},
): Denial {
  return {
    ok: false,
    code,
    message,
    source: "client",
    offline: extra.offline ?? false,
    status: null,
    retryAfterSecs: null,
    serverError: extra.serverError ?? null,
    detail: extra.detail ?? null,
  };
}

/** The user-facing sentence for each offline code. */
export const OFFLINE_MESSAGES: Record<Exclude<OfflineCode, "VALID">, string> = {
  NO_TOKEN: "This machine has no license token: activate it while online.",
  TOKEN_EXPIRED: "The license token has expired: connect to the internet to renew it.",
  TOKEN_NOT_YET_VALID: "The license token is not valid yet: check this machine's clock.",
  TOKEN_INVALID: "The license token is invalid.",
  WRONG_LICENSE: "The license token belongs to another license key.",
  WRONG_MACHINE: "The license token belongs to another machine.",
  CLOCK_SET_BACK: "This machine's clock was set back: correct it, or connect to the internet.",
};
