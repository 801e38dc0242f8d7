//! Logging, set up once per process: JSON lines in production, pretty output on a terminal.
//! What is logged is chosen at each call site; request and upstream spans carry only the
//! method, the matched route and the request id, never a query string, body or header value.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG` wins over `level` when set. A second call (as in
/// tests that start several apps) is a no-op.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// For tests: logs only when `TEST_LOG` is set, so test output stays quiet by default.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(LogFormat::Pretty, "debug");
    }
}
