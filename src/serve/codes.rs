//! One-time sign-in codes: made for a user (by `aspen invite`, the demo and
//! the User Enrollment page), stored under a keyed hash (never the code),
//! and redeemed once by [`super::service::Service::redeem_code`].

use super::service::DEVICE_CODE_SECONDS;
use crate::audit;
use crate::error::{Error, Result};
use crate::store::{Invite, Store};
use crate::tokens::{Keys, normalize_code};

/// A one-time code made for `user`, not yet stored: what `aspen invite`
/// prints before it stores it (output first: a code nobody saw is never
/// stored).
pub struct NewCode {
    pub code: String,
    pub expires: i64,
    lookup: Vec<u8>,
    invite: Invite,
}

impl NewCode {
    pub fn make(keys: &Keys, user: &str, ttl: i64) -> Result<NewCode> {
        let expires = audit::now() + ttl;
        let id = crate::tokens::b64url(&crate::tokens::random(12)?);
        let code = keys.code(user, &id, expires);
        let normalized = normalize_code(&code)
            .ok_or_else(|| Error::invalid("internal: a generated code did not normalise"))?;
        Ok(NewCode {
            lookup: keys.code_lookup(&normalized).to_vec(),
            invite: Invite {
                id,
                user: user.to_ascii_lowercase(),
                expires,
            },
            code,
            expires,
        })
    }

    /// Stores the code: from now on it signs its user in, once.
    pub async fn store(self, store: &dyn Store) -> Result<()> {
        store.add_code(self.lookup, self.invite, audit::now()).await
    }
}

/// Creates and stores a one-time code for `user` (`--demo` and the User
/// Enrollment page); the store deletes expired ones.
pub async fn create_code(
    keys: &Keys,
    store: &dyn Store,
    user: &str,
    ttl: i64,
) -> Result<(String, i64)> {
    let new = NewCode::make(keys, user, ttl)?;
    let (code, expires) = (new.code.clone(), new.expires);
    new.store(store).await?;
    Ok((code, expires))
}

/// The code the User Enrollment page shows `user`: the same one on every
/// visit while it has at least half of its [`DEVICE_CODE_SECONDS`] left
/// and is unused, so reloading the page adds no invite; else a new one.
pub async fn page_code(keys: &Keys, store: &dyn Store, user: &str) -> Result<(String, i64)> {
    let now = audit::now();
    let reusable = store
        .unused_code(
            user,
            now + DEVICE_CODE_SECONDS / 2,
            now + DEVICE_CODE_SECONDS,
        )
        .await?;
    match reusable {
        // A code is a MAC of its invite: it is computed again, never stored.
        Some(invite) => Ok((
            keys.code(&invite.user, &invite.id, invite.expires),
            invite.expires,
        )),
        None => create_code(keys, store, user, DEVICE_CODE_SECONDS).await,
    }
}
