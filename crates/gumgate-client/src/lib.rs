//! Gumgate's client for desktop apps written in Rust: activate a machine, validate it (online,
//! or offline from its signed token when the server cannot be reached), keep its seat with
//! heartbeats, list and free the license's machines, and deactivate.
//!
//! ```no_run
//! # async fn run() -> Result<(), gumgate_client::ClientError> {
//! use gumgate_client::{Client, Machine, Outcome};
//!
//! let client = Client::builder("https://licenses.example.com", "9Y2u8Dy4AWioyNrmNROrFA==")
//!     .state_path("/home/ada/.config/my-app/license.json")
//!     .build()?;
//! if client.activation_id().is_none() {
//!     client.activate("5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0", Machine::named("Ada's laptop")).await?;
//! }
//! match client.validate().await? {
//!     outcome if outcome.is_licensed() => println!("licensed: {:?}", outcome.entitlements()),
//!     Outcome::Denied(denial) => println!("refused: {} ({})", denial.message, denial.code),
//!     outcome => println!("not licensed: {outcome:?}"),
//! }
//! # Ok(()) }
//! ```
//!
//! What the server answers is described in its `/openapi.json`; what this crate reads of it is
//! listed in `openapi-uses.json`, which CI checks against the running server.

mod codes;
mod fingerprint;
mod heartbeat;
mod offline;
mod state;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use codes::{OfflineCode, ReasonCode};
pub use fingerprint::{fingerprint_of, machine_fingerprint, machine_id};
pub use heartbeat::HeartbeatTask;
pub use offline::{OfflineCheck, TokenClaims, fingerprint_hash, license_hash};
pub use state::State;

use offline::Expected;
use state::Storage;

/// Why a call could not be made or understood. License outcomes (refusals included) are never
/// errors: they are [`Outcome`]s.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the license server could not be reached: {0}")]
    Unreachable(String),
    #[error("the license server answered {status} unexpectedly: {detail}")]
    Protocol { status: u16, detail: String },
    #[error("the license server refused the request: {0}")]
    BadRequest(String),
    #[error("license state: {0}")]
    State(String),
    #[error("machine fingerprint: {0}")]
    Fingerprint(String),
    #[error("this machine is not activated: call activate first")]
    NotActivated,
    #[error("client configuration: {0}")]
    Config(String),
}

/// What a purchase unlocks, as the server reads it from Gumroad.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlements {
    /// The purchase's variants (`Premium`, ...).
    pub variants: Vec<String>,
    /// `monthly`, `yearly`, ... for a membership.
    pub recurrence: Option<String>,
    /// When the subscription ends (RFC 3339), if it is ending.
    pub subscription_ends_at: Option<String>,
    /// The features the seller maps the variants to.
    #[serde(default)]
    pub features: Vec<String>,
}

impl Entitlements {
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// Labels of the machine being activated, shown to the license holder.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub name: Option<String>,
    pub platform: Option<String>,
}

impl Machine {
    /// A machine with a display name, its platform taken from this build's target OS.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            platform: Some(std::env::consts::OS.to_owned()),
        }
    }
}

/// An activation, as the server describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActivationInfo {
    pub id: String,
    pub name: Option<String>,
    pub platform: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub last_seen_at: Option<String>,
}

/// The license's seats.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LicenseInfo {
    pub product_id: String,
    pub seats: u32,
    pub seats_used: u32,
}

/// When to beat next, for a product with heartbeats.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HeartbeatInfo {
    pub interval_secs: u64,
    /// RFC 3339.
    pub next_at: String,
    /// Not seen again by then, the machine loses its seat (RFC 3339).
    pub deadline: String,
}

/// A granted activate, validate or heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Granted {
    pub code: ReasonCode,
    pub message: String,
    pub activation: ActivationInfo,
    pub license: LicenseInfo,
    #[serde(default)]
    pub entitlements: Entitlements,
    pub token: Option<String>,
    pub token_expires_at: Option<String>,
    #[serde(default)]
    pub heartbeat: Option<HeartbeatInfo>,
    /// Set when the server granted it while Gumroad was unreachable, within the machine's
    /// offline grace: the grace's end (RFC 3339), which the token does not outlive.
    #[serde(default)]
    pub offline_until: Option<String>,
}

/// A refusal: the reason, a sentence for the user, and when to retry if asking again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub code: ReasonCode,
    pub message: String,
    pub retry_after: Option<Duration>,
}

/// The outcome of an activate, validate or heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server granted it.
    Granted(Box<Granted>),
    /// The server refused it.
    Denied(Denial),
    /// The server could not be reached (or could not decide): decided offline from the stored
    /// token.
    Offline(Box<OfflineCheck>),
}

impl Outcome {
    /// Whether the app may run: granted, or a stored token that checks out offline.
    pub fn is_licensed(&self) -> bool {
        match self {
            Self::Granted(_) => true,
            Self::Denied(_) => false,
            Self::Offline(check) => check.is_valid(),
        }
    }

    /// What the purchase unlocks, when known.
    pub fn entitlements(&self) -> Option<&Entitlements> {
        match self {
            Self::Granted(g) => Some(&g.entitlements),
            Self::Offline(check) if check.is_valid() => {
                check.claims.as_ref().map(|c| &c.entitlements)
            }
            _ => None,
        }
    }
}

/// A license's machines, as its holder sees them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MachineList {
    pub machines: Vec<ActivationInfo>,
    pub license: LicenseInfo,
    pub max_deactivations_per_day: u32,
}

/// Builds a [`Client`].
pub struct ClientBuilder {
    base_url: String,
    product_id: String,
    state_path: Option<PathBuf>,
    jwks: Option<String>,
    issuer: String,
    leeway: Duration,
    fingerprint: Option<String>,
    timeout: Duration,
    clock: Option<Clock>,
}

/// The time source, unix seconds (injectable for tests).
type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

impl ClientBuilder {
    /// Where the state (license, activation, token, JWKS, last seen time) is kept between runs;
    /// without one it lives in memory only.
    pub fn state_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.state_path = Some(path.into());
        self
    }

    /// A JWKS (JSON) the app ships with: offline checks then trust only its keys, and the
    /// server's `/.well-known/jwks.json` is never fetched. Without it the client fetches the
    /// JWKS when online and keeps it in its state.
    pub fn pinned_jwks(mut self, jwks_json: impl Into<String>) -> Self {
        self.jwks = Some(jwks_json.into());
        self
    }

    /// The issuer the server signs with (`tokens.issuer`; default `gumgate`).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Clock skew tolerated on `exp` and `nbf`, and on a clock behind the last time seen
    /// (default 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The machine fingerprint; default [`machine_fingerprint`] of the product.
    pub fn fingerprint(mut self, fingerprint: impl Into<String>) -> Self {
        self.fingerprint = Some(fingerprint.into());
        self
    }

    /// Longest a call to the server may take (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time source, in unix seconds (tests).
    pub fn clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    pub fn build(self) -> Result<Client, ClientError> {
        // reqwest is built without a TLS crypto provider of its own: use ring unless the app
        // installed one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut base = url::Url::parse(&self.base_url)
            .map_err(|e| ClientError::Config(format!("base URL {:?}: {e}", self.base_url)))?;
        // A gateway behind a path prefix (`https://host/licenses`): API paths join under it.
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let pinned = match &self.jwks {
            None => None,
            Some(json) => Some(
                serde_json::from_str::<JwkSet>(json)
                    .map_err(|e| ClientError::Config(format!("pinned JWKS: {e}")))?,
            ),
        };
        let fingerprint = match self.fingerprint {
            Some(fp) => fp,
            None => machine_fingerprint(&self.product_id)?,
        };
        let storage = match self.state_path {
            Some(path) => Storage::File(path),
            None => Storage::Memory,
        };
        let state = storage.load(&self.product_id)?;
        Ok(Client {
            http,
            base,
            product_id: self.product_id,
            fingerprint,
            issuer: self.issuer,
            leeway: i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX),
            pinned,
            storage,
            state: Mutex::new(state),
            clock: self.clock.unwrap_or_else(|| Arc::new(system_now)),
        })
    }
}

fn system_now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
}

/// A client for one product on this machine. Cheap to share behind an `Arc`; every method
/// takes `&self`.
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    product_id: String,
    fingerprint: String,
    issuer: String,
    leeway: i64,
    pinned: Option<JwkSet>,
    storage: Storage,
    state: Mutex<State>,
    clock: Clock,
}

/// A server answer: its status, JSON body and `Retry-After`.
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<Duration>,
}

impl Client {
    /// A builder for the server at `base_url` and the product `product_id`.
    pub fn builder(base_url: impl Into<String>, product_id: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            product_id: product_id.into(),
            state_path: None,
            jwks: None,
            issuer: "gumgate".into(),
            leeway: Duration::from_secs(300),
            fingerprint: None,
            timeout: Duration::from_secs(10),
            clock: None,
        }
    }

    /// This machine's fingerprint, as sent to the server.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The stored activation, if this machine is activated.
    pub fn activation_id(&self) -> Option<String> {
        self.state().activation_id
    }

    /// A copy of the stored state.
    pub fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Activates this machine for `license_key` (the same machine again is the same seat). A
    /// grant stores the license, the activation and its token.
    pub async fn activate(
        &self,
        license_key: &str,
        machine: Machine,
    ) -> Result<Outcome, ClientError> {
        let body = json!({
            "product_id": self.product_id,
            "license_key": license_key,
            "fingerprint": self.fingerprint,
            "name": machine.name,
            "platform": machine.platform,
        });
        let answer = self.post("/v1/licenses/activate", &body).await?;
        let outcome = self.read_outcome(answer, "activated")?;
        if let Outcome::Granted(granted) = &outcome {
            self.update(|s| {
                s.license_key = Some(license_key.to_owned());
                s.fingerprint = Some(self.fingerprint.clone());
                s.activation_id = Some(granted.activation.id.clone());
            })?;
            self.store_grant(granted).await?;
        }
        Ok(outcome)
    }

    /// Validates this machine's activation online; when the server cannot be reached (or
    /// cannot decide for an outage), decides offline from the stored token.
    pub async fn validate(&self) -> Result<Outcome, ClientError> {
        self.check("/v1/licenses/validate", "valid").await
    }

    /// A heartbeat: keeps the machine's seat (for a product with heartbeats) and refreshes its
    /// token; offline like [`Client::validate`].
    pub async fn heartbeat(&self) -> Result<Outcome, ClientError> {
        self.check("/v1/licenses/heartbeat", "alive").await
    }

    /// Checks the stored token offline, without the network.
    pub fn check_offline(&self) -> OfflineCheck {
        let now = (self.clock)();
        let state = self.state();
        let (Some(token), Some(key)) = (&state.token, &state.license_key) else {
            return OfflineCheck::failed(OfflineCode::NoToken);
        };
        let Some(jwks) = self.trusted_keys(&state) else {
            return OfflineCheck::failed(OfflineCode::TokenInvalid);
        };
        let expected = Expected {
            issuer: &self.issuer,
            product_id: &self.product_id,
            license_key: key,
            fingerprint: &self.fingerprint,
        };
        let check = offline::check(
            token,
            &jwks,
            &expected,
            now,
            self.leeway,
            state.last_seen_at,
        );
        // Every check but a clock caught going back moves the latest time seen on: otherwise a
        // token found expired could be revived by setting the clock to just before its exp.
        // Failing to persist it only weakens the clock check, so it does not fail the check.
        if check.code != OfflineCode::ClockSetBack {
            let _ = self.update(|s| s.saw(now));
        }
        check
    }

    /// Deactivates an activation of the stored license: this machine's by default (the stored
    /// activation is then forgotten), or another of its machines by id (see
    /// [`Client::machines`]). Held to the license's daily deactivation limit.
    pub async fn deactivate(
        &self,
        activation_id: Option<&str>,
    ) -> Result<Option<Denial>, ClientError> {
        let state = self.state();
        let key = state.license_key.clone().ok_or(ClientError::NotActivated)?;
        let own = state.activation_id.clone();
        let id = activation_id
            .map(str::to_owned)
            .or_else(|| own.clone())
            .ok_or(ClientError::NotActivated)?;
        let body = json!({"product_id": self.product_id, "license_key": key, "activation_id": id});
        let answer = self.post("/v1/licenses/deactivate", &body).await?;
        let done = answer.body.get("deactivated") == Some(&Value::Bool(true));
        if done || answer.status == 404 {
            // Gone either way: if it was this machine's, forget it.
            if own.as_deref() == Some(id.as_str()) {
                self.update(State::forget_activation)?;
            }
        }
        if done {
            return Ok(None);
        }
        match self.denial(&answer) {
            Some(denial) => Ok(Some(denial)),
            None => Err(unexpected(&answer)),
        }
    }

    /// The stored license's machines (live activations for this product).
    pub async fn machines(&self) -> Result<Result<MachineList, Denial>, ClientError> {
        let key = self.state().license_key.ok_or(ClientError::NotActivated)?;
        self.machines_for(&key).await
    }

    /// The machines of `license_key` (a license this machine may not hold, e.g. to free a seat
    /// before activating here).
    pub async fn machines_for(
        &self,
        key: &str,
    ) -> Result<Result<MachineList, Denial>, ClientError> {
        let body = json!({"product_id": self.product_id, "license_key": key});
        let answer = self.post("/v1/licenses/machines", &body).await?;
        if answer.status == 200 {
            return serde_json::from_value(answer.body.clone())
                .map(Ok)
                .map_err(|e| protocol(&answer, &e.to_string()));
        }
        match self.denial(&answer) {
            Some(denial) => Ok(Err(denial)),
            None => Err(unexpected(&answer)),
        }
    }

    /// Beats in the background at the times the server asks (see [`HeartbeatTask`]).
    pub fn spawn_heartbeats(
        self: &Arc<Self>,
        on_beat: impl Fn(&Result<Outcome, ClientError>) + Send + Sync + 'static,
    ) -> HeartbeatTask {
        heartbeat::spawn(self.clone(), on_beat)
    }

    /// Validate and heartbeat.
    async fn check(&self, path: &str, flag: &str) -> Result<Outcome, ClientError> {
        let state = self.state();
        let (Some(key), Some(id)) = (state.license_key, state.activation_id) else {
            return Err(ClientError::NotActivated);
        };
        let body = json!({
            "product_id": self.product_id,
            "license_key": key,
            "activation_id": id,
            "fingerprint": self.fingerprint,
        });
        let answer = match self.post(path, &body).await {
            Ok(answer) => answer,
            Err(ClientError::Unreachable(_)) => {
                return Ok(Outcome::Offline(Box::new(self.check_offline())));
            }
            Err(e) => return Err(e),
        };
        // The server is there but cannot decide (Gumroad or its database is down, past its own
        // grace): the stored token is the proof, as it would be with no server at all.
        if answer.status >= 500 || answer.status == 429 {
            return Ok(Outcome::Offline(Box::new(self.check_offline())));
        }
        let outcome = self.read_outcome(answer, flag)?;
        match &outcome {
            // Unless the machine was deactivated meanwhile (a beat finishing after
            // `deactivate`): its token must not come back.
            Outcome::Granted(granted)
                if self.activation_id().as_deref() == Some(&granted.activation.id) =>
            {
                self.store_grant(granted).await?
            }
            // The activation is gone: forget it, so the app activates again.
            Outcome::Denied(d)
                if matches!(
                    d.code,
                    ReasonCode::HeartbeatMissed
                        | ReasonCode::NotFound
                        | ReasonCode::FingerprintMismatch
                ) =>
            {
                self.update(State::forget_activation)?;
            }
            // Refused for good (refunded, disabled, ...): the stored token goes too, so going
            // offline cannot outlive the refusal.
            Outcome::Denied(d) if !d.code.is_transient() => self.update(|s| {
                s.token = None;
                s.token_expires_at = None;
            })?,
            _ => {}
        }
        Ok(outcome)
    }

    /// Reads a granted answer (`flag` true) or a refusal.
    fn read_outcome(&self, answer: Answer, flag: &str) -> Result<Outcome, ClientError> {
        if matches!(answer.status, 200 | 201) && answer.body.get(flag) == Some(&Value::Bool(true)) {
            let granted: Granted = serde_json::from_value(answer.body.clone())
                .map_err(|e| protocol(&answer, &e.to_string()))?;
            return Ok(Outcome::Granted(Box::new(granted)));
        }
        match self.denial(&answer) {
            Some(denial) => Ok(Outcome::Denied(denial)),
            None => Err(unexpected(&answer)),
        }
    }

    /// A refusal in either of the server's shapes: `{code, message}` (the license API's) or
    /// `{success: false, message}` (Gumroad's, for bad input and rate limits).
    fn denial(&self, answer: &Answer) -> Option<Denial> {
        let message = answer.body.get("message").and_then(Value::as_str);
        if let Some(code) = answer.body.get("code").and_then(Value::as_str) {
            return Some(Denial {
                code: ReasonCode::parse(code),
                message: message.unwrap_or_default().to_owned(),
                retry_after: answer.retry_after,
            });
        }
        if answer.status == 429 {
            return Some(Denial {
                code: ReasonCode::RateLimited,
                message: message.unwrap_or("Too many requests.").to_owned(),
                retry_after: answer.retry_after,
            });
        }
        None
    }

    /// Keeps a grant's token, and the JWKS that verifies it when the app pinned none. The
    /// latest time seen becomes the token's `iat`, the server's clock: a local clock set back
    /// after going online is caught offline, and one that ran ahead and was corrected is
    /// forgiven.
    async fn store_grant(&self, granted: &Granted) -> Result<(), ClientError> {
        let now = (self.clock)();
        if self.pinned.is_none()
            && let Some(token) = &granted.token
            && !self.knows_key_of(token)
            && let Ok(jwks) = self.fetch_jwks().await
        {
            self.update(|s| s.jwks = Some(jwks))?;
        }
        let issued_at = granted.token.as_deref().and_then(|t| self.issued_at(t));
        self.update(|s| {
            s.token.clone_from(&granted.token);
            s.token_expires_at.clone_from(&granted.token_expires_at);
            match issued_at {
                Some(iat) => s.last_seen_at = iat,
                None => s.saw(now),
            }
        })
    }

    /// The `iat` of a token from the server, once its signature checks out.
    fn issued_at(&self, token: &str) -> Option<i64> {
        let state = self.state();
        let jwks = self.trusted_keys(&state)?;
        let expected = Expected {
            issuer: &self.issuer,
            product_id: &self.product_id,
            license_key: state.license_key.as_deref().unwrap_or_default(),
            fingerprint: &self.fingerprint,
        };
        offline::verified_claims(token, &jwks, &expected).map(|c| c.iat)
    }

    /// Whether the cached JWKS has the key `token` names.
    fn knows_key_of(&self, token: &str) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        let cached = cached_keys(&self.state());
        matches!((cached, header.kid), (Some(set), Some(kid)) if set.find(&kid).is_some())
    }

    /// The keys tokens are checked against: the pinned set, else the one fetched and cached.
    fn trusted_keys(&self, state: &State) -> Option<std::borrow::Cow<'_, JwkSet>> {
        match &self.pinned {
            Some(pinned) => Some(std::borrow::Cow::Borrowed(pinned)),
            None => cached_keys(state).map(std::borrow::Cow::Owned),
        }
    }

    async fn fetch_jwks(&self) -> Result<Value, ClientError> {
        let url = self.url("/.well-known/jwks.json")?;
        let res = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(e.without_url().to_string()))?;
        let body: Value = res
            .json()
            .await
            .map_err(|e| ClientError::Unreachable(e.without_url().to_string()))?;
        serde_json::from_value::<JwkSet>(body.clone()).map_err(|e| ClientError::Protocol {
            status: 200,
            detail: format!("JWKS: {e}"),
        })?;
        Ok(body)
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Answer, ClientError> {
        let res = self
            .http
            .post(self.url(path)?)
            .json(body)
            .send()
            .await
            // Without the URL: the message must never carry more than the server's address.
            .map_err(|e| ClientError::Unreachable(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = res
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable(e.without_url().to_string()))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if matches!(status, 400 | 413 | 415 | 422) {
            let message = body
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("bad request");
            return Err(ClientError::BadRequest(message.to_owned()));
        }
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    fn url(&self, path: &str) -> Result<url::Url, ClientError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Config(format!("{path}: {e}")))
    }

    /// Changes the state and persists it.
    fn update(&self, change: impl FnOnce(&mut State)) -> Result<(), ClientError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut state);
        self.storage.save(&state)
    }
}

/// The JWKS kept in the state, if it parses.
fn cached_keys(state: &State) -> Option<JwkSet> {
    serde_json::from_value(state.jwks.clone()?).ok()
}

fn unexpected(answer: &Answer) -> ClientError {
    protocol(answer, "no code in the answer")
}

fn protocol(answer: &Answer, detail: &str) -> ClientError {
    ClientError::Protocol {
        status: answer.status,
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests;
