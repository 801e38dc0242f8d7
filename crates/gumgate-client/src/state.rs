//! What the client keeps between runs: the license and activation, the last token, the JWKS it
//! last fetched, and the latest time it has seen (against a clock set back). Persisted as JSON to
//! a path the app chooses, written atomically (a temporary file renamed over it) and readable by
//! its user only, since it holds the license key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClientError;

/// The persisted state (`version` 1). Its `Debug` leaves the license key and token out, so a
/// logged state leaks neither.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub product_id: String,
    pub license_key: Option<String>,
    pub activation_id: Option<String>,
    pub fingerprint: Option<String>,
    pub token: Option<String>,
    /// RFC 3339, as the server said.
    pub token_expires_at: Option<String>,
    /// The JWKS last fetched from the server (unused when the app pins one).
    pub jwks: Option<serde_json::Value>,
    /// The latest time this client has seen (unix seconds): its own clock at each check, and
    /// each token's `iat`.
    pub last_seen_at: i64,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<hidden>");
        f.debug_struct("State")
            .field("product_id", &self.product_id)
            .field("license_key", &hidden(&self.license_key))
            .field("activation_id", &self.activation_id)
            .field("token", &hidden(&self.token))
            .field("token_expires_at", &self.token_expires_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

impl State {
    pub fn new(product_id: &str) -> Self {
        Self {
            version: 1,
            product_id: product_id.to_owned(),
            ..Self::default()
        }
    }

    /// Forgets the activation (a deactivation, a machine released): the key stays, so the app
    /// can activate again.
    pub fn forget_activation(&mut self) {
        self.activation_id = None;
        self.token = None;
        self.token_expires_at = None;
    }

    /// Moves `last_seen_at` forward, never back.
    pub fn saw(&mut self, unix: i64) {
        self.last_seen_at = self.last_seen_at.max(unix);
    }
}

/// Where the state lives: a file, or memory only.
#[derive(Debug, Clone)]
pub(crate) enum Storage {
    File(PathBuf),
    Memory,
}

impl Storage {
    /// The stored state for `product_id`: a fresh one when there is no file yet, or when the
    /// file is for another product.
    pub(crate) fn load(&self, product_id: &str) -> Result<State, ClientError> {
        let Self::File(path) = self else {
            return Ok(State::new(product_id));
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let state: State = serde_json::from_slice(&bytes).map_err(|e| {
                    ClientError::State(format!(
                        "{} is not a Gumgate state file: {e}",
                        path.display()
                    ))
                })?;
                Ok(if state.product_id == product_id {
                    state
                } else {
                    State::new(product_id)
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::new(product_id)),
            Err(e) => Err(ClientError::State(format!("{}: {e}", path.display()))),
        }
    }

    pub(crate) fn save(&self, state: &State) -> Result<(), ClientError> {
        let Self::File(path) = self else {
            return Ok(());
        };
        write_atomically(path, &serde_json::to_vec_pretty(state).unwrap_or_default())
            .map_err(|e| ClientError::State(format!("{}: {e}", path.display())))
    }
}

/// Writes `bytes` beside `path` and renames the copy over it, so a crash leaves the old file or
/// the new one, never half of one. Mode 0600 on Unix.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_privately_and_another_products_file_is_not_taken() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("app").join("license.json");
        let storage = Storage::File(path.clone());
        assert_eq!(storage.load("p1").unwrap(), State::new("p1"));
        let mut state = State::new("p1");
        state.license_key = Some("KEY".into());
        state.saw(100);
        state.saw(50);
        storage.save(&state).unwrap();
        assert_eq!(storage.load("p1").unwrap().last_seen_at, 100);
        assert_eq!(storage.load("p1").unwrap(), state);
        assert_eq!(storage.load("p2").unwrap(), State::new("p2"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary file is left beside it.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        std::fs::write(&path, b"not json").unwrap();
        assert!(matches!(storage.load("p1"), Err(ClientError::State(_))));
    }
}
