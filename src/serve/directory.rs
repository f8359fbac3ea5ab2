//! The user directory as the server sees it: read once into memory, indexed
//! by e-mail and by Managed Apple ID, and read again when the file changes
//! (admins edit users.csv while the server runs).

use crate::error::Result;
use crate::model::directory::{Rows, User};
use std::collections::HashMap;
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
    /// Lower-case e-mail and lower-case Managed Apple ID → user.
    by_key: HashMap<String, Arc<User>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn load(path: &Path) -> Result<Loaded> {
    let stamp = stamp(path);
    let mut by_key = HashMap::new();
    let mut bad = 0;
    for row in Rows::open(path)? {
        match row {
            Ok(user) => {
                let user = Arc::new(user);
                let email = user.email.to_ascii_lowercase();
                if by_key.contains_key(&email) {
                    eprintln!(
                        "aspen: warning: {}: line {}: {} is listed again; the first row counts",
                        path.display(),
                        user.line,
                        user.email
                    );
                    continue;
                }
                if let Some(id) = &user.managed_apple_id {
                    by_key
                        .entry(id.as_str().to_ascii_lowercase())
                        .or_insert_with(|| user.clone());
                }
                by_key.insert(email, user);
            }
            Err(e) => {
                bad += 1;
                eprintln!("aspen: warning: {}: {e}", path.display());
            }
        }
    }
    if bad > 0 {
        eprintln!(
            "aspen: warning: {}: {bad} row(s) skipped; those users cannot enroll",
            path.display()
        );
    }
    Ok(Loaded { stamp, by_key })
}

impl Directory {
    pub fn open(path: &Path) -> Result<Directory> {
        let loaded = load(path)?;
        Ok(Directory {
            path: path.to_owned(),
            loaded: RwLock::new(Arc::new(loaded)),
        })
    }

    /// The user whose e-mail or Managed Apple ID is `identifier`
    /// (case-insensitive).
    pub fn find(&self, identifier: &str) -> Option<Arc<User>> {
        self.current()
            .by_key
            .get(&identifier.to_ascii_lowercase())
            .cloned()
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
        assert_eq!(d.find("ALICE@contoso.com").unwrap().groups, ["Staff"]);
        assert_eq!(
            d.find("alice@appleid.contoso.com").unwrap().email,
            "alice@contoso.com"
        );
        assert!(d.find("bob@contoso.com").is_none());
        // A longer file is a changed file, even within the same second.
        std::fs::write(
            &path,
            "email,managed_apple_id,groups\nalice@contoso.com,,Staff\nbob@contoso.com,,Sales\n",
        )
        .unwrap();
        assert_eq!(d.find("bob@contoso.com").unwrap().groups, ["Sales"]);
        assert!(d.find("alice@appleid.contoso.com").is_none());
    }
}
