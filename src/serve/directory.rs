//! The user directory as the server sees it: the model's [`Index`], read
//! again when the file changes (admins edit users.csv while the server runs).
//!
//! Lookups cost no I/O: the file is looked at (stat) at most once a second,
//! by one request, on the blocking pool; only that request waits for a
//! re-read, every other one uses the copy it finds.

use crate::error::Result;
use crate::model::directory::{Index, User};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

/// How often the file is looked at, at most.
const CHECK_EVERY_MS: u64 = 1000;

pub struct Directory {
    path: PathBuf,
    loaded: RwLock<Arc<Loaded>>,
    /// When the file was last looked at, in milliseconds after `epoch`.
    checked: AtomicU64,
    epoch: Instant,
    /// Held while the file is looked at and read: one reader at a time.
    reading: Mutex<()>,
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
        tracing::warn!("{}: {e}", path.display());
    }
    if !errors.is_empty() {
        tracing::warn!(
            "{}: {} row(s) left out; those users cannot enroll",
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
            checked: AtomicU64::new(0),
            epoch: Instant::now(),
            reading: Mutex::new(()),
        })
    }

    /// The user with this e-mail: whom a session, code, access token or
    /// trusted header names.
    pub async fn by_email(self: &Arc<Self>, email: &str) -> Option<Arc<User>> {
        self.current().await.index.by_email(email).cloned()
    }

    /// The user a device's `user-identifier` names (Managed Apple ID, then
    /// e-mail).
    pub async fn by_identifier(self: &Arc<Self>, identifier: &str) -> Option<Arc<User>> {
        self.current()
            .await
            .index
            .by_identifier(identifier)
            .cloned()
    }

    /// How many users can sign in (for `/readyz`).
    pub async fn users(self: &Arc<Self>) -> usize {
        self.current().await.index.len()
    }

    async fn current(self: &Arc<Self>) -> Arc<Loaded> {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.current_at(now).await
    }

    /// The directory to use at `now` (milliseconds after `epoch`).
    async fn current_at(self: &Arc<Self>, now: u64) -> Arc<Loaded> {
        if !self.due(now) {
            return self.snapshot();
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.refresh())
            .await
            .unwrap_or_else(|_| self.snapshot())
    }

    /// Whether the caller at `now` is the one to look at the file: a second
    /// or more since the last look, and no other caller took this turn.
    fn due(&self, now: u64) -> bool {
        let last = self.checked.load(Ordering::Relaxed);
        now.saturating_sub(last) >= CHECK_EVERY_MS
            && self
                .checked
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    fn snapshot(&self) -> Arc<Loaded> {
        self.loaded.read().map(|l| l.clone()).unwrap_or_default()
    }

    /// Reads the file again if it changed (blocking). While another caller
    /// reads it, or when it cannot be read, the copy in use stays (the
    /// latter says so).
    fn refresh(&self) -> Arc<Loaded> {
        let Ok(_reading) = self.reading.try_lock() else {
            return self.snapshot();
        };
        let loaded = self.snapshot();
        let now = stamp(&self.path);
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
                tracing::warn!("keeping the previous directory: {e}");
                loaded
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(loaded: &Loaded, email: &str) -> Option<Vec<String>> {
        loaded.index.by_email(email).map(|u| u.groups.clone())
    }

    #[tokio::test]
    async fn looks_at_the_file_at_most_once_a_second_and_follows_edits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.csv");
        std::fs::write(
            &path,
            "email,managed_apple_id,groups\nalice@contoso.com,alice@appleid.contoso.com,Staff\nbad,,\n",
        )
        .unwrap();
        let d = Arc::new(Directory::open(&path).unwrap());
        assert_eq!(
            d.by_identifier("alice@appleid.contoso.com")
                .await
                .unwrap()
                .email,
            "alice@contoso.com"
        );
        assert!(d.by_email("alice@appleid.contoso.com").await.is_none());
        // A longer file is a changed file, even within the same second.
        std::fs::write(
            &path,
            "email,managed_apple_id,groups\nalice@contoso.com,,Staff\nbob@contoso.com,,Sales\n",
        )
        .unwrap();
        // Within the first second the loaded copy is used as it is.
        assert_eq!(find(&*d.current_at(999).await, "bob@contoso.com"), None);
        assert_eq!(
            find(&*d.current_at(1000).await, "bob@contoso.com"),
            Some(vec!["Sales".into()])
        );
        // A file that cannot be read keeps the last good copy.
        std::fs::write(&path, "no header here at all\n").unwrap();
        assert!(find(&*d.current_at(2000).await, "bob@contoso.com").is_some());
    }

    #[test]
    fn one_caller_per_second_looks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.csv");
        std::fs::write(&path, "email,managed_apple_id,groups\n").unwrap();
        let d = Directory::open(&path).unwrap();
        assert!(!d.due(999));
        assert!(d.due(1000));
        assert!(!d.due(1000), "the second caller at the same time waits");
        assert!(!d.due(1999));
        assert!(d.due(2500));
    }

    #[test]
    fn a_read_in_progress_keeps_the_copy_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.csv");
        std::fs::write(&path, "email,managed_apple_id,groups\n").unwrap();
        let d = Directory::open(&path).unwrap();
        std::fs::write(
            &path,
            "email,managed_apple_id,groups\nbob@contoso.com,,Sales\n",
        )
        .unwrap();
        let held = d.reading.lock().unwrap();
        assert_eq!(find(&d.refresh(), "bob@contoso.com"), None);
        drop(held);
        assert!(find(&d.refresh(), "bob@contoso.com").is_some());
    }
}
