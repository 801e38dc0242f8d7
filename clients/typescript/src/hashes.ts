/**
 * The hashes the server puts in a token's `lic` and `fp` claims. The app computes the same values
 * from its own license key and fingerprint, so that a token copied from another license or
 * another machine is refused offline. Must stay byte-for-byte equal to the server's
 * `src/hashes.rs`.
 */

import { createHash } from "node:crypto";

/** Lowercase hex SHA-256 of the UTF-8 bytes of `text`. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * What Ruby's `String#strip` removes, the server's rule for every required parameter: NUL, tab,
 * LF, VT, FF, CR and the space, and nothing else (a Unicode space is kept).
 */
const RUBY_STRIP = /^[\0\t\n\v\f\r ]+|[\0\t\n\v\f\r ]+$/g;

/**
 * A license key as the server compares it: trimmed of ASCII blanks and NUL, ASCII letters
 * upper-cased (Gumroad matches keys case-insensitively). Only ASCII letters change case, as in
 * Rust's `to_ascii_uppercase`: `toUpperCase()` would also change letters like `ß`.
 */
export function normalizeLicenseKey(key: string): string {
  return key.replace(RUBY_STRIP, "").replace(/[a-z]+/g, (s) => s.toUpperCase());
}

/** The token's `lic` claim for `licenseKey`. */
export function licenseHash(licenseKey: string): string {
  return sha256Hex(`gumgate:license:${normalizeLicenseKey(licenseKey)}`);
}

/** The token's `fp` claim for `fingerprint`, hashed exactly as sent (no trimming). */
export function fingerprintHash(fingerprint: string): string {
  return sha256Hex(`gumgate:fingerprint:${fingerprint}`);
}
