import assert from "node:assert/strict";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { FileStateStore, MemoryStateStore, type State } from "../src/index.js";
import { tempDir } from "./helpers.js";

function sample(over: Partial<State> = {}): State {
  return {
    version: 1,
    productId: "p",
    licenseKey: "KEY-1",
    activationId: "act_1",
    fingerprint: "fp",
    token: "a.b.c",
    tokenExpiresAt: "2030-01-08T00:00:00Z",
    jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: "abc", kid: "k", alg: "EdDSA", use: "sig" }] },
    lastSeenAt: 1_893_456_000,
    ...over,
  };
}

test("file state: a round trip, mode 0600, in a directory it creates", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, "nested", "app", "license.json");
    const store = new FileStateStore(path);
    assert.equal(await store.load(), null);
    await store.save(sample());
    assert.deepEqual(await store.load(), sample());
    if (process.platform !== "win32") {
      assert.equal((await stat(path)).mode & 0o777, 0o600);
    }
  } finally {
    await cleanup();
  }
});

test("file state: a save replaces the file by rename and leaves no temporary file", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, "license.json");
    const store = new FileStateStore(path);
    await store.save(sample());
    const first = await stat(path);
    await store.save(sample({ token: "d.e.f" }));
    const second = await stat(path);
    // A new inode: the old file was never rewritten in place, so a reader (or a crash) sees
    // either the whole old state or the whole new one.
    assert.notEqual(second.ino, first.ino);
    assert.equal((await store.load())?.token, "d.e.f");
    assert.deepEqual(await readdir(dir), ["license.json"]);
    if (process.platform !== "win32") assert.equal(second.mode & 0o777, 0o600);
  } finally {
    await cleanup();
  }
});

test("file state: a failed save keeps the old state and cleans up", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // A directory where the file should be: the rename fails after the temp file was written.
    const path = join(dir, "license.json");
    await mkdir(path);
    await assert.rejects(new FileStateStore(path).save(sample()));
    assert.deepEqual(await readdir(dir), ["license.json"]);
  } finally {
    await cleanup();
  }
});

test("file state: an unparsable or foreign file counts as no state; fields of the wrong type are dropped", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, "license.json");
    const store = new FileStateStore(path);
    await writeFile(path, "{ truncated");
    assert.equal(await store.load(), null);
    await writeFile(path, JSON.stringify({ hello: "world" }));
    assert.equal(await store.load(), null);
    await writeFile(path, JSON.stringify({ ...sample(), token: 42, jwks: { keys: [{ kty: "RSA" }] } }));
    const loaded = await store.load();
    assert.equal(loaded?.token, null);
    assert.equal(loaded?.jwks, null);
    assert.equal(loaded?.licenseKey, "KEY-1");
  } finally {
    await cleanup();
  }
});

test("file state: the JSON on disk is what the app expects to find", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const path = join(dir, "license.json");
    await new FileStateStore(path).save(sample());
    const onDisk = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    assert.deepEqual(Object.keys(onDisk).sort(), [
      "activationId",
      "fingerprint",
      "jwks",
      "lastSeenAt",
      "licenseKey",
      "productId",
      "token",
      "tokenExpiresAt",
      "version",
    ]);
  } finally {
    await cleanup();
  }
});

test("memory state: copies in and out", async () => {
  const store = new MemoryStateStore();
  assert.equal(await store.load(), null);
  const s = sample();
  await store.save(s);
  s.token = "changed";
  assert.equal((await store.load())?.token, "a.b.c");
});
