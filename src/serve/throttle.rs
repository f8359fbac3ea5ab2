//! Throttling failed sign-ins (one-time codes on `/signin` and
//! `/account-driven/login`), with token buckets kept in the store so every
//! replica counts the same failures. Every attempt is charged *before* its
//! code is checked, by one atomic take per bucket (a read followed by a
//! later write let a burst of wrong codes sent at one instant all be
//! checked); the charge is given back when the code was right, so only
//! failures cost in the end.
//!
//! - **Per client address** (an IPv6 client by its /64, which one host
//!   typically owns whole): `signin_failures_per_address` failures, then
//!   one more per [`ADDRESS_REFILL`]. Past it the address gets `429` with
//!   `Retry-After` on every sign-in, right code or not — so guesses from
//!   one source collapse to one per [`ADDRESS_REFILL`].
//! - **Per target user**, only where the request names the user it is for
//!   (`/account-driven/login?user-identifier=…`; a code typed on `/signin`
//!   names nobody): `signin_failures_per_user` failures (a larger budget),
//!   then one per [`USER_REFILL`]. Past it, only addresses that themselves
//!   failed in the last [`MARK_SECONDS`] are refused: the user, typing the
//!   right code from their own phone, is never locked out by someone
//!   else's guessing, while a distributed guesser gets at most one try per
//!   fresh address.

use super::proxy::ClientAddr;
use crate::error::Result;
use crate::store::{Bucket, Throttle};
use std::net::IpAddr;
use std::time::Duration;

/// One failure back per this long, per address.
pub const ADDRESS_REFILL: Duration = Duration::from_secs(6);
/// One failure back per this long, per user.
pub const USER_REFILL: Duration = Duration::from_secs(120);
/// How long an address counts as "failing recently" for a user's bucket.
pub const MARK_SECONDS: u64 = 600;

/// Now, in Unix milliseconds (the buckets' clock).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The message a throttled sign-in shows.
pub const THROTTLED: &str =
    "Too many failed sign-ins from your network. Wait a minute, then try again with your code.";

/// `429 Too Many Requests` with `Retry-After` (whole seconds, rounded up)
/// added to `res`.
pub fn too_many(mut res: axum::response::Response, wait: Duration) -> axum::response::Response {
    *res.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
    let secs = wait.as_millis().div_ceil(1000).max(1);
    if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    res
}

/// The budgets (`[serve]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    pub per_address: u32,
    pub per_user: u32,
}

/// What a sign-in attempt is, for the throttle.
pub struct Attempt<'a> {
    pub client: ClientAddr,
    /// The user the request names (lower-case e-mail), where it names one.
    pub target: Option<&'a str>,
}

/// The bucket key of a client: its address, or an IPv6 address's /64.
fn source(client: ClientAddr) -> String {
    match client.0 {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => {
            let s = ip.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

pub struct Throttler {
    budgets: Budgets,
}

impl Throttler {
    pub fn new(budgets: Budgets) -> Throttler {
        Throttler { budgets }
    }

    fn address(&self) -> Bucket {
        Bucket {
            capacity: self.budgets.per_address.max(1),
            refill: ADDRESS_REFILL,
        }
    }

    fn user(&self) -> Bucket {
        Bucket {
            capacity: self.budgets.per_user.max(1),
            refill: USER_REFILL,
        }
    }

    /// A one-token bucket that is empty for [`MARK_SECONDS`] after a failure.
    fn mark() -> Bucket {
        Bucket {
            capacity: 1,
            refill: Duration::from_secs(MARK_SECONDS),
        }
    }

    /// Charges an attempt before its code is checked: one atomic take from
    /// each bucket it draws on, so that of any number of attempts sent at
    /// the same instant no more than the budget get their code checked.
    /// `Err` with how long to wait when a bucket it needs is empty (then
    /// nothing stays charged). [`Throttler::refund`] gives the charge back
    /// when the code was right; [`Throttler::failed`] keeps it.
    pub async fn charge(
        &self,
        store: &dyn Throttle,
        attempt: &Attempt<'_>,
        now_ms: i64,
    ) -> Result<Result<Charge, Duration>> {
        let src = source(attempt.client);
        let address = format!("signin:addr:{src}");
        if let Some(wait) = store.take(&address, self.address(), 1, now_ms).await? {
            return Ok(Err(wait));
        }
        let mut charge = Charge {
            user: false,
            mark: false,
        };
        if let Some(user) = attempt.target {
            match store
                .take(&format!("signin:user:{user}"), self.user(), 1, now_ms)
                .await?
            {
                None => charge.user = true,
                // The account's budget is spent: only an address that has
                // not failed lately may try, and trying marks it.
                Some(wait) => {
                    let mark = format!("signin:mark:{src}");
                    if store.take(&mark, Self::mark(), 1, now_ms).await?.is_some() {
                        store.give(&address, self.address(), 1, now_ms).await?;
                        return Ok(Err(wait));
                    }
                    charge.mark = true;
                }
            }
        }
        Ok(Ok(charge))
    }

    /// The code was right: the attempt's charge is given back (a right
    /// code never costs).
    pub async fn refund(
        &self,
        store: &dyn Throttle,
        attempt: &Attempt<'_>,
        charge: Charge,
        now_ms: i64,
    ) -> Result<()> {
        let src = source(attempt.client);
        store
            .give(&format!("signin:addr:{src}"), self.address(), 1, now_ms)
            .await?;
        if let Some(user) = attempt.target
            && charge.user
        {
            store
                .give(&format!("signin:user:{user}"), self.user(), 1, now_ms)
                .await?;
        }
        if charge.mark {
            store
                .give(&format!("signin:mark:{src}"), Self::mark(), 1, now_ms)
                .await?;
        }
        Ok(())
    }

    /// The code was wrong: the charge stands, the address counts as
    /// failing lately ([`MARK_SECONDS`]); warns when an address or an
    /// account has used up its budget.
    pub async fn failed(
        &self,
        store: &dyn Throttle,
        attempt: &Attempt<'_>,
        charge: Charge,
        now_ms: i64,
    ) -> Result<()> {
        let src = source(attempt.client);
        if !charge.mark {
            store
                .take(&format!("signin:mark:{src}"), Self::mark(), 1, now_ms)
                .await?;
        }
        let key = format!("signin:addr:{src}");
        if store.take(&key, self.address(), 0, now_ms).await?.is_some() {
            tracing::warn!(
                client = %attempt.client,
                "{} failed sign-ins from this address: throttled (one more every {} s)",
                self.budgets.per_address,
                ADDRESS_REFILL.as_secs()
            );
        }
        if let Some(user) = attempt.target {
            let key = format!("signin:user:{user}");
            if charge.user && store.take(&key, self.user(), 0, now_ms).await?.is_some() {
                tracing::warn!(
                    client = %attempt.client,
                    "{} failed sign-ins for one account: addresses that keep failing are throttled for it",
                    self.budgets.per_user
                );
            }
        }
        Ok(())
    }
}

/// What [`Throttler::charge`] took besides the address's token: to give
/// back when the code was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a charge is refunded or kept as a failure"]
pub struct Charge {
    /// A token of the named account's bucket.
    user: bool,
    /// The address's mark (taken when the account's budget was spent).
    mark: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_their_64() {
        let a = ClientAddr("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = ClientAddr("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = ClientAddr("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(source(a), source(b));
        assert_ne!(source(a), source(c));
        assert_eq!(
            source(ClientAddr("192.0.2.7".parse().unwrap())),
            "192.0.2.7"
        );
    }
}
