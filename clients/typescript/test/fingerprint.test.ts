import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { fingerprintOf, LINUX_MACHINE_ID_PATHS, machineFingerprint, readMachineId } from "../src/index.js";
import { tempDir } from "./helpers.js";

const PRODUCT = "9Y2u8Dy4AWioyNrmNROrFA==";
const RAW = "0123456789abcdef0123456789abcdef";
// The vector the Rust client checks too: one machine, one seat, whichever client.
const EXPECTED = "b9d9b733fddac27d126e4e6cd533431b1d8263ec1c214ffc2f1a34755e7ea9fe";

test("the machine fingerprint matches the shared test vector", async () => {
  assert.equal(await machineFingerprint(PRODUCT, RAW), EXPECTED);
  assert.equal(fingerprintOf(PRODUCT, RAW), EXPECTED);
});

test("the raw machine id is trimmed and lower-cased before hashing", async () => {
  assert.equal(await machineFingerprint(PRODUCT, ` ${RAW.toUpperCase()}\n`), EXPECTED);
  // Salted by product: another product sees another fingerprint for the same machine.
  assert.notEqual(await machineFingerprint("another-product", RAW), EXPECTED);
  await assert.rejects(machineFingerprint(PRODUCT, " \n"), /machine id is empty/);
});

test("Linux: the first readable non-empty machine-id file wins", async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const missing = join(dir, "missing");
    const empty = join(dir, "empty");
    const good = join(dir, "machine-id");
    const later = join(dir, "later");
    await writeFile(empty, "\n");
    await writeFile(good, `${RAW}\n`);
    await writeFile(later, "ffffffffffffffffffffffffffffffff\n");
    const raw = await readMachineId({ platform: "linux", linuxPaths: [missing, empty, good, later] });
    assert.equal(fingerprintOf(PRODUCT, raw), EXPECTED);
    await assert.rejects(readMachineId({ platform: "linux", linuxPaths: [missing, empty] }), /no machine id/);
  } finally {
    await cleanup();
  }
});

test("Linux: this machine's own id is read from /etc/machine-id or D-Bus's copy", async (t) => {
  if (process.platform !== "linux") return t.skip("not Linux");
  let expected: string | null = null;
  for (const path of LINUX_MACHINE_ID_PATHS) {
    const text = await readFile(path, "utf8").catch(() => "");
    if (text.trim() !== "") {
      expected = text;
      break;
    }
  }
  if (expected === null) return t.skip("this machine has no machine id");
  assert.equal(await readMachineId(), expected);
  assert.equal(await machineFingerprint(PRODUCT), fingerprintOf(PRODUCT, expected));
});

test("a platform with no known machine id is refused with a hint", async () => {
  await assert.rejects(readMachineId({ platform: "aix" }), /pass a fingerprint/);
});
