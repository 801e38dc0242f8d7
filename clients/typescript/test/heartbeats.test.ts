/** The heartbeat loop, with a fake clock and fake timers: when it beats, and when it stops. */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import {
  IDLE_INTERVAL_MS,
  MIN_DELAY_MS,
  RETRY_BASE_MS,
  RETRY_MAX_MS,
  scheduleHeartbeats,
} from "../src/heartbeats.js";
import type { Denial, LicenseResult, OfflineGrant, OnlineGrant } from "../src/index.js";

const T0 = Date.UTC(2030, 0, 1);

/** Timers that fire only when the test says, on a clock it moves. */
function fakeTimers() {
  let now = T0;
  let pending: { at: number; run: () => void; id: number } | null = null;
  let ids = 0;
  const delays: number[] = [];
  return {
    now: () => now,
    delays,
    setTimer: (run: () => void, ms: number) => {
      assert.equal(pending, null, "a second timer while one is pending: beats would overlap");
      delays.push(ms);
      pending = { at: now + ms, run, id: ++ids };
      return ids;
    },
    clearTimer: (id: unknown) => {
      if (pending?.id === id) pending = null;
    },
    get pending() {
      return pending;
    },
    /** Moves the clock to the pending timer and runs it, then lets the beat settle. */
    async fire() {
      const p = pending;
      assert.ok(p, "no timer pending");
      pending = null;
      now = p.at;
      p.run();
      await settle();
    },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

function online(nextAt: string | null): OnlineGrant {
  return {
    ok: true,
    code: "VALID",
    source: "server",
    message: "",
    status: 200,
    offline: false,
    offlineUntil: null,
    activation: { id: "a", name: null, platform: null, createdAt: null, lastSeenAt: null },
    license: { productId: "p", seats: 1, seatsUsed: 1 },
    entitlements: { variants: [], recurrence: null, subscriptionEndsAt: null, features: [] },
    heartbeat: nextAt ? { intervalSecs: 3600, nextAt, deadline: nextAt } : null,
    token: null,
    tokenExpiresAt: null,
  };
}

function fromToken(retryAfterSecs: number | null = null): OfflineGrant {
  return { ...({} as OfflineGrant), ok: true, code: "VALID", source: "token", offline: true, retryAfterSecs, serverError: "down" };
}

function denial(code: string, source: Denial["source"] = "server"): Denial {
  return { ok: false, code, message: "", source, offline: false, status: 403, retryAfterSecs: null, serverError: null, detail: null };
}

test("beats at once, then at each answer's next_at", async () => {
  const t = fakeTimers();
  const results: LicenseResult[] = [];
  let n = 0;
  scheduleHeartbeats(
    {
      beat: async () => online(new Date(T0 + ++n * 3_600_000).toISOString()),
      now: t.now,
      setTimer: t.setTimer,
      clearTimer: t.clearTimer,
    },
    { onResult: (r) => results.push(r) },
  );
  assert.deepEqual(t.delays, [0]);
  await t.fire(); // at T0: answers next_at = T0 + 1h
  assert.equal(t.pending?.at, T0 + 3_600_000);
  await t.fire(); // at T0 + 1h: answers T0 + 2h
  assert.equal(t.pending?.at, T0 + 2 * 3_600_000);
  assert.equal(results.length, 2);
});

test("the first beat waits for the time already known; then beats an interval on, whatever next_at says", async () => {
  const t = fakeTimers();
  scheduleHeartbeats({
    beat: async () => online(new Date(T0 - 60_000).toISOString()),
    now: t.now,
    firstAt: T0 + 600_000,
    setTimer: t.setTimer,
    clearTimer: t.clearTimer,
  });
  assert.deepEqual(t.delays, [600_000]);
  await t.fire();
  // next_at lies in this clock's past (the clocks differ): the interval decides, not a burst.
  assert.equal(t.delays.at(-1), 3_600_000);
});

test("failures back off, doubling within bounds, honouring Retry-After; success resets", async () => {
  const t = fakeTimers();
  let answer: LicenseResult = fromToken();
  scheduleHeartbeats({
    beat: async () => answer,
    now: t.now,
    setTimer: t.setTimer,
    clearTimer: t.clearTimer,
    random: () => 0.999999, // the top of the jitter range
  });
  for (let i = 0; i < 10; i++) await t.fire();
  const retries = t.delays.slice(1).map(Math.round);
  assert.deepEqual(retries.slice(0, 4), [5_000, 10_000, 20_000, 40_000]);
  assert.ok(retries.every((d) => d <= RETRY_MAX_MS));
  assert.equal(retries.at(-1), RETRY_MAX_MS);

  answer = fromToken(900); // the server asked for 15 minutes
  await t.fire();
  assert.equal(t.delays.at(-1), 900_000);

  answer = online(null); // back, and the product has no heartbeats
  await t.fire();
  assert.equal(t.delays.at(-1), IDLE_INTERVAL_MS);
  answer = fromToken();
  await t.fire();
  assert.ok((t.delays.at(-1) ?? 0) <= RETRY_BASE_MS, "the backoff starts over after a success");
});

test("jitter keeps retries within the upper half of the backoff", async () => {
  const t = fakeTimers();
  scheduleHeartbeats({
    beat: async () => fromToken(),
    now: t.now,
    setTimer: t.setTimer,
    clearTimer: t.clearTimer,
    random: () => 0,
  });
  await t.fire();
  assert.equal(t.delays.at(-1), RETRY_BASE_MS / 2);
});

test("beats never overlap, and stop() during a beat schedules nothing more", async () => {
  const t = fakeTimers();
  let release!: () => void;
  let calls = 0;
  const results: LicenseResult[] = [];
  const stop = scheduleHeartbeats(
    {
      beat: () => {
        calls++;
        return new Promise<LicenseResult>((r) => (release = () => r(online(null))));
      },
      now: t.now,
      setTimer: t.setTimer,
      clearTimer: t.clearTimer,
    },
    { onResult: (r) => results.push(r) },
  );
  await t.fire();
  assert.equal(calls, 1);
  assert.equal(t.pending, null, "no timer while a beat is in flight");
  stop();
  release();
  await settle();
  assert.equal(t.pending, null);
  assert.equal(results.length, 0, "nothing is reported after stop()");
});

test("stops on the server's verdict; goes on after errors, reported to onError", async () => {
  const t = fakeTimers();
  const answers: (LicenseResult | Error)[] = [new Error("disk full"), denial("RATE_LIMITED"), denial("NO_TOKEN", "token"), denial("HEARTBEAT_MISSED")];
  const errors: unknown[] = [];
  const results: LicenseResult[] = [];
  scheduleHeartbeats(
    {
      beat: async () => {
        const a = answers.shift();
        if (a instanceof Error) throw a;
        return a ?? online(null);
      },
      now: t.now,
      setTimer: t.setTimer,
      clearTimer: t.clearTimer,
    },
    {
      onResult: (r) => {
        results.push(r);
        if (r.code === "RATE_LIMITED") throw new Error("bug in the app's callback");
      },
      onError: (e) => errors.push(e),
    },
  );
  await t.fire(); // throws: retried
  await t.fire(); // rate limited (and onResult throws): retried
  await t.fire(); // no token while unreachable: retried
  await t.fire(); // HEARTBEAT_MISSED: stops
  assert.deepEqual(results.map((r) => r.code), ["RATE_LIMITED", "NO_TOKEN", "HEARTBEAT_MISSED"]);
  assert.deepEqual(errors.map((e) => (e as Error).message), ["disk full", "bug in the app's callback"]);
  assert.equal(t.pending, null);
});

test("a client with heartbeats running does not keep a Node process alive", async () => {
  // A child process starts heartbeats and keeps itself alive only until the first answer (due
  // next in an hour): it must then exit at once rather than wait for the next beat.
  const index = fileURLToPath(new URL("../src/index.js", import.meta.url));
  const script = `
    const { GumgateClient } = await import(${JSON.stringify(index)});
    const answer = { alive: true, code: "VALID", message: "", activation: { id: "a" },
      heartbeat: { interval_secs: 3600, next_at: new Date(Date.now() + 3600e3).toISOString(), deadline: "" } };
    const fetch = async () => new Response(JSON.stringify(answer), { status: 200 });
    const c = new GumgateClient({ baseUrl: "http://x", productId: "p", fingerprint: "f", fetch,
      stateStore: { load: async () => ({ version: 1, productId: "p", licenseKey: "k", activationId: "a",
        fingerprint: "f", token: null, tokenExpiresAt: null, jwks: null, lastSeenAt: null }), save: async () => {} } });
    const alive = setTimeout(() => {}, 30_000);
    c.startHeartbeats({ onResult: (r) => { console.log("beat", r.ok); clearTimeout(alive); } });
  `;
  const started = Date.now();
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  assert.equal(code, 0);
  assert.match(out, /beat true/);
  assert.ok(Date.now() - started < 20_000, "the process exited without waiting for the next beat");
});
