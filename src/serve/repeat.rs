//! `[serve] download_repeat_window`: who downloaded what lately, so that the
//! same profile asked for again by the same viewer (a session, an access
//! token, a proxy-named user) within the window gets the same bytes and no
//! new audit row, charge or secret. A cache that never changes an answer:
//! the plan is decided, and the viewer checked, before it is read. Kept in
//! memory, per replica. Generic over what was handed out (the service's
//! `Issued`), so this file imports nothing of the service.

use crate::model::Enrollment;
use crate::settings::IdentityUse;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Recent downloads remembered, at most.
const RECENT_ENTRIES: usize = 4096;

pub struct RepeatWindow<T> {
    window: Duration,
    recent: Mutex<HashMap<Vec<u8>, Recent<T>>>,
}

struct Recent<T> {
    at: Instant,
    what: What,
    issued: Arc<T>,
}

/// What was issued: the same viewer asking for something else is a new
/// issue.
#[derive(PartialEq, Eq)]
pub struct What {
    pub policy: String,
    pub enrollment: Enrollment,
    pub identity: IdentityUse,
}

impl<T> RepeatWindow<T> {
    pub fn new(window: Duration) -> RepeatWindow<T> {
        RepeatWindow {
            window,
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// The bytes `viewer` was given for `what` within the window, if any.
    pub fn get(&self, viewer: &[u8], what: &What) -> Option<Arc<T>> {
        if self.window.is_zero() {
            return None;
        }
        let recent = self.recent.lock().ok()?;
        let r = recent.get(viewer)?;
        (r.at.elapsed() < self.window && r.what == *what).then(|| r.issued.clone())
    }

    /// Remembers that `viewer` was given `issued` for `what` just now.
    pub fn remember(&self, viewer: Vec<u8>, what: What, issued: Arc<T>) {
        if self.window.is_zero() {
            return;
        }
        let now = Instant::now();
        if let Ok(mut recent) = self.recent.lock() {
            if recent.len() >= RECENT_ENTRIES {
                recent.retain(|_, r| now.duration_since(r.at) < self.window);
                if recent.len() >= RECENT_ENTRIES {
                    recent.clear();
                }
            }
            recent.insert(
                viewer,
                Recent {
                    at: now,
                    what,
                    issued,
                },
            );
        }
    }
}
