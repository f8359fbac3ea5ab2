//! Account-driven enrollment under auth = "oidc": the access token aspen
//! hands a device after its user signed in at the IdP (`apple-as-web`),
//! with what the IdP said stored under it, and the user an enroll POST's
//! bearer token names — aspen's own token, or, with `apple-oauth2`, the
//! IdP's access token, a JWT verified like an ID token (issuer, audience
//! `[oidc] device_audience`, expiry, signature).

use super::super::access_token::ACCESS_SECONDS;
use super::super::service::Service;
use super::super::session::person;
use crate::identity::{Check, Failure, Provider, SignedIn};
use crate::model::directory::User;
use crate::settings::DeviceMethod;
use crate::tokens::Purpose;
use std::sync::Arc;

/// Verifies `token` with `check` off the runtime's workers (it is a
/// stranger's bytes, and a signature check costs CPU), after reading the
/// IdP's keys again if it names one aspen does not know (key rotation).
pub async fn verified<F>(
    svc: &Service,
    idp: &Arc<Provider>,
    token: String,
    check: F,
) -> Result<SignedIn, Failure>
where
    F: FnOnce(&Provider, String, i64) -> Result<SignedIn, Failure> + Send + 'static,
{
    if token.len() > crate::identity::jose::MAX_TOKEN_BYTES {
        return Err(Failure::Invalid("the token is too long".into()));
    }
    if idp.needs_keys(&token) {
        idp.refetch_keys().await;
    }
    let idp = idp.clone();
    svc.untrusted
        .run(move || check(&idp, token, crate::audit::now()))
        .await
        .map_err(|_| Failure::Unavailable("too many tokens are being checked".into()))?
}

/// aspen's access token for a device whose user signed in at the IdP as
/// `signed`; what the IdP said is stored under it (the store is the truth
/// for every replica the device's next request may reach).
pub async fn access_token(svc: &Service, signed: &SignedIn) -> crate::Result<String> {
    let expires = crate::audit::now() + ACCESS_SECONDS;
    let token = svc.keys.issue(Purpose::Access, &signed.user, expires)?;
    let lookup = svc.keys.session_lookup(&token);
    svc.store
        .start_signed_in(
            lookup.to_vec(),
            &signed.user,
            signed.claims.clone(),
            expires,
        )
        .await?;
    Ok(token)
}

/// The user an enroll POST's bearer token names, under auth = "oidc":
/// aspen's access token with the claims stored for it, or (with
/// `apple-oauth2`) the IdP's access token. `None` sends the device to sign
/// in (again); a token that fails a check is logged.
pub async fn bearer_user(svc: &Service, token: Option<&str>) -> Option<Arc<User>> {
    let token = token?;
    let now = crate::audit::now();
    if let Ok(claims) = svc.keys.verify(Purpose::Access, token, now) {
        let lookup = svc.keys.session_lookup(token);
        return match svc.store.session(lookup.to_vec(), now).await {
            Ok(Some((user, idp))) if user.eq_ignore_ascii_case(&claims.user) => {
                person(svc, &user, &idp).await
            }
            Ok(_) => None,
            Err(e) => {
                tracing::error!("reading an access token's sign-in: {e}");
                None
            }
        };
    }
    let idp = svc.idp.as_ref()?;
    if !matches!(idp.oidc.device, DeviceMethod::AppleOauth2 { .. }) {
        return None;
    }
    match verified(svc, idp, token.to_owned(), |p, t, now| {
        p.verify(&t, Check::AccessToken, now)
    })
    .await
    {
        Ok(signed) => {
            let user = person(svc, &signed.user, &signed.claims).await;
            if user.is_none() {
                tracing::warn!(user = %signed.user, "a device's access token names a user who is not in the directory, and the identity provider sent no groups claim");
            }
            user
        }
        Err(why) => {
            tracing::warn!("a device's access token was refused: {why}");
            None
        }
    }
}
