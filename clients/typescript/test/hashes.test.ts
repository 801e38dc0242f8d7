import assert from "node:assert/strict";
import { test } from "node:test";
import { fingerprintHash, licenseHash, normalizeLicenseKey } from "../src/index.js";

test("fingerprint hashes match the server's fixed vector", () => {
  // src/hashes.rs: fingerprint_hash("abc").
  assert.equal(fingerprintHash("abc"), "f29653553092b979e7ca247f1b6f58abeed9dfaa491e529684ea2838d3ed51dd");
  // Hashed exactly as sent: case and blanks count.
  assert.notEqual(fingerprintHash("Machine"), fingerprintHash("machine"));
  assert.notEqual(fingerprintHash(" abc"), fingerprintHash("abc"));
});

test("license keys are trimmed of ASCII blanks and NUL and upper-cased in ASCII only", () => {
  assert.equal(normalizeLicenseKey(" \tabcd-ef\r\n\0\v\f"), "ABCD-EF");
  assert.equal(licenseHash(" abcd-ef "), licenseHash("ABCD-EF"));
  // A Unicode space is part of the key (Ruby's strip keeps it), and only ASCII letters change.
  assert.equal(normalizeLicenseKey("\u3000key\u3000"), "\u3000KEY\u3000");
  assert.equal(normalizeLicenseKey("straße"), "STRAßE");
  assert.equal(normalizeLicenseKey("a b"), "A B");
  assert.match(licenseHash("5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0"), /^[0-9a-f]{64}$/);
});
