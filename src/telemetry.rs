//! Logging, set up once per process: JSON lines in production, pretty output on a terminal.
//! What is logged is chosen at each call site; request and upstream spans carry only the
//! method, the matched route and the request id, never a query string, body or header value.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Queued log lines, at most; past that, lines are dropped rather than stalling requests on a
/// stuck log reader (a full pipe to the collector).
const QUEUED_LINES: usize = 128_000;

/// Keeps the log writer's thread; dropping it writes out what is still queued. Hold it until the
/// process ends.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

/// Installs the global subscriber. `RUST_LOG` wins over `level` when set. A second call (as in
/// tests that start several apps) is a no-op.
///
/// Lines are formatted where they happen and written to stderr by a thread of their own, which
/// takes every line queued since its last write and writes them in one `write(2)`.
pub fn init(format: LogFormat, level: &str) -> LogGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(QUEUED_LINES)
        .lossy(true)
        .thread_name("gumgate-log")
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Colours only on a terminal: a log file or a collector's pipe gets no escape codes (the
    // writer thread hides the terminal from the formatter, so it is asked here).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    LogGuard {
        _writer: installed.is_ok().then_some(guard),
    }
}

/// For tests: logs only when `TEST_LOG` is set, so test output stays quiet by default.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        // Tests log to the end of the process: the guard is never dropped.
        std::mem::forget(init(LogFormat::Pretty, "debug"));
    }
}
