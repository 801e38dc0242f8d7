/**
 * Offline verification of an activation token: the checks an app makes before trusting a token
 * with no server to ask. Every failure is a result with a code, never an exception, because a
 * bad token on disk is an everyday event (expired, copied from elsewhere, tampered with).
 */

import { compactVerify, decodeProtectedHeader, importJWK } from "jose";
import type { OfflineCode } from "./codes.js";
import { fingerprintHash, licenseHash } from "./hashes.js";

/** One public key of a JWKS, as `/.well-known/jwks.json` publishes it (RFC 8037 OKP). */
export interface Jwk {
  kty: string;
  crv?: string;
  x?: string;
  kid?: string;
  alg?: string;
  use?: string;
  [member: string]: unknown;
}

/** A JSON Web Key Set: `{"keys": [...]}`. */
export interface Jwks {
  keys: Jwk[];
}

/** The entitlements claim, as the server writes it (snake_case, like its JSON answers). */
export interface EntitlementsClaim {
  variants?: string[];
  recurrence?: string | null;
  subscription_ends_at?: string | null;
  features?: string[];
}

/** The claims of an activation token. Times are Unix seconds. */
export interface TokenClaims {
  /** Issuer: `"gumgate"` unless the seller configured another. */
  iss: string;
  /** The product id. */
  aud: string | string[];
  /** The activation id. */
  sub: string;
  /** Hash of the license key (see `licenseHash`). */
  lic: string;
  /** Hash of the fingerprint (see `fingerprintHash`). */
  fp: string;
  seats: number;
  code: string;
  iat: number;
  nbf: number;
  exp: number;
  entitlements?: EntitlementsClaim;
}

export interface VerifyTokenInput {
  token: string;
  jwks: Jwks;
  issuer: string;
  productId: string;
  /** This machine's license key and fingerprint: the token must have been issued for them. */
  licenseKey: string;
  fingerprint: string;
  /** The current time, Unix seconds. */
  now: number;
  /** Clock skew tolerated on `exp`, `nbf` and `lastSeenAt`, in seconds. */
  leewaySeconds: number;
  /** The latest time this machine has seen (Unix seconds), to catch a clock set back. */
  lastSeenAt?: number | null;
}

export type TokenVerdict =
  | { ok: true; claims: TokenClaims }
  | { ok: false; code: Exclude<OfflineCode, "VALID" | "NO_TOKEN">; reason: string };

/** The only algorithm accepted: the server signs with Ed25519 and nothing else. */
const ALG = "EdDSA";

/**
 * Verifies `token` as the app must before trusting it offline, in this order: the signature by
 * the JWKS key its `kid` names (EdDSA only), `iss` and `aud`, `lic` and `fp` against this
 * machine's own license key and fingerprint, `code` = VALID, then the clock: not set back
 * behind `lastSeenAt`, `nbf` and `exp` within the leeway. Checking who the token is for before
 * when it is valid means a copied token is called a copy even once it has also expired.
 */
export async function verifyToken(input: VerifyTokenInput): Promise<TokenVerdict> {
  const invalid = (reason: string): TokenVerdict => ({ ok: false, code: "TOKEN_INVALID", reason });

  let header;
  try {
    header = decodeProtectedHeader(input.token);
  } catch {
    return invalid("the token is not a JWS");
  }
  // Checked before any key is chosen, so that no other algorithm is ever tried: an HS256 token
  // "signed" with the public key as its secret is the classic confusion.
  if (header.alg !== ALG) return invalid(`alg ${String(header.alg)} is not ${ALG}`);
  if (typeof header.kid !== "string") return invalid("the token names no kid");
  const jwk = input.jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) return invalid(`kid ${header.kid} is not in the JWKS`);

  let key;
  try {
    key = await importEd25519(jwk);
  } catch (e) {
    return invalid(`the JWKS key ${header.kid} is unusable: ${(e as Error).message}`);
  }
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(input.token, key, { algorithms: [ALG] }));
  } catch {
    return invalid("the signature does not verify");
  }

  const claims = parseClaims(payload);
  if (!claims) return invalid("the claims are malformed");
  if (claims.iss !== input.issuer) return invalid(`issuer ${claims.iss} is not ${input.issuer}`);
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.includes(input.productId)) return invalid("the token is for another product");
  if (claims.lic !== licenseHash(input.licenseKey)) {
    return { ok: false, code: "WRONG_LICENSE", reason: "the token is for another license key" };
  }
  if (claims.fp !== fingerprintHash(input.fingerprint)) {
    return { ok: false, code: "WRONG_MACHINE", reason: "the token is for another machine" };
  }
  if (claims.code !== "VALID") return invalid(`the token's code is ${claims.code}`);

  const { now, leewaySeconds: leeway } = input;
  if (input.lastSeenAt != null && now + leeway < input.lastSeenAt) {
    return {
      ok: false,
      code: "CLOCK_SET_BACK",
      reason: "the clock is behind a time this machine has already seen",
    };
  }
  if (now + leeway < claims.nbf) {
    return { ok: false, code: "TOKEN_NOT_YET_VALID", reason: "the token is not valid yet" };
  }
  if (now > claims.exp + leeway) {
    return { ok: false, code: "TOKEN_EXPIRED", reason: "the token has expired" };
  }
  return { ok: true, claims };
}

/** Whether a JWKS names the key `kid` (used to refresh a cached JWKS after a key rotation). */
export function jwksHasKid(jwks: Jwks | null | undefined, kid: string): boolean {
  return !!jwks?.keys.some((k) => k.kid === kid);
}

/** The `kid` of a token's header, or null when it is not a JWS. No verification. */
export function tokenKid(token: string): string | null {
  try {
    const kid = decodeProtectedHeader(token).kid;
    return typeof kid === "string" ? kid : null;
  } catch {
    return null;
  }
}

/**
 * A JWKS from untrusted JSON (a server answer, the state file), keeping only the keys this client
 * can use: Ed25519 public keys for signatures. Null when nothing usable is left.
 */
export function parseJwks(value: unknown): Jwks | null {
  if (typeof value !== "object" || value === null) return null;
  const keys = (value as { keys?: unknown }).keys;
  if (!Array.isArray(keys)) return null;
  const usable = keys.filter(
    (k): k is Jwk =>
      typeof k === "object" &&
      k !== null &&
      k.kty === "OKP" &&
      k.crv === "Ed25519" &&
      typeof k.x === "string" &&
      typeof k.kid === "string" &&
      (k.alg === undefined || k.alg === ALG) &&
      (k.use === undefined || k.use === "sig"),
  );
  // Only the public members: a JWK carrying a private `d` has no business on an app's disk.
  const cleaned = usable.map(({ kty, crv, x, kid, alg, use }) => {
    const jwk: Jwk = { kty, crv, x, kid };
    if (alg !== undefined) jwk.alg = alg;
    if (use !== undefined) jwk.use = use;
    return jwk;
  });
  return cleaned.length > 0 ? { keys: cleaned } : null;
}

/**
 * Imported keys by `x`, so repeated offline checks do not re-import. Bounded by the handful of
 * keys a JWKS holds; a key is only cached after it imported.
 */
type PublicKey = Awaited<ReturnType<typeof importJWK>>;
const imported = new Map<string, PublicKey>();

async function importEd25519(jwk: Jwk): Promise<PublicKey> {
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") {
    throw new Error("not an Ed25519 public key");
  }
  if (jwk.alg !== undefined && jwk.alg !== ALG) throw new Error(`its alg is ${jwk.alg}`);
  if (jwk.use !== undefined && jwk.use !== "sig") throw new Error(`its use is ${jwk.use}`);
  const cached = imported.get(jwk.x);
  if (cached) return cached;
  // Only the public members are passed, so a JWK with a private `d` is still used as public.
  const key = await importJWK({ kty: "OKP", crv: "Ed25519", x: jwk.x }, ALG);
  if (imported.size > 32) imported.clear();
  imported.set(jwk.x, key);
  return key;
}

function parseClaims(payload: Uint8Array): TokenClaims | null {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const c = value as Record<string, unknown>;
  const str = (k: string) => typeof c[k] === "string";
  const num = (k: string) => typeof c[k] === "number" && Number.isFinite(c[k]);
  const audOk = str("aud") || (Array.isArray(c.aud) && c.aud.every((a) => typeof a === "string"));
  if (!(str("iss") && audOk && str("sub") && str("lic") && str("fp") && str("code"))) return null;
  if (!(num("iat") && num("nbf") && num("exp"))) return null;
  if (c.seats !== undefined && !num("seats")) return null;
  return {
    ...(c as unknown as TokenClaims),
    seats: typeof c.seats === "number" ? c.seats : 0,
  };
}
