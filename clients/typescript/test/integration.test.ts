/**
 * Against a live `gumgate serve --sandbox` (scripts/test.sh starts one and sets GUMGATE_TEST_URL),
 * configured with 1000 seats, heartbeats every hour with a 10-minute grace, and the Premium
 * variant of product 9Y2u8Dy4AWioyNrmNROrFA== granting the features "pro" and "export".
 *
 * Other tests share that server: each test uses random fingerprints of its own and deactivates
 * what it activates (so the server must allow more than the default 3 deactivations of a license
 * a day: these tests make four of the valid license, the Rust client's three more).
 */

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { GumgateClient, type GumgateClientOptions } from "../src/index.js";
import { tempDir } from "./helpers.js";

const URL_ = process.env.GUMGATE_TEST_URL;
// In CI the suite must run, never be skipped: scripts/test.sh always sets the URL.
if (!URL_ && process.env.CI) {
  throw new Error("GUMGATE_TEST_URL is unset in CI: run bash scripts/test.sh, which starts the server");
}
const PRODUCT = "9Y2u8Dy4AWioyNrmNROrFA==";
const VALID = "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0";
const REFUNDED = "7C3E2F50-AD4F6083-B19C5E27-F604D3C2";
const UNKNOWN = "00000000-00000000-00000000-00000000";
const MEMBERSHIP = "tTBhZDvqNUc4W3rSX0i8Zw==";
const MEMBERSHIP_KEY = "F4B6A7D8-25C7E80B-3914D6AF-7E8CFB4A";

/** Activations still to free when the tests end, whatever failed: [product, key, id]. */
const leftovers: [string, string, string][] = [];

function newClient(over: Partial<GumgateClientOptions> = {}): GumgateClient {
  return new GumgateClient({
    baseUrl: URL_ ?? "http://127.0.0.1:1",
    productId: PRODUCT,
    fingerprint: randomBytes(32).toString("hex"),
    ...over,
  });
}

/** Activates and remembers the activation for cleanup; fails the test unless granted. */
async function activate(c: GumgateClient, key: string) {
  const r = await c.activate(key, { name: "integration test" });
  assert.ok(r.ok && r.source === "server", `activation refused: ${r.code} ${r.message}`);
  leftovers.push([c.productId, key, r.activation.id]);
  return r;
}

/** Frees this machine's seat; a refusal fails the test with what to fix. */
async function deactivate(c: GumgateClient) {
  const r = await c.deactivate();
  if (!r.ok && r.code === "TOO_MANY_DEACTIVATIONS") {
    assert.fail("TOO_MANY_DEACTIVATIONS: the test server needs a high policy.max_deactivations_per_day");
  }
  assert.ok(r.ok, `deactivate: ${r.ok || r.code}`);
  const i = leftovers.findIndex(([, , id]) => id === r.activationId);
  if (i >= 0) leftovers.splice(i, 1);
  return r;
}

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("integration with a live server", { skip: URL_ ? false : "set GUMGATE_TEST_URL: run bash scripts/test.sh" }, () => {
  after(async () => {
    for (const [productId, key, id] of leftovers) {
      await newClient({ productId }).deactivate(id, { licenseKey: key });
    }
  });

  test("activate, check offline, heartbeat, list machines, deactivate; then validate is denied", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const statePath = join(dir, "state.json");
      const c = newClient({ statePath });
      const activated = await activate(c, VALID);
      assert.equal(activated.status, 201);
      assert.ok(activated.token, "a token is issued");

      const offline = await c.checkOffline();
      assert.ok(offline.ok, `offline check: ${offline.code}`);
      assert.equal(offline.activationId, activated.activation.id);

      await sleep(1100); // a token signed in another second, so a renewed one differs
      const beat = await c.heartbeat();
      assert.ok(beat.ok && beat.source === "server", `heartbeat: ${beat.code}`);
      assert.ok(beat.token && beat.token !== activated.token, "the heartbeat renews the token");
      assert.ok(beat.heartbeat, "heartbeats are on");
      assert.ok(Date.parse(beat.heartbeat.nextAt) > Date.now(), "next_at is in the future");
      assert.equal(beat.heartbeat.intervalSecs, 3600);

      const listed = await c.machines();
      assert.ok(listed.ok, `machines: ${listed.ok || listed.code}`);
      const mine = listed.machines.find((m) => m.id === activated.activation.id);
      assert.ok(mine, "this machine is listed");
      assert.equal(mine.name, "integration test");
      assert.ok(mine.lastSeenAt && !Number.isNaN(Date.parse(mine.lastSeenAt)), "with last_seen_at");

      // A copy of the state, to ask the server about the activation once it is gone.
      const copy = join(dir, "copy.json");
      await copyFile(statePath, copy);
      const gone = await deactivate(c);
      assert.ok(gone.ok && gone.forgotten);
      assert.equal((await c.validate()).code, "NOT_ACTIVATED");

      const stale = newClient({ statePath: copy, fingerprint: await c.fingerprint() });
      const denied = await stale.validate();
      assert.ok(!denied.ok);
      assert.equal(denied.source, "server");
      assert.equal(denied.code, "NOT_FOUND");
    } finally {
      await cleanup();
    }
  });

  test("activating twice with one fingerprint takes one seat", async () => {
    const c = newClient();
    const first = await activate(c, VALID);
    const second = await c.activate(VALID);
    assert.ok(second.ok && second.source === "server");
    assert.equal(first.status, 201);
    assert.equal(second.status, 200);
    assert.equal(second.activation.id, first.activation.id);
    await deactivate(c);
  });

  test("a refunded license is refused with REFUNDED", async () => {
    const r = await newClient().activate(REFUNDED);
    assert.ok(!r.ok);
    assert.equal(r.code, "REFUNDED");
    assert.equal(r.source, "server");
    assert.equal(r.status, 403);
  });

  test("an unknown license: activate and machines answer NOT_FOUND", async () => {
    const c = newClient();
    const r = await c.activate(UNKNOWN);
    assert.ok(!r.ok);
    assert.equal(r.code, "NOT_FOUND");
    const m = await c.machines({ licenseKey: UNKNOWN });
    assert.ok(!m.ok);
    assert.equal(m.code, "NOT_FOUND");
    assert.equal(m.status, 403);
  });

  test("with the server unreachable, validate answers offline from the stored token", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const statePath = join(dir, "state.json");
      const c = newClient({ statePath });
      await activate(c, VALID);
      const cut = newClient({
        statePath,
        fingerprint: await c.fingerprint(),
        baseUrl: `http://127.0.0.1:${await closedPort()}`,
        timeoutMs: 2000,
      });
      const r = await cut.validate();
      assert.ok(r.ok, `offline validate: ${r.code}`);
      assert.equal(r.source, "token");
      assert.ok(r.offline);
      assert.ok(r.serverError);
      await deactivate(c);
    } finally {
      await cleanup();
    }
  });

  test("entitlements: the Premium variant's features, and a membership's recurrence", async () => {
    const c = newClient();
    const r = await activate(c, VALID);
    assert.deepEqual(r.entitlements, {
      variants: ["Premium"],
      recurrence: null,
      subscriptionEndsAt: null,
      features: ["pro", "export"],
    });
    // The token carries them too, for the app offline.
    const offline = await c.checkOffline();
    assert.ok(offline.ok, `offline check: ${offline.code}`);
    assert.deepEqual(offline.entitlements, r.entitlements);
    await deactivate(c);

    const m = newClient({ productId: MEMBERSHIP });
    const member = await activate(m, MEMBERSHIP_KEY);
    assert.equal(member.entitlements.recurrence, "monthly");
    await deactivate(m);
  });
});
