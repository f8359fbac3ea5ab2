//! Everything a command prints goes through here: results on stdout, notes,
//! warnings and errors on stderr (stdout may carry a profile). A reader that
//! goes away (`aspen issued | head -1`, `aspen invite … | true`) makes the
//! next write fail with a broken pipe; that error travels up like any other
//! and [`super::main`] ends the command quietly, without a message and
//! without a panic (Rust ignores SIGPIPE, so `println!` would panic there:
//! commands never use it).

use crate::error::{Error, Result};
use std::io::Write;

/// A result on stdout, written in full and flushed.
pub fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::io("<stdout>", e))
}

/// A JSON value on stdout, pretty, with a final newline.
pub fn json(value: &impl serde::Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::invalid(format!("writing JSON: {e}")))?;
    text.push('\n');
    out(&text)
}

/// A one-line note on stderr.
pub fn note(message: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "aspen: note: {message}");
}

pub fn warn(message: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "aspen: warning: {message}");
}

pub fn error(message: impl std::fmt::Display) {
    let _ = writeln!(std::io::stderr(), "aspen: error: {message}");
}

/// Whether `e` is a write to a reader that went away.
pub fn is_closed_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}
