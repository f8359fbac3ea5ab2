//! What `/readyz` reports, and how often it asks the store. The endpoint is
//! unauthenticated and the store check is a write: its answer is kept for
//! [`KEPT`], and concurrent calls wait for the one check in progress
//! instead of each making their own, so calling `/readyz` in a loop costs
//! the store at most one write per [`KEPT`].

use crate::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long the store's answer is kept.
pub const KEPT: Duration = Duration::from_secs(1);

/// One check's outcome: what passed, or why not.
pub type Check = Result<&'static str, String>;

pub struct Readiness {
    /// Set at shutdown: `/readyz` then says no, so balancers move on.
    stopping: AtomicBool,
    store: tokio::sync::Mutex<Option<(Instant, Check)>>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness::new()
    }
}

impl Readiness {
    pub fn new() -> Readiness {
        Readiness {
            stopping: AtomicBool::new(false),
            store: tokio::sync::Mutex::new(None),
        }
    }

    pub fn stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Each check and whether it passed: the store (kept for [`KEPT`]),
    /// the directory and the signer (as the caller found them), and
    /// whether the server is stopping.
    pub async fn report(
        &self,
        store: &dyn Store,
        directory: Check,
        signer: Check,
    ) -> Vec<(&'static str, Check)> {
        let store = {
            let mut kept = self.store.lock().await;
            match &*kept {
                Some((at, answer)) if at.elapsed() < KEPT => answer.clone(),
                _ => {
                    let answer = match store.check_writable().await {
                        Ok(()) => Ok("writable"),
                        Err(e) => {
                            tracing::error!("readiness: {e}");
                            Err("not writable (see the server's log)".to_owned())
                        }
                    };
                    *kept = Some((Instant::now(), answer.clone()));
                    answer
                }
            }
        };
        let serving = if self.stopping.load(Ordering::Relaxed) {
            Err("stopping".into())
        } else {
            Ok("yes")
        };
        vec![
            ("store", store),
            ("directory", directory),
            ("signer", signer),
            ("serving", serving),
        ]
    }
}
