//! The machine fingerprint: stable across reboots, the same from every client library on one
//! machine (so an Electron app and a Rust tool hold one seat, not two), and hashed before it
//! leaves the machine, per product (two sellers' apps cannot correlate a machine by it).
//!
//! `fingerprint = hex(SHA-256("gumgate:machine:v1:" + product_id + ":" + machine_id))`, where
//! `machine_id` is the OS's machine id trimmed and lower-cased:
//! - Linux: the first non-empty of `/etc/machine-id`, `/var/lib/dbus/machine-id` (systemd's and
//!   D-Bus's id, created at install, kept across reboots);
//! - macOS: `IOPlatformUUID`; Windows: `MachineGuid` (through the `machine-uid` crate; untested
//!   here, since only the Linux target is built on these machines).

use sha2::{Digest, Sha256};

use crate::ClientError;

/// The files holding the Linux machine id, in the order they are read.
const LINUX_MACHINE_ID: [&str; 2] = ["/etc/machine-id", "/var/lib/dbus/machine-id"];

/// This machine's fingerprint for `product_id`.
pub fn machine_fingerprint(product_id: &str) -> Result<String, ClientError> {
    Ok(fingerprint_of(product_id, &machine_id()?))
}

/// The fingerprint of a raw machine id (trimmed and lower-cased here) for `product_id`.
pub fn fingerprint_of(product_id: &str, raw_machine_id: &str) -> String {
    let id = raw_machine_id.trim().to_lowercase();
    hex::encode(Sha256::digest(
        format!("gumgate:machine:v1:{product_id}:{id}").as_bytes(),
    ))
}

/// The OS's machine id, as read (not yet trimmed or lower-cased).
#[cfg(target_os = "linux")]
pub fn machine_id() -> Result<String, ClientError> {
    LINUX_MACHINE_ID
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .find(|id| !id.trim().is_empty())
        .ok_or_else(|| {
            ClientError::Fingerprint(format!("none of {LINUX_MACHINE_ID:?} holds an id"))
        })
}

/// The OS's machine id, as read (not yet trimmed or lower-cased).
#[cfg(not(target_os = "linux"))]
pub fn machine_id() -> Result<String, ClientError> {
    let _ = LINUX_MACHINE_ID;
    machine_uid::get().map_err(|e| ClientError::Fingerprint(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same vector is in the TypeScript client's tests.
    #[test]
    fn the_fingerprint_is_the_shared_vector() {
        assert_eq!(
            fingerprint_of(
                "9Y2u8Dy4AWioyNrmNROrFA==",
                " 0123456789ABCDEF0123456789abcdef\n"
            ),
            "b9d9b733fddac27d126e4e6cd533431b1d8263ec1c214ffc2f1a34755e7ea9fe"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_has_a_stable_fingerprint_per_product() {
        if !LINUX_MACHINE_ID
            .iter()
            .any(|p| std::path::Path::new(p).exists())
        {
            // A container without a machine id: a clear error, never a made-up fingerprint.
            assert!(matches!(
                machine_fingerprint("p"),
                Err(ClientError::Fingerprint(_))
            ));
            return;
        }
        let first = machine_fingerprint("product-a").unwrap();
        assert_eq!(first, machine_fingerprint("product-a").unwrap());
        assert_eq!(first.len(), 64);
        assert_ne!(first, machine_fingerprint("product-b").unwrap());
        // Nothing of the raw id leaves the machine.
        let raw = machine_id().unwrap();
        assert!(!first.contains(raw.trim()));
    }
}
