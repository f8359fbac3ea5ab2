//! The server's log: `tracing` events on stderr, as text or one JSON object
//! per line (`--log-format`), each with a timestamp (UTC) and a level.
//! Access lines (target [`ACCESS`]) carry the request id, method, path
//! (never the query), status, time and client address; never headers,
//! cookies, bodies, codes or tokens. Nothing else logs a secret either:
//! errors name files and fields, not values.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The target of access lines, so `--quiet` can turn them off alone.
pub const ACCESS: &str = "aspen::access";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `2025-01-01T12:00:00.000000Z  INFO message key=value`
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields`, `target`.
    Json,
}

/// Installs the log for this process (once; later calls do nothing).
pub fn init(format: Format, access_log: bool) {
    let filter = Targets::new().with_default(LevelFilter::INFO).with_target(
        ACCESS,
        if access_log {
            LevelFilter::INFO
        } else {
            LevelFilter::OFF
        },
    );
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        Format::Text => registry.with(fmt.with_target(false)).try_init(),
        Format::Json => registry
            .with(fmt.json().with_current_span(true).with_span_list(false))
            .try_init(),
    };
}
