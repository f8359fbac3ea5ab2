//! The one error type of the library. Every message names what was wrong and
//! where (file, line, field, value) so the CLI can print it as-is; messages
//! never contain private keys, passphrases or SCEP challenges.

use std::{fmt, io, path::PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    /// A settings file is malformed or breaks a rule.
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Settings {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// Input given on the command line or by a caller breaks a rule.
    #[error("{0}")]
    Invalid(String),

    /// The state store (`[store]`) failed: unreachable, refused, or written
    /// by a newer aspen. `location` never holds a password.
    #[error("[store] {location}: {message}")]
    Store { location: String, message: String },

    /// Keys, certificates or CMS structures that OpenSSL rejected.
    #[error("{context}: {message}")]
    Crypto { context: String, message: String },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn invalid(message: impl fmt::Display) -> Self {
        Error::Invalid(message.to_string())
    }

    pub fn crypto(context: impl fmt::Display, err: impl fmt::Display) -> Self {
        Error::Crypto {
            context: context.to_string(),
            message: err.to_string(),
        }
    }
}

/// A rule broken by one field's value: the field path in dotted form (as the
/// user wrote it, e.g. `mdm.topic` or `anchor[1].certificate`), the value when
/// it is safe to show, and why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub value: Option<String>,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, value: Option<&str>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            value: value.map(str::to_owned),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{} = {:?}: {}", self.field, v, self.reason),
            None => write!(f, "{}: {}", self.field, self.reason),
        }
    }
}
