//! Cache keys: a keyed BLAKE3 hash of what identifies an answer, so no raw license key (or
//! email, or query) is ever a map key, a log field or recoverable from a memory dump of keys.
//! 128 bits are kept: for a million entries the chance of any collision is about 10^-27.

use gumroad_wire::licenses::normalize_license_key;

/// Hashes key material with a per-process secret.
#[derive(Clone)]
pub struct Keyer {
    secret: [u8; 32],
}

impl Keyer {
    /// A keyer with a fresh random secret: keys agree within this process only.
    pub fn random() -> Self {
        Self {
            secret: rand::random(),
        }
    }

    /// A keyer whose keys every process given the same `secret` derives alike (cluster mode's
    /// `GUMGATE_CACHE_KEY_SECRET`): the hash key is derived from it, never the secret itself.
    pub fn from_secret(secret: &str) -> Self {
        Self {
            secret: blake3::derive_key("gumgate 2026 cache keys", secret.as_bytes()),
        }
    }

    /// The key of a verify answer: the Maton connection, the product id and the license key as
    /// Gumgate normalises it (`normalize_license_key`: ASCII blanks trimmed, ASCII case folded),
    /// which is also the key the verify sends upstream.
    pub fn verify(&self, connection: &str, product_id: &str, license_key: &str) -> u128 {
        self.hash(&[
            b"verify",
            connection.as_bytes(),
            product_id.trim().as_bytes(),
            normalize_license_key(license_key).as_bytes(),
        ])
    }

    /// The key of any other answer: a namespace and its parts.
    pub fn hash(&self, parts: &[&[u8]]) -> u128 {
        let mut h = blake3::Hasher::new_keyed(&self.secret);
        for part in parts {
            // Length-prefixed, so ("ab","c") and ("a","bc") never collide.
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let out = h.finalize();
        u128::from_le_bytes(out.as_bytes()[..16].try_into().expect("16 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_as_gumroad_matches_licenses() {
        let k = Keyer::random();
        let a = k.verify("", "p1", "abcd-ef");
        assert_eq!(a, k.verify("", "p1", "  ABCD-EF\n"));
        assert_ne!(a, k.verify("", "p2", "abcd-ef"));
        assert_ne!(a, k.verify("conn", "p1", "abcd-ef"));
        assert_ne!(k.hash(&[b"ab", b"c"]), k.hash(&[b"a", b"bc"]));
        // Another process (another secret) derives other keys; one with the same configured
        // secret, the same.
        assert_ne!(a, Keyer::random().verify("", "p1", "abcd-ef"));
        let shared = "a-cache-key-secret-of-at-least-32-characters";
        assert_eq!(
            Keyer::from_secret(shared).verify("", "p1", "abcd-ef"),
            Keyer::from_secret(shared).verify("", "p1", "ABCD-EF")
        );
        assert_ne!(
            Keyer::from_secret(shared).verify("", "p1", "abcd-ef"),
            Keyer::from_secret("another-secret-of-at-least-32-characters")
                .verify("", "p1", "abcd-ef")
        );
    }
}
