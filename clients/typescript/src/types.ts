/**
 * What the client's methods answer. License outcomes are values, not exceptions: an app
 * switches on `ok`, then on `code` (or `source` to know who decided).
 */

import type { Code } from "./codes.js";
import type { TokenClaims } from "./token.js";

/** One activation (one machine holding a seat). Timestamps are RFC 3339 strings. */
export interface Activation {
  id: string;
  name: string | null;
  platform: string | null;
  createdAt: string | null;
  /** When the server last heard from this machine; null from a server that does not say. */
  lastSeenAt: string | null;
}

/** The license's seats. */
export interface LicenseSummary {
  productId: string;
  seats: number;
  seatsUsed: number;
}

/**
 * What the license unlocks. `features` are the seller's names for what the purchased variants
 * grant (configured on the server), so an app gates on features rather than on variant names.
 * Empty when the server says nothing: an app that gates on a feature then keeps it locked.
 */
export interface Entitlements {
  variants: string[];
  /** The subscription's recurrence (`monthly`, `yearly`...), null for a one-off purchase. */
  recurrence: string | null;
  subscriptionEndsAt: string | null;
  features: string[];
}

/** When the app should beat next, for products with heartbeats. */
export interface HeartbeatSchedule {
  intervalSecs: number;
  /** Beat again at this time (RFC 3339). */
  nextAt: string;
  /** A machine not heard from by then is released by the server (`HEARTBEAT_MISSED`). */
  deadline: string;
}

/** The server granted the license (activate, validate or heartbeat). */
export interface OnlineGrant {
  ok: true;
  code: "VALID";
  source: "server";
  message: string;
  /** 201 for a new activation, 200 otherwise. */
  status: number;
  /**
   * True when the server could not reach Gumroad and granted from this machine's grace period;
   * `offlineUntil` says until when.
   */
  offline: boolean;
  offlineUntil: string | null;
  activation: Activation;
  license: LicenseSummary;
  entitlements: Entitlements;
  heartbeat: HeartbeatSchedule | null;
  /** The new signed token, already stored; null when the server issued none. */
  token: string | null;
  tokenExpiresAt: string | null;
}

/** The stored token granted the license, with no server decision (offline or unreachable). */
export interface OfflineGrant {
  ok: true;
  code: "VALID";
  source: "token";
  offline: true;
  message: string;
  activationId: string;
  seats: number;
  entitlements: Entitlements;
  /** The token's `exp` as RFC 3339: the app works offline until then (plus the leeway). */
  tokenExpiresAt: string;
  claims: TokenClaims;
  /** Why the server did not decide (unreachable, 5xx, rate limited); null for `checkOffline()`. */
  serverError: string | null;
  /** When the server asked to be left alone for a while (`Retry-After`), in seconds. */
  retryAfterSecs: number | null;
}

/** The license is not granted, or the request could not be made. */
export interface Denial {
  ok: false;
  /** A server code, an offline code, a client code, or a code newer than this client. */
  code: Code;
  /** A sentence for the user; never contains the license key. */
  message: string;
  /**
   * Who decided: `server` (its answer, or `SERVER_ERROR` for one the client could not make
   * sense of), `token` (the offline check of the stored token, the server unreachable or not
   * asked), or `client` (no request could be made: `NOT_ACTIVATED`, `NETWORK_ERROR`).
   */
  source: "server" | "token" | "client";
  /** True when the server was not reached (or not asked). */
  offline: boolean;
  /** The HTTP status when the server answered. */
  status: number | null;
  /** From `Retry-After`, in seconds (rate limits, `TOO_MANY_DEACTIVATIONS`, upstream outages). */
  retryAfterSecs: number | null;
  /** Why the server did not decide, when the stored token decided instead. */
  serverError: string | null;
  /** Technical detail for logs (why a token was refused, say); not for the user. */
  detail: string | null;
}

export type ActivateResult = OnlineGrant | Denial;
export type LicenseResult = OnlineGrant | OfflineGrant | Denial;
export type OfflineResult = OfflineGrant | Denial;

export type DeactivateResult =
  | {
      ok: true;
      activationId: string;
      /** True when it was this machine's activation and the stored license was cleared. */
      forgotten: boolean;
    }
  | Denial;

export type MachinesResult =
  | {
      ok: true;
      machines: Activation[];
      license: LicenseSummary;
      /** How many deactivations the license may make per day. */
      maxDeactivationsPerDay: number | null;
    }
  | Denial;
