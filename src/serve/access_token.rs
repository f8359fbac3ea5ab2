//! The access tokens of account-driven enrollment (Apple's `apple-as-web`
//! flow: the sign-in page hands one to the device, which sends it back as
//! `Authorization: Bearer …` with its enrollment request). A token is good
//! for [`ACCESS_SECONDS`] and for one enrollment: the first request that
//! uses it spends it, in the store (so on every replica), and any later use
//! is sent to sign in again. The one allowance: the same token asking for
//! the same profile again within `[serve] download_repeat_window` (a device
//! retrying after a lost answer) gets the same bytes back, from the server
//! that answered first, without spending anything.

use super::service::Service;
use crate::error::Result;
use crate::store::Bucket;
use std::time::Duration;

/// How long an access token is good for: the device uses it within
/// seconds.
pub const ACCESS_SECONDS: i64 = 15 * 60;

/// Spends `token`: true for the first use, false for any later one. The
/// store remembers it (under a keyed hash, never the token) as a bucket of
/// one token that refills only after the token itself has expired.
pub async fn spend(svc: &Service, token: &str) -> Result<bool> {
    let key = format!(
        "access:spent:{}",
        crate::hex::lower(&svc.keys.access_lookup(token))
    );
    let once = Bucket {
        capacity: 1,
        refill: Duration::from_secs(ACCESS_SECONDS.unsigned_abs()),
    };
    let spent = svc
        .store
        .take(&key, once, 1, super::throttle::now_ms())
        .await?;
    Ok(spent.is_none())
}
