/**
 * Test helpers: a signing key like the server's, tokens signed with it, and a fake server
 * behind an injected fetch, so the client is tested with no network.
 */

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { fingerprintHash, licenseHash, type Jwk, type Jwks } from "../src/index.js";

export const PRODUCT = "9Y2u8Dy4AWioyNrmNROrFA==";
export const KEY = "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0";
export const FINGERPRINT = "f".repeat(64);
/** A fixed "now" for the tests: 2030-01-01T00:00:00Z, in seconds. */
export const NOW = 1_893_456_000;

export interface SigningKey {
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  jwk: Jwk;
}

/** A fresh Ed25519 key and its public JWK, as the server publishes it. */
export async function newKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "EdDSA", use: "sig" } as Jwk;
  return { kid, privateKey, jwk };
}

export function jwksOf(...keys: SigningKey[]): Jwks {
  return { keys: keys.map((k) => k.jwk) };
}

export const ENTITLEMENTS = {
  variants: ["Premium"],
  recurrence: null,
  subscription_ends_at: null,
  features: ["pro", "export"],
};

export interface TokenSpec {
  key: SigningKey;
  /** Issued at (seconds); default NOW. */
  iat?: number;
  /** Lifetime in seconds; default 7 days. */
  ttl?: number;
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  licenseKey?: string;
  fingerprint?: string;
  activationId?: string;
}

/** A token as the server signs it; `claims` and `header` override or add fields. */
export async function signToken(spec: TokenSpec): Promise<string> {
  const iat = spec.iat ?? NOW;
  const payload = {
    iss: "gumgate",
    aud: PRODUCT,
    sub: spec.activationId ?? "act_1",
    lic: licenseHash(spec.licenseKey ?? KEY),
    fp: fingerprintHash(spec.fingerprint ?? FINGERPRINT),
    seats: 3,
    code: "VALID",
    iat,
    nbf: iat,
    exp: iat + (spec.ttl ?? 7 * 86_400),
    entitlements: ENTITLEMENTS,
    ...spec.claims,
  };
  return new SignJWT(payload)
    .setProtectedHeader({ alg: "EdDSA", kid: spec.key.kid, ...spec.header })
    .sign(spec.key.privateKey);
}

export interface Recorded {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
  contentType: string | null;
}

export type Handler = (req: Recorded) => Response | Promise<Response>;

/** A fetch that answers from `routes` ("POST /v1/licenses/activate" -> handler) and records calls. */
export function fakeFetch(routes: Record<string, Handler>) {
  const calls: Recorded[] = [];
  const fetch = async (input: string, init: RequestInit): Promise<Response> => {
    const url = new URL(input);
    const headers = new Headers(init.headers);
    const req: Recorded = {
      method: init.method ?? "GET",
      path: url.pathname,
      body: typeof init.body === "string" ? (JSON.parse(init.body) as Record<string, unknown>) : null,
      contentType: headers.get("content-type"),
    };
    calls.push(req);
    const handler = routes[`${req.method} ${req.path}`];
    if (!handler) return json(404, { success: false, message: "no route" });
    return handler(req);
  };
  return { fetch, calls };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A granted answer like the server's, around `token`. */
export function granted(flag: string, token: string | null, extra: Record<string, unknown> = {}) {
  return {
    [flag]: true,
    code: "VALID",
    message: "The license is valid.",
    activation: {
      id: "act_1",
      name: null,
      platform: "linux",
      created_at: "2030-01-01T00:00:00Z",
      last_seen_at: "2030-01-01T00:00:00Z",
    },
    license: { product_id: PRODUCT, seats: 3, seats_used: 1 },
    entitlements: ENTITLEMENTS,
    token,
    token_expires_at: "2030-01-08T00:00:00Z",
    heartbeat: { interval_secs: 3600, next_at: "2030-01-01T01:00:00Z", deadline: "2030-01-01T01:10:00Z" },
    ...extra,
  };
}

/** A temporary directory, removed by the returned cleanup. */
export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "gumgate-client-test-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
