/**
 * Reason codes. The server's are a closed list today, but a newer server may add codes this
 * version of the client does not know: those arrive as plain strings and are never an error.
 */

/** Codes the Gumgate server answers with (its `code` field). */
export const SERVER_CODES = [
  "VALID",
  "NOT_FOUND",
  "DISABLED",
  "ACCESS_REVOKED",
  "REFUNDED",
  "CHARGEBACKED",
  "DISPUTED",
  "SUBSCRIPTION_ENDED",
  "SUBSCRIPTION_PAYMENT_FAILED",
  "TOO_MANY_ACTIVATIONS",
  "FINGERPRINT_MISMATCH",
  "PRODUCT_NOT_ALLOWED",
  "TEST_PURCHASE_NOT_ALLOWED",
  "UPSTREAM_UNAVAILABLE",
  "HEARTBEAT_MISSED",
  "TOO_MANY_DEACTIVATIONS",
] as const;

export type ServerCode = (typeof SERVER_CODES)[number];

/** Codes of the offline check of the stored token (`checkOffline()`), decided on this machine. */
export const OFFLINE_CODES = [
  "VALID",
  "NO_TOKEN",
  "TOKEN_EXPIRED",
  "TOKEN_NOT_YET_VALID",
  "TOKEN_INVALID",
  "WRONG_LICENSE",
  "WRONG_MACHINE",
  "CLOCK_SET_BACK",
] as const;

export type OfflineCode = (typeof OFFLINE_CODES)[number];

/**
 * Codes the client itself answers with when the server gave no reason code:
 * - `NOT_ACTIVATED`: no license is stored on this machine (call `activate()` first);
 * - `NETWORK_ERROR`: the server could not be reached (or timed out) and nothing could stand in;
 * - `INVALID_INPUT`: the server refused the request's input (400/422), e.g. a blank license key;
 * - `RATE_LIMITED`: the server's per-IP limit (429 without a reason code); see `retryAfterSecs`;
 * - `SERVER_ERROR`: an answer the client could not make sense of (unexpected status or body).
 */
export const CLIENT_CODES = [
  "NOT_ACTIVATED",
  "NETWORK_ERROR",
  "INVALID_INPUT",
  "RATE_LIMITED",
  "SERVER_ERROR",
] as const;

export type ClientCode = (typeof CLIENT_CODES)[number];

export type KnownCode = ServerCode | OfflineCode | ClientCode;

/**
 * Any code: the known ones, autocompleted and checkable with `switch`, plus any other string a
 * newer server may send. (`string & {}` keeps the literals from collapsing into `string`.)
 */
export type Code = KnownCode | (string & {});

const KNOWN = new Set<string>([...SERVER_CODES, ...OFFLINE_CODES, ...CLIENT_CODES]);

/** Whether this version of the client knows `code`. */
export function isKnownCode(code: string): code is KnownCode {
  return KNOWN.has(code);
}
