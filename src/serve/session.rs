//! Who a request is from: a live portal session (auth = "code", or after
//! the identity provider's sign-in, auth = "oidc"), or the user a trusted
//! header names (auth = "header"). The one rule every handler uses.

use super::service::Service;
use super::web::{cookie, session_cookie};
use crate::model::directory::User;
use crate::settings::PortalAuth;
use crate::store::IdpClaims;
use crate::tokens::Purpose;
use axum::http::HeaderMap;
use std::sync::Arc;

/// A signed-in portal session (auth = "code" or "oidc"): who, what the
/// identity provider said about them, and the key it is stored under (to
/// end it).
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub lookup: [u8; 32],
    /// All `None` after a code sign-in.
    pub claims: IdpClaims,
}

/// The session the request's cookie names, if its MAC and expiry hold (no
/// I/O for a forged one) and the store says it is live (not signed out).
/// `Err` when the store could not be asked: the caller answers with an
/// error page, never as if nobody were signed in.
pub async fn session(svc: &Service, headers: &HeaderMap) -> crate::Result<Option<Session>> {
    if !matches!(svc.portal.auth, PortalAuth::Code | PortalAuth::Oidc) {
        return Ok(None);
    }
    let Some(token) = cookie(headers, session_cookie(svc)) else {
        return Ok(None);
    };
    let now = crate::audit::now();
    let Ok(claims) = svc.keys.verify(Purpose::Session, token, now) else {
        return Ok(None);
    };
    let lookup = svc.keys.session_lookup(token);
    Ok(match svc.store.session(lookup.to_vec(), now).await? {
        Some((user, idp)) if user.eq_ignore_ascii_case(&claims.user) => Some(Session {
            user: claims.user,
            lookup,
            claims: idp,
        }),
        _ => None,
    })
}

/// The user the request is from: the trusted header (auth = "header") or
/// the live session (auth = "code" or "oidc").
pub async fn signed_in(svc: &Service, headers: &HeaderMap) -> Option<Arc<User>> {
    match &svc.portal.auth {
        PortalAuth::Header(_) => header_user(svc, headers).await,
        PortalAuth::Code | PortalAuth::Oidc => match session(svc, headers).await {
            Ok(session) => {
                let session = session?;
                person(svc, &session.user, &session.claims).await
            }
            Err(e) => {
                tracing::error!("reading a session: {e}");
                None
            }
        },
    }
}

/// The user a session (or an access token) names: the directory's, or,
/// after a sign-in at the identity provider, that merged with what the IdP
/// said (its groups and Managed Apple Account win; see
/// [`crate::identity::user`]).
pub async fn person(svc: &Service, email: &str, claims: &IdpClaims) -> Option<Arc<User>> {
    let listed = svc.user_by_email(email).await;
    if svc.portal.auth != PortalAuth::Oidc {
        return listed;
    }
    crate::identity::user(email, claims, listed.as_deref()).map(Arc::new)
}

async fn header_user(svc: &Service, headers: &HeaderMap) -> Option<Arc<User>> {
    let PortalAuth::Header(name) = &svc.portal.auth else {
        return None;
    };
    let email = headers.get(name.as_str())?.to_str().ok()?.trim().to_owned();
    svc.user_by_email(&email).await
}

/// The signed-in user of a request whose session is already known (its
/// [`super::csrf::Csrf`] read it once).
pub async fn user_of(
    svc: &Service,
    headers: &HeaderMap,
    session: Option<&Session>,
) -> Option<Arc<User>> {
    match session {
        Some(session) => person(svc, &session.user, &session.claims).await,
        None => header_user(svc, headers).await,
    }
}
