/** Offline verification of tokens signed here with a local key, as the server would sign them. */

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { base64url, SignJWT } from "jose";
import { verifyToken, type Jwks, type VerifyTokenInput } from "../src/index.js";
import { FINGERPRINT, jwksOf, KEY, newKey, NOW, PRODUCT, signToken, type SigningKey } from "./helpers.js";

let k1: SigningKey;
let k2: SigningKey;
let jwks: Jwks;

before(async () => {
  k1 = await newKey("key-1");
  k2 = await newKey("key-2");
  jwks = jwksOf(k1);
});

function input(token: string, over: Partial<VerifyTokenInput> = {}): VerifyTokenInput {
  return {
    token,
    jwks,
    issuer: "gumgate",
    productId: PRODUCT,
    licenseKey: KEY,
    fingerprint: FINGERPRINT,
    now: NOW,
    leewaySeconds: 300,
    ...over,
  };
}

async function codeOf(token: string, over: Partial<VerifyTokenInput> = {}): Promise<string> {
  const v = await verifyToken(input(token, over));
  return v.ok ? "VALID" : v.code;
}

describe("verifyToken", () => {
  test("a token signed for this license and machine is valid, with its claims", async () => {
    const v = await verifyToken(input(await signToken({ key: k1 })));
    assert.ok(v.ok);
    assert.equal(v.claims.sub, "act_1");
    assert.equal(v.claims.seats, 3);
    assert.deepEqual(v.claims.entitlements?.features, ["pro", "export"]);
  });

  test("the license key matches however the user spelled it", async () => {
    const token = await signToken({ key: k1 });
    assert.equal(await codeOf(token, { licenseKey: ` ${KEY.toLowerCase()}\n` }), "VALID");
  });

  test("exp: refused beyond the leeway, accepted within it", async () => {
    const token = await signToken({ key: k1, iat: NOW - 1000, ttl: 500 }); // exp = NOW - 500
    assert.equal(await codeOf(token), "TOKEN_EXPIRED");
    const recent = await signToken({ key: k1, iat: NOW - 1000, ttl: 800 }); // exp = NOW - 200
    assert.equal(await codeOf(recent), "VALID");
    assert.equal(await codeOf(recent, { leewaySeconds: 0 }), "TOKEN_EXPIRED");
  });

  test("nbf: refused when it is beyond the leeway in the future, accepted within it", async () => {
    const far = await signToken({ key: k1, claims: { nbf: NOW + 600 } });
    assert.equal(await codeOf(far), "TOKEN_NOT_YET_VALID");
    const near = await signToken({ key: k1, claims: { nbf: NOW + 200 } });
    assert.equal(await codeOf(near), "VALID");
  });

  test("a kid the JWKS does not name is refused, as is a token with no kid", async () => {
    const unknown = await signToken({ key: k1, header: { kid: "key-9" } });
    assert.equal(await codeOf(unknown), "TOKEN_INVALID");
    const noKid = await signToken({ key: k1, header: { kid: undefined } });
    assert.equal(await codeOf(noKid), "TOKEN_INVALID");
  });

  test("a signature by another key under a known kid is refused", async () => {
    const forged = await signToken({ key: { ...k2, kid: "key-1" } });
    const v = await verifyToken(input(forged));
    assert.ok(!v.ok);
    assert.equal(v.code, "TOKEN_INVALID");
    assert.match(v.reason, /signature/);
  });

  test("any other alg is refused: HS256 keyed with the public key, and alg none", async () => {
    // The classic confusion: an HMAC "signed" with the public key's bytes as the secret.
    const secret = base64url.decode(String(k1.jwk.x));
    const hs = await new SignJWT({ ...(claimsOf(await signToken({ key: k1 }))) })
      .setProtectedHeader({ alg: "HS256", kid: "key-1" })
      .sign(secret);
    const v = await verifyToken(input(hs));
    assert.ok(!v.ok);
    assert.equal(v.code, "TOKEN_INVALID");
    assert.match(v.reason, /alg HS256/);

    const [, payload] = (await signToken({ key: k1 })).split(".");
    const none = `${base64url.encode(JSON.stringify({ alg: "none", kid: "key-1" }))}.${payload}.`;
    assert.equal(await codeOf(none), "TOKEN_INVALID");
  });

  test("a payload changed after signing is refused", async () => {
    const [header, , signature] = (await signToken({ key: k1 })).split(".");
    const claims = { ...(claimsOf(await signToken({ key: k1 }))), seats: 1000 };
    const tampered = `${header}.${base64url.encode(JSON.stringify(claims))}.${signature}`;
    assert.equal(await codeOf(tampered), "TOKEN_INVALID");
    assert.equal(await codeOf("not a token"), "TOKEN_INVALID");
  });

  test("wrong audience or issuer is refused; a configured issuer is honoured", async () => {
    assert.equal(await codeOf(await signToken({ key: k1, claims: { aud: "other-product" } })), "TOKEN_INVALID");
    const custom = await signToken({ key: k1, claims: { iss: "acme-licenses" } });
    assert.equal(await codeOf(custom), "TOKEN_INVALID");
    assert.equal(await codeOf(custom, { issuer: "acme-licenses" }), "VALID");
  });

  test("another license's or another machine's token is refused", async () => {
    assert.equal(await codeOf(await signToken({ key: k1, licenseKey: "OTHER-KEY" })), "WRONG_LICENSE");
    assert.equal(await codeOf(await signToken({ key: k1, fingerprint: "another-machine" })), "WRONG_MACHINE");
    // Who it is for is checked before when: a copied, expired token is still called a copy.
    const old = await signToken({ key: k1, fingerprint: "another-machine", iat: NOW - 10 * 86_400 });
    assert.equal(await codeOf(old), "WRONG_MACHINE");
  });

  test("a token whose code is not VALID is refused", async () => {
    assert.equal(await codeOf(await signToken({ key: k1, claims: { code: "REFUNDED" } })), "TOKEN_INVALID");
  });

  test("a clock set back behind the latest time seen is refused, within the leeway it is not", async () => {
    const token = await signToken({ key: k1 });
    assert.equal(await codeOf(token, { lastSeenAt: NOW + 3600 }), "CLOCK_SET_BACK");
    assert.equal(await codeOf(token, { lastSeenAt: NOW + 299 }), "VALID");
  });

  test("key rotation: with two keys published, tokens of either verify", async () => {
    const both = jwksOf(k1, k2);
    assert.equal(await codeOf(await signToken({ key: k1 }), { jwks: both }), "VALID");
    assert.equal(await codeOf(await signToken({ key: k2 }), { jwks: both }), "VALID");
    // Once the old key is withdrawn, its tokens no longer verify.
    assert.equal(await codeOf(await signToken({ key: k1 }), { jwks: jwksOf(k2) }), "TOKEN_INVALID");
  });

  test("a JWKS entry that is not an Ed25519 signing key is not used", async () => {
    const token = await signToken({ key: k1 });
    const wrongUse = { keys: [{ ...k1.jwk, use: "enc" }] };
    assert.equal(await codeOf(token, { jwks: wrongUse }), "TOKEN_INVALID");
    const wrongCurve = { keys: [{ ...k1.jwk, crv: "X25519" }] };
    assert.equal(await codeOf(token, { jwks: wrongCurve }), "TOKEN_INVALID");
  });
});

function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split(".")[1] ?? "";
  return JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>;
}
