//! Where the store is: `[store] url` (or the URL in the environment variable
//! `[store] url_env`), by default the embedded store in `portal.state_dir`.
//! A PostgreSQL URL may carry a password: it is never shown, in `Debug`,
//! messages or logs.

use crate::error::Error;
use crate::secret::Secret;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded SQLite store: a folder (created 0700) holding
    /// `aspen.sqlite3`.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://…` or `postgresql://…`).
    Postgres(Secret),
}

impl Location {
    /// Parses a store URL: `sqlite:DIR` (relative to `base`, the settings
    /// file's folder) or `postgres://…`. The error never shows the URL.
    pub fn parse(url: &str, base: &Path) -> Result<Location, String> {
        if let Some(dir) = url.strip_prefix("sqlite:") {
            let dir = dir.strip_prefix("//").unwrap_or(dir);
            if dir.is_empty() {
                return Err("sqlite: needs a folder, e.g. \"sqlite:aspen-state\"".into());
            }
            return Ok(Location::Sqlite(base.join(dir)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(Secret::new(url.to_owned())));
        }
        Err("must start with \"sqlite:\" or \"postgres://\"".into())
    }

    /// The location for messages: the folder, or the URL without its
    /// password and query.
    pub fn describe(&self) -> String {
        match self {
            Location::Sqlite(dir) => format!("sqlite:{}", dir.display()),
            Location::Postgres(url) => redact(url.expose()),
        }
    }

    /// An error about this store, naming `[store]` and where it is.
    pub fn error(&self, message: impl fmt::Display) -> Error {
        Error::Store {
            location: self.describe(),
            message: message.to_string(),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({})", self.describe())
    }
}

/// `scheme://user@host:port/db` from a URL that may hold `user:password@`
/// and a `?query` (which may hold a password too).
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_never_show_a_password() {
        let base = Path::new("/etc/aspen");
        assert_eq!(
            Location::parse("sqlite:state", base).unwrap(),
            Location::Sqlite(PathBuf::from("/etc/aspen/state"))
        );
        assert_eq!(
            Location::parse("sqlite:///var/lib/aspen", base).unwrap(),
            Location::Sqlite(PathBuf::from("/var/lib/aspen"))
        );
        assert!(Location::parse("sqlite:", base).is_err());
        assert!(Location::parse("mysql://x", base).is_err());
        let pg = Location::parse(
            "postgres://aspen:hunter2@db.internal:5433/aspen?password=hunter2&sslmode=require",
            base,
        )
        .unwrap();
        assert_eq!(pg.describe(), "postgres://aspen@db.internal:5433/aspen");
        assert!(!format!("{pg:?}").contains("hunter2"));
        assert!(!pg.error("refused").to_string().contains("hunter2"));
        let weird = Location::parse("postgresql://a:b:c@@host", base).unwrap();
        assert_eq!(weird.describe(), "postgresql://a@host");
    }
}
