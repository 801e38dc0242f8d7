//! The framework floor for `bench/callgrind.sh`: the least an axum + hyper + reqwest server
//! can do for the two requests the bench counts, so the instruction count of Gumgate can be
//! read against what its named packages cost before any Gumgate code runs.
//!
//! - `POST /v2/licenses/verify` answers a static body of a verify answer's size (what a cache
//!   hit would be with the form read but not parsed, no key, no limits, no metrics, no log);
//! - `GET /v2/user` relays to `UPSTREAM/gumroad/v2/user` with one shared reqwest client and
//!   passes status and body back (a passthrough with no auth, budget, headers or checks);
//! - `GET /livez` says it is up.
//!
//! Same allocator (mimalloc) and runtime (tokio multi-thread) as the gateway; `axum::serve`
//! instead of Gumgate's own accept loop.
//!
//! Run: `MATON_API_KEY=... cargo run --release --example floor -- LISTEN UPSTREAM_URL`.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The size of the sandbox's answer for the bench's license (1,039 bytes), so the write costs
/// the same.
static VERIFY_ANSWER: [u8; 1039] = [b' '; 1039];

#[derive(Clone)]
struct Relay {
    client: reqwest::Client,
    user_url: String,
    /// `Bearer $MATON_API_KEY`, as upstream requires.
    auth: String,
}

/// Reads the form (so the connection stays reusable, and as the gateway must) and ignores it.
async fn verify(_form: axum::body::Bytes) -> impl IntoResponse {
    ([("content-type", "application/json")], &VERIFY_ANSWER[..])
}

async fn user(State(relay): State<Relay>) -> impl IntoResponse {
    match relay
        .client
        .get(&relay.user_url)
        .header("authorization", &relay.auth)
        .send()
        .await
    {
        Ok(resp) => {
            let status = resp.status();
            match resp.bytes().await {
                Ok(body) => (status, body).into_response(),
                Err(_) => StatusCode::BAD_GATEWAY.into_response(),
            }
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: floor LISTEN UPSTREAM_URL");
        std::process::exit(2);
    };
    // Gumgate's reqwest is built without a default TLS provider; the gateway installs one.
    gumgate::tls::install_crypto_provider();
    let relay = Relay {
        client: reqwest::Client::new(),
        user_url: format!("{}/gumroad/v2/user", upstream.trim_end_matches('/')),
        auth: format!(
            "Bearer {}",
            std::env::var("MATON_API_KEY").unwrap_or_default()
        ),
    };
    let app = Router::new()
        .route("/v2/licenses/verify", post(verify))
        .route("/v2/user", get(user))
        .route("/livez", get(|| async { "ok" }))
        .with_state(relay);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            term.recv().await;
        })
        .await
}
