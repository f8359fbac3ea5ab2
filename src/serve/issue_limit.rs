//! The per-user issue limit (`[serve] issues_per_user` within
//! `issue_window`). What one signed-in user can make the server do that
//! costs a signature, a fresh secret or an audit row — a profile issued, an
//! answer changed — is charged to the user's token bucket in the store
//! before the work, so every replica counts the same. Past the limit the
//! answer is `429` with `Retry-After`, and one audit row per window (not
//! one per refusal: the refusals must not flood the store either) says
//! that the user was limited.

use crate::error::Result;
use crate::store::{Bucket, Throttle};
use std::time::Duration;

/// The limit of `[serve]`; `None` when `issues_per_user = 0` (no limit).
pub struct IssueLimit {
    bucket: Option<Bucket>,
    window: Duration,
}

/// The user is past the limit: try again after `wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub wait: Duration,
}

/// What [`IssueLimit::charge`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged {
    /// Within the limit: go on.
    Yes,
    /// Past it; `note` is true for the first refusal of the window (the
    /// one to record).
    No { limited: Limited, note: bool },
}

impl IssueLimit {
    pub fn new(per_user: u32, window_seconds: u32) -> IssueLimit {
        let window = Duration::from_secs(window_seconds.max(1).into());
        IssueLimit {
            bucket: (per_user > 0).then(|| Bucket {
                capacity: per_user,
                refill: window / per_user,
            }),
            window,
        }
    }

    /// Charges one issue (or changed answer) to `user` (lower-case e-mail)
    /// at `now_ms`.
    pub async fn charge(&self, store: &dyn Throttle, user: &str, now_ms: i64) -> Result<Charged> {
        let Some(bucket) = self.bucket else {
            return Ok(Charged::Yes);
        };
        let Some(wait) = store
            .take(&format!("issue:user:{user}"), bucket, 1, now_ms)
            .await?
        else {
            return Ok(Charged::Yes);
        };
        // One token per window: the first refusal takes it.
        let once = Bucket {
            capacity: 1,
            refill: self.window,
        };
        let note = store
            .take(&format!("issue:noted:{user}"), once, 1, now_ms)
            .await?
            .is_none();
        Ok(Charged::No {
            limited: Limited { wait },
            note,
        })
    }

    /// The limit, for messages: (count, window).
    pub fn describe(&self) -> (u32, Duration) {
        (self.bucket.map_or(0, |b| b.capacity), self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_one_issue_per_share_of_the_window() {
        let limit = IssueLimit::new(20, 3600);
        assert_eq!(
            limit.bucket,
            Some(Bucket {
                capacity: 20,
                refill: Duration::from_secs(180)
            })
        );
        assert_eq!(IssueLimit::new(0, 3600).bucket, None);
    }
}
