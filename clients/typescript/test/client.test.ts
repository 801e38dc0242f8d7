/** The client against a fake server (an injected fetch): what it sends, stores and answers. */

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { GumgateClient, type GumgateClientOptions, type Jwks, type LicenseResult } from "../src/index.js";
import {
  ENTITLEMENTS,
  fakeFetch,
  FINGERPRINT,
  granted,
  json,
  jwksOf,
  KEY,
  newKey,
  NOW,
  PRODUCT,
  signToken,
  tempDir,
  type Handler,
  type SigningKey,
} from "./helpers.js";

let k1: SigningKey;
let k2: SigningKey;
let pinned: Jwks;

before(async () => {
  k1 = await newKey("key-1");
  k2 = await newKey("key-2");
  pinned = jwksOf(k1);
});

/** A clock the test moves: seconds. */
function clock(start = NOW) {
  let t = start;
  return { now: () => t * 1000, set: (s: number) => void (t = s), advance: (s: number) => void (t += s) };
}

/** A server that grants everything with fresh tokens signed by `key`, plus `routes` overrides. */
function server(key: () => SigningKey, now: () => number, routes: Record<string, Handler> = {}) {
  const grant = (flag: string, status: number) => async () =>
    json(status, granted(flag, await signToken({ key: key(), iat: Math.floor(now() / 1000) })));
  return fakeFetch({
    "POST /v1/licenses/activate": grant("activated", 201),
    "POST /v1/licenses/validate": grant("valid", 200),
    "POST /v1/licenses/heartbeat": grant("alive", 200),
    "POST /v1/licenses/deactivate": () => json(200, { deactivated: true }),
    "GET /.well-known/jwks.json": () => json(200, jwksOf(key())),
    ...routes,
  });
}

function client(fetch: GumgateClientOptions["fetch"], now: () => number, over: Partial<GumgateClientOptions> = {}) {
  return new GumgateClient({
    baseUrl: "http://gumgate.test",
    productId: PRODUCT,
    fingerprint: FINGERPRINT,
    jwks: pinned,
    fetch,
    now,
    ...over,
  });
}

const unreachable = () => Promise.reject(new TypeError("fetch failed", { cause: Object.assign(new Error("x"), { code: "ECONNREFUSED" }) }));

describe("GumgateClient", () => {
  test("activate sends JSON with the fingerprint and stores the grant; checkOffline then holds", async () => {
    const c = clock();
    const { fetch, calls } = server(() => k1, c.now);
    const gg = client(fetch, c.now);
    const r = await gg.activate(KEY, { name: "laptop" });
    assert.ok(r.ok && r.source === "server");
    assert.equal(r.status, 201);
    assert.equal(r.activation.id, "act_1");
    assert.deepEqual(r.entitlements, { variants: ["Premium"], recurrence: null, subscriptionEndsAt: null, features: ["pro", "export"] });
    assert.equal(r.heartbeat?.intervalSecs, 3600);
    assert.equal(calls[0]?.contentType, "application/json");
    assert.deepEqual(calls[0]?.body, {
      product_id: PRODUCT,
      license_key: KEY,
      fingerprint: FINGERPRINT,
      platform: process.platform,
      name: "laptop",
    });

    const off = await gg.checkOffline();
    assert.ok(off.ok && off.source === "token");
    assert.equal(off.activationId, "act_1");
    assert.deepEqual(off.entitlements.features, ENTITLEMENTS.features);
  });

  test("validate sends the activation id and fingerprint, and answers the server's grant", async () => {
    const c = clock();
    const { fetch, calls } = server(() => k1, c.now);
    const gg = client(fetch, c.now);
    await gg.activate(KEY);
    const r = await gg.validate();
    assert.ok(r.ok && r.source === "server" && !r.offline);
    assert.deepEqual(calls[1]?.body, {
      product_id: PRODUCT,
      license_key: KEY,
      activation_id: "act_1",
      fingerprint: FINGERPRINT,
    });
  });

  test("nothing activated: validate, heartbeat, deactivate and machines say NOT_ACTIVATED, offline NO_TOKEN", async () => {
    const c = clock();
    const { fetch, calls } = server(() => k1, c.now);
    const gg = client(fetch, c.now);
    for (const r of [await gg.validate(), await gg.heartbeat(), await gg.deactivate(), await gg.machines()]) {
      assert.ok(!r.ok);
      assert.equal(r.code, "NOT_ACTIVATED");
    }
    const off = await gg.checkOffline();
    assert.ok(!off.ok);
    assert.equal(off.code, "NO_TOKEN");
    assert.equal(calls.length, 0);
  });

  test("server unreachable: validate answers from the stored token and says so", async () => {
    const c = clock();
    const { fetch } = server(() => k1, c.now);
    const { dir, cleanup } = await tempDir();
    try {
      const statePath = join(dir, "state.json");
      await client(fetch, c.now, { statePath }).activate(KEY);
      c.advance(86_400);
      // A second client on the same state, whose server cannot be reached.
      const offline = client(unreachable, c.now, { statePath });
      const r = await offline.validate();
      assert.ok(r.ok && r.source === "token" && r.offline);
      assert.match(r.serverError ?? "", /ECONNREFUSED/);
      // Until the token expires (7 days) plus the leeway, and not after.
      c.advance(6 * 86_400 + 301);
      const late = await offline.validate();
      assert.ok(!late.ok);
      assert.equal(late.code, "TOKEN_EXPIRED");
      assert.equal(late.source, "token");
      assert.ok(late.offline);
    } finally {
      await cleanup();
    }
  });

  test("503 UPSTREAM_UNAVAILABLE and 429 fall back to the token, with Retry-After", async () => {
    const c = clock();
    let status = 503;
    const { fetch } = server(() => k1, c.now, {
      "POST /v1/licenses/validate": () =>
        status === 503
          ? json(503, { valid: false, code: "UPSTREAM_UNAVAILABLE", message: "later" }, { "retry-after": "5" })
          : json(429, { success: false, message: "slow down" }, { "retry-after": "30" }),
    });
    const gg = client(fetch, c.now);
    await gg.activate(KEY);
    const r = await gg.validate();
    assert.ok(r.ok && r.source === "token");
    assert.equal(r.retryAfterSecs, 5);
    assert.match(r.serverError ?? "", /503 UPSTREAM_UNAVAILABLE/);
    status = 429;
    const limited = await gg.validate();
    assert.ok(limited.ok && limited.source === "token");
    assert.equal(limited.retryAfterSecs, 30);
  });

  test("a denial by the server drops the token, so going offline cannot outlive it", async () => {
    const c = clock();
    let refunded = false;
    const { fetch } = server(() => k1, c.now, {
      "POST /v1/licenses/validate": async () =>
        refunded
          ? json(403, { valid: false, code: "REFUNDED", message: "This purchase was refunded." })
          : json(200, granted("valid", await signToken({ key: k1 }))),
    });
    const gg = client(fetch, c.now);
    await gg.activate(KEY);
    refunded = true;
    const r = await gg.validate();
    assert.ok(!r.ok);
    assert.equal(r.code, "REFUNDED");
    assert.equal(r.source, "server");
    assert.equal(r.status, 403);
    const off = await gg.checkOffline();
    assert.ok(!off.ok);
    assert.equal(off.code, "NO_TOKEN");
  });

  test("a code this client does not know is answered as is, never thrown", async () => {
    const c = clock();
    const { fetch } = server(() => k1, c.now, {
      "POST /v1/licenses/activate": () => json(403, { activated: false, code: "BRAND_NEW_REASON", message: "New." }),
    });
    const r = await client(fetch, c.now).activate(KEY);
    assert.ok(!r.ok);
    assert.equal(r.code, "BRAND_NEW_REASON");
    assert.equal(r.message, "New.");
  });

  test("a refused activation leaves a working one in place", async () => {
    const c = clock();
    let deny = false;
    const { fetch } = server(() => k1, c.now, {
      "POST /v1/licenses/activate": async () =>
        deny
          ? json(403, { activated: false, code: "NOT_FOUND", message: "That license does not exist." })
          : json(201, granted("activated", await signToken({ key: k1 }))),
    });
    const gg = client(fetch, c.now);
    await gg.activate(KEY);
    deny = true;
    const r = await gg.activate("00000000-00000000-00000000-00000000");
    assert.ok(!r.ok);
    assert.equal(r.code, "NOT_FOUND");
    assert.ok((await gg.checkOffline()).ok);
  });

  test("bad input and unexpected answers are typed results", async () => {
    const c = clock();
    const { fetch } = server(() => k1, c.now, {
      "POST /v1/licenses/activate": () => json(400, { success: false, message: "The 'license_key' parameter is required." }),
      "POST /v1/licenses/machines": () => new Response("<html>oops</html>", { status: 418 }),
    });
    const gg = client(fetch, c.now);
    const r = await gg.activate(" ");
    assert.ok(!r.ok);
    assert.equal(r.code, "INVALID_INPUT");
    const m = await gg.machines({ licenseKey: KEY });
    assert.ok(!m.ok);
    assert.equal(m.code, "SERVER_ERROR");
  });

  test("activate while unreachable is NETWORK_ERROR; a stalled server times out", async () => {
    const c = clock();
    const r = await client(unreachable, c.now).activate(KEY);
    assert.ok(!r.ok);
    assert.equal(r.code, "NETWORK_ERROR");
    assert.ok(r.offline);
    const stalled = (_: string, init: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        // A real request's socket keeps the event loop alive; the timeout's own timer does not.
        const socket = setTimeout(() => {}, 10_000);
        init.signal?.addEventListener("abort", () => {
          clearTimeout(socket);
          reject(init.signal?.reason);
        });
      });
    const t = await client(stalled, c.now, { timeoutMs: 50 }).activate(KEY);
    assert.ok(!t.ok);
    assert.equal(t.code, "NETWORK_ERROR");
    assert.match(t.serverError ?? "", /no answer within 50 ms/);
  });

  test("the license key never appears in a message", async () => {
    const c = clock();
    const { fetch } = server(() => k1, c.now, {
      "POST /v1/licenses/activate": () => json(403, { activated: false, code: "DISABLED", message: "disabled" }),
    });
    const results = [
      await client(fetch, c.now).activate(KEY),
      await client(unreachable, c.now).activate(KEY),
      await client(unreachable, c.now).machines({ licenseKey: KEY }),
    ];
    for (const r of results) {
      assert.ok(!r.ok);
      for (const text of [r.message, r.serverError, r.detail]) assert.ok(!String(text).includes(KEY));
    }
  });

  test("deactivate frees this machine's seat and forgets it; another machine's leaves the state", async () => {
    const c = clock();
    const { fetch, calls } = server(() => k1, c.now);
    const gg = client(fetch, c.now);
    await gg.activate(KEY);
    const other = await gg.deactivate("act_other");
    assert.ok(other.ok && !other.forgotten);
    assert.ok((await gg.checkOffline()).ok);
    const own = await gg.deactivate();
    assert.ok(own.ok && own.forgotten && own.activationId === "act_1");
    assert.deepEqual(calls.at(-1)?.body, { product_id: PRODUCT, license_key: KEY, activation_id: "act_1" });
    const off = await gg.checkOffline();
    assert.ok(!off.ok);
    assert.equal(off.code, "NO_TOKEN");
  });

  test("deactivate: TOO_MANY_DEACTIVATIONS carries Retry-After; NOT_FOUND of our own forgets it", async () => {
    const c = clock();
    let status = 429;
    const { fetch } = server(() => k1, c.now, {
      "POST /v1/licenses/deactivate": () =>
        status === 429
          ? json(429, { deactivated: false, code: "TOO_MANY_DEACTIVATIONS", message: "later" }, { "retry-after": "3600" })
          : json(404, { deactivated: false, code: "NOT_FOUND", message: "gone" }),
    });
    const gg = client(fetch, c.now);
    await gg.activate(KEY);
    const r = await gg.deactivate();
    assert.ok(!r.ok);
    assert.equal(r.code, "TOO_MANY_DEACTIVATIONS");
    assert.equal(r.retryAfterSecs, 3600);
    assert.ok((await gg.checkOffline()).ok);
    status = 404;
    const gone = await gg.deactivate();
    assert.ok(!gone.ok);
    assert.equal(gone.code, "NOT_FOUND");
    assert.equal((await gg.checkOffline()).code, "NO_TOKEN");
  });

  test("machines lists the seats; a machine with no seat can list them by key", async () => {
    const c = clock();
    const { fetch, calls } = server(() => k1, c.now, {
      "POST /v1/licenses/machines": (req) =>
        req.body?.license_key === KEY
          ? json(200, {
              machines: [
                { id: "act_1", name: "laptop", platform: "linux", created_at: "2030-01-01T00:00:00Z", last_seen_at: "2030-01-02T00:00:00Z" },
              ],
              license: { product_id: PRODUCT, seats: 3, seats_used: 1 },
              max_deactivations_per_day: 5,
            })
          : json(403, { code: "NOT_FOUND", message: "That license does not exist for this product." }),
    });
    const gg = client(fetch, c.now);
    const r = await gg.machines({ licenseKey: KEY });
    assert.ok(r.ok);
    assert.equal(r.machines[0]?.lastSeenAt, "2030-01-02T00:00:00Z");
    assert.equal(r.license.seatsUsed, 1);
    assert.equal(r.maxDeactivationsPerDay, 5);
    assert.deepEqual(calls[0]?.body, { product_id: PRODUCT, license_key: KEY });
    const unknown = await gg.machines({ licenseKey: "00000000-00000000-00000000-00000000" });
    assert.ok(!unknown.ok);
    assert.equal(unknown.code, "NOT_FOUND");
  });

  test("CLOCK_SET_BACK: a clock moved behind the persisted latest time is refused offline", async () => {
    const c = clock();
    const { fetch } = server(() => k1, c.now);
    const { dir, cleanup } = await tempDir();
    try {
      const statePath = join(dir, "state.json");
      await client(fetch, c.now, { statePath }).activate(KEY);
      c.advance(3 * 86_400);
      assert.ok((await client(unreachable, c.now, { statePath }).checkOffline()).ok);
      const seen = JSON.parse(await readFile(statePath, "utf8")) as { lastSeenAt: number };
      assert.equal(seen.lastSeenAt, NOW + 3 * 86_400);
      // The user sets the clock back two days, into the token's lifetime: refused.
      c.advance(-2 * 86_400);
      const r = await client(unreachable, c.now, { statePath }).checkOffline();
      assert.ok(!r.ok);
      assert.equal(r.code, "CLOCK_SET_BACK");
    } finally {
      await cleanup();
    }
  });

  test("a token found expired cannot be revived by setting the clock back into its life", async () => {
    const c = clock();
    const { fetch } = server(() => k1, c.now);
    const { dir, cleanup } = await tempDir();
    try {
      const statePath = join(dir, "state.json");
      await client(fetch, c.now, { statePath }).activate(KEY);
      c.advance(30 * 86_400);
      const expired = await client(unreachable, c.now, { statePath }).checkOffline();
      assert.equal(expired.code, "TOKEN_EXPIRED");
      c.advance(-30 * 86_400 + 3600);
      const revived = await client(unreachable, c.now, { statePath }).checkOffline();
      assert.equal(revived.code, "CLOCK_SET_BACK");
    } finally {
      await cleanup();
    }
  });

  test("a clock that ran ahead and was corrected is forgiven by the next online check", async () => {
    const truth = clock(); // the server's clock
    const local = clock(); // this machine's
    const { fetch } = server(() => k1, truth.now);
    const gg = client(fetch, local.now);
    await gg.activate(KEY);
    local.advance(30 * 86_400); // wrongly a month ahead: the server still grants
    assert.ok((await gg.validate()).ok);
    // Corrected: the month ahead it saw now looks like a clock set back.
    local.set(NOW + 3600);
    truth.set(NOW + 3600);
    assert.equal((await gg.checkOffline()).code, "CLOCK_SET_BACK");
    // Online again, the server's signed time replaces it.
    assert.ok((await gg.validate()).ok);
    assert.ok((await gg.checkOffline()).ok);
  });

  test("without a pinned JWKS, it is fetched once, cached in the state, and refetched after a rotation", async () => {
    const c = clock();
    let current = () => k1;
    const { fetch, calls } = server(() => current(), c.now, {
      "GET /.well-known/jwks.json": () => json(200, current() === k1 ? jwksOf(k1) : jwksOf(k1, k2)),
    });
    const { dir, cleanup } = await tempDir();
    try {
      const statePath = join(dir, "state.json");
      const gg = client(fetch, c.now, { statePath, jwks: undefined });
      await gg.activate(KEY);
      await gg.validate();
      assert.equal(calls.filter((x) => x.path === "/.well-known/jwks.json").length, 1);
      assert.ok((await client(unreachable, c.now, { statePath, jwks: undefined }).checkOffline()).ok);
      // The server rotates to key-2: the next token names a kid the cache lacks.
      current = () => k2;
      await gg.validate();
      assert.equal(calls.filter((x) => x.path === "/.well-known/jwks.json").length, 2);
      const state = JSON.parse(await readFile(statePath, "utf8")) as { jwks: Jwks };
      assert.deepEqual(state.jwks.keys.map((k) => k.kid), ["key-1", "key-2"]);
      assert.ok((await client(unreachable, c.now, { statePath, jwks: undefined }).checkOffline()).ok);
    } finally {
      await cleanup();
    }
  });

  test("a pinned JWKS is never replaced by what the server publishes", async () => {
    const c = clock();
    const { fetch, calls } = server(() => k2, c.now); // the "server" signs with a key not pinned
    const gg = client(fetch, c.now);
    await gg.activate(KEY);
    assert.equal(calls.filter((x) => x.path === "/.well-known/jwks.json").length, 0);
    const off = await gg.checkOffline();
    assert.ok(!off.ok);
    assert.equal(off.code, "TOKEN_INVALID");
  });

  test("the state of another machine is refused offline (WRONG_MACHINE)", async () => {
    const c = clock();
    const { fetch } = server(() => k1, c.now);
    const { dir, cleanup } = await tempDir();
    try {
      const statePath = join(dir, "state.json");
      await client(fetch, c.now, { statePath }).activate(KEY);
      const copied = client(unreachable, c.now, { statePath, fingerprint: "another-machine" });
      const r = await copied.checkOffline();
      assert.ok(!r.ok);
      assert.equal(r.code, "WRONG_MACHINE");
    } finally {
      await cleanup();
    }
  });

  test("activate() with no key takes a seat again with the stored key", async () => {
    const c = clock();
    const { fetch, calls } = server(() => k1, c.now);
    const gg = client(fetch, c.now);
    assert.equal((await gg.activate()).code, "NOT_ACTIVATED");
    await gg.activate(KEY);
    const again = await gg.activate();
    assert.ok(again.ok);
    assert.equal(calls.at(-1)?.body?.license_key, KEY);
  });

  test("options are checked at construction", () => {
    assert.throws(() => new GumgateClient({ baseUrl: "not a url", productId: PRODUCT }), TypeError);
    assert.throws(() => new GumgateClient({ baseUrl: "http://x", productId: "" }), TypeError);
    assert.throws(() => new GumgateClient({ baseUrl: "http://x", productId: PRODUCT, jwks: { keys: [] } }), TypeError);
    assert.throws(
      () => new GumgateClient({ baseUrl: "http://x", productId: PRODUCT, statePath: "a", stateStore: { load: async () => null, save: async () => {} } }),
      TypeError,
    );
  });

  test("startHeartbeats beats at once, then stops cleanly", async () => {
    const c = clock();
    const { fetch, calls } = server(() => k1, c.now);
    const gg = client(fetch, c.now);
    let resolve!: (r: LicenseResult) => void;
    const promise = new Promise<LicenseResult>((r) => (resolve = r));
    await gg.activate(KEY);
    // The activation said next_at = 01:00; the clock is far past it, so the first beat is now.
    c.advance(2 * 3600);
    // The heartbeat timers never hold the event loop: this stands for the app's own work.
    const app = setTimeout(() => {}, 10_000);
    const stop = gg.startHeartbeats({ onResult: resolve });
    const r = await promise;
    stop();
    clearTimeout(app);
    assert.ok(r.ok && r.source === "server");
    assert.equal(calls.at(-1)?.path, "/v1/licenses/heartbeat");
  });
});

describe("openapi-uses.json", () => {
  test("lists every operation the client calls and every parameter it sends", async () => {
    type Uses = { client: string; operations: { method: string; path: string; params: string[] }[] };
    const uses = JSON.parse(
      await readFile(new URL("../../openapi-uses.json", import.meta.url), "utf8"),
    ) as Uses;
    assert.equal(uses.client, "typescript");
    const c = clock();
    const { fetch, calls } = server(() => k1, c.now, {
      "POST /v1/licenses/machines": () =>
        json(200, { machines: [], license: { product_id: PRODUCT, seats: 3, seats_used: 0 }, max_deactivations_per_day: 3 }),
    });
    // Every method, with every optional parameter, and no pinned JWKS so that it is fetched.
    const gg = client(fetch, c.now, { jwks: undefined });
    await gg.activate(KEY, { name: "n", platform: "p" });
    await gg.validate();
    await gg.heartbeat();
    await gg.machines();
    await gg.deactivate();
    const called = new Set(calls.map((x) => `${x.method} ${x.path}`));
    assert.equal(called.size, 6);
    for (const call of calls) {
      const op = uses.operations.find((o) => o.method === call.method.toLowerCase() && o.path === call.path);
      assert.ok(op, `${call.method} ${call.path} is not listed`);
      for (const param of Object.keys(call.body ?? {})) {
        assert.ok(op.params.includes(param), `${call.path}: parameter ${param} is not listed`);
      }
    }
    assert.equal(uses.operations.length, called.size, "an operation is listed that the client never calls");
  });
});
