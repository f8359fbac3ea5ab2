//! The user directory as the server sees it: the model's [`Index`], read
//! again when the file changes (admins edit users.csv while the server runs).

use crate::error::Result;
use crate::model::directory::{Index, User};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

pub struct Directory {
    path: PathBuf,
    loaded: RwLock<Arc<Loaded>>,
}

#[derive(Default)]
struct Loaded {
    /// What the file looked like when read (modification time, length).
    stamp: Option<(SystemTime, u64)>,
    index: Index,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads the directory, warning about every row left out.
fn load(path: &Path) -> Result<Loaded> {
    let stamp = stamp(path);
    let (index, errors) = Index::load(path)?;
    for e in &errors {
        eprintln!("aspen: warning: {}: {e}", path.display());
    }
    if !errors.is_empty() {
        eprintln!(
            "aspen: warning: {}: {} row(s) left out; those users cannot enroll",
            path.display(),
            errors.len()
        );
    }
    Ok(Loaded { stamp, index })
}

impl Directory {
    pub fn open(path: &Path) -> Result<Directory> {
        let loaded = load(path)?;
        Ok(Directory {
            path: path.to_owned(),
            loaded: RwLock::new(Arc::new(loaded)),
        })
    }

    /// The user with this e-mail: whom a session, code, access token or
    /// trusted header names.
    pub fn by_email(&self, email: &str) -> Option<Arc<User>> {
        self.current().index.by_email(email).cloned()
    }

    /// The user a device's `user-identifier` names (Managed Apple ID, then
    /// e-mail).
    pub fn by_identifier(&self, identifier: &str) -> Option<Arc<User>> {
        self.current().index.by_identifier(identifier).cloned()
    }

    /// The loaded directory, read again first if the file changed. A file
    /// that cannot be read keeps the last good copy (and says so).
    fn current(&self) -> Arc<Loaded> {
        let now = stamp(&self.path);
        let loaded = self.loaded.read().map(|l| l.clone()).unwrap_or_default();
        if now.is_none() || now == loaded.stamp {
            return loaded;
        }
        match load(&self.path) {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                if let Ok(mut slot) = self.loaded.write() {
                    *slot = fresh.clone();
                }
                fresh
            }
            Err(e) => {
                eprintln!("aspen: warning: keeping the previous directory: {e}");
                loaded
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_email_or_managed_apple_id_and_follows_edits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.csv");
        std::fs::write(
            &path,
            "email,managed_apple_id,groups\nalice@contoso.com,alice@appleid.contoso.com,Staff\nbad,,\n",
        )
        .unwrap();
        let d = Directory::open(&path).unwrap();
        assert_eq!(d.by_email("ALICE@contoso.com").unwrap().groups, ["Staff"]);
        assert_eq!(
            d.by_identifier("alice@appleid.contoso.com").unwrap().email,
            "alice@contoso.com"
        );
        assert!(d.by_email("alice@appleid.contoso.com").is_none());
        assert!(d.by_email("bob@contoso.com").is_none());
        // A longer file is a changed file, even within the same second.
        std::fs::write(
            &path,
            "email,managed_apple_id,groups\nalice@contoso.com,,Staff\nbob@contoso.com,,Sales\n",
        )
        .unwrap();
        assert_eq!(d.by_email("bob@contoso.com").unwrap().groups, ["Sales"]);
        assert!(d.by_identifier("alice@appleid.contoso.com").is_none());
    }
}
