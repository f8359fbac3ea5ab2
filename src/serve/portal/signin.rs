//! Signing in and out of the portal: a one-time code (auth = "code"), the
//! authenticating proxy's header (auth = "header").
#![allow(clippy::result_large_err)]

use super::super::csrf::Csrf;
use super::super::form::{Checked, CsrfField};
use super::super::pages::{SignIn, chrome, internal, message, page};
use super::super::proxy::ClientAddr;
use super::super::service::SESSION_SECONDS;
use super::super::service::Service;
use super::super::session::user_of;
use super::super::throttle::{Attempt, THROTTLED, now_ms, too_many};
use super::super::web::see_other;
use super::super::web::{self, cookie_header, expired_cookie};
use super::{Svc, require};
use crate::audit;
use crate::model::directory::User;
use crate::settings::PortalAuth;
use crate::tokens::Purpose;
use axum::extract::Extension;
use axum::extract::State;
use axum::http::header;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

pub async fn signin_page(State(svc): Svc, csrf: Csrf, headers: HeaderMap) -> Response {
    if user_of(&svc, &headers, csrf.session.as_ref())
        .await
        .is_some()
    {
        return see_other("/access");
    }
    if let PortalAuth::Header(_) = svc.portal.auth {
        return require(&svc, &headers, &csrf)
            .await
            .err()
            .unwrap_or_else(|| see_other("/access"));
    }
    if svc.portal.auth == PortalAuth::Oidc {
        return super::super::oidc::begin(&svc, &csrf, super::super::oidc::flow::Target::Portal);
    }
    page(
        StatusCode::OK,
        &csrf,
        SignIn {
            chrome: chrome(&svc, None, &csrf),
            action: "/signin",
            user_identifier: None,
            error: None,
        },
    )
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub user_identifier: Option<String>,
}

impl CsrfField for CodeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

pub const BAD_CODE: &str =
    "That code is not valid. A code works once and expires; ask your IT department for a new one.";

pub async fn signin(
    State(svc): Svc,
    Extension(peer): Extension<ClientAddr>,
    Checked { csrf, form }: Checked<CodeForm>,
) -> Response {
    if svc.portal.auth != PortalAuth::Code {
        return see_other("/access");
    }
    let signin_page = |status, error| {
        page(
            status,
            &csrf,
            SignIn {
                chrome: chrome(&svc, None, &csrf),
                action: "/signin",
                user_identifier: None,
                error: Some(error),
            },
        )
    };
    // A code typed here names no user: only the address is throttled.
    let attempt = Attempt {
        client: peer,
        target: None,
    };
    let user = match redeem_charged(&svc, &attempt, &form.code).await {
        Ok(Ok(user)) => user,
        Ok(Err(NotSignedIn::Throttled(wait))) => {
            return too_many(signin_page(StatusCode::OK, THROTTLED), wait);
        }
        Ok(Err(NotSignedIn::WrongCode)) => return signin_page(StatusCode::UNAUTHORIZED, BAD_CODE),
        Err(e) => return internal(&svc, &csrf, e),
    };
    let token = match start_session(&svc, &user.email).await {
        Ok(t) => t,
        Err(e) => return internal(&svc, &csrf, e),
    };
    let mut res = see_other("/access");
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(web::session_cookie(&svc), &token, Some(SESSION_SECONDS)),
    );
    res
}

/// A new session for `email`: a fresh token (never one the browser
/// brought: no fixation), recorded in the store so that signing out ends it
/// on every replica.
async fn start_session(svc: &Service, email: &str) -> crate::Result<String> {
    let expires = audit::now() + SESSION_SECONDS;
    let token = svc.keys.issue(Purpose::Session, email, expires)?;
    let lookup = svc.keys.session_lookup(&token);
    svc.store
        .start_session(lookup.to_vec(), &email.to_ascii_lowercase(), expires)
        .await?;
    Ok(token)
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfField for CsrfForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

pub async fn signout(State(svc): Svc, Checked { csrf, .. }: Checked<CsrfForm>) -> Response {
    // Ended in the store: the old cookie no longer signs anyone in, here
    // or on another replica, even if the browser keeps it.
    if let Some(session) = &csrf.session
        && let Err(e) = svc
            .store
            .end_session(session.lookup.to_vec(), audit::now())
            .await
    {
        return internal(&svc, &csrf, e);
    }
    let idp = super::super::oidc::sign_out_at_idp(&svc, &csrf);
    let mut res = idp.unwrap_or_else(|| {
        message(
            &svc,
            None,
            &csrf,
            StatusCode::OK,
            "Signed out",
            "You are signed out of the enrollment portal.",
            Some(("/signin", "Sign in again")),
        )
    });
    res.headers_mut().append(
        header::SET_COOKIE,
        expired_cookie(web::session_cookie(&svc)),
    );
    res
}

/// Why a typed code signed nobody in.
pub enum NotSignedIn {
    /// The address (or account) has failed too often: wait this long.
    Throttled(std::time::Duration),
    /// Unknown, used, expired or malformed: one answer for all.
    WrongCode,
}

/// A typed one-time code, redeemed as every code form does (the portal's
/// and ADE's web sign-in): charged to `attempt` before the code is checked
/// (so a burst gets no more checks than the budget), the charge given back
/// when the code is right and kept when it is wrong.
pub async fn redeem_charged(
    svc: &Arc<Service>,
    attempt: &Attempt<'_>,
    code: &str,
) -> crate::Result<Result<Arc<User>, NotSignedIn>> {
    let store = svc.store.as_ref();
    let charge = match svc.throttle.charge(store, attempt, now_ms()).await? {
        Ok(charge) => charge,
        Err(wait) => return Ok(Err(NotSignedIn::Throttled(wait))),
    };
    let user = match svc.redeem_code(code, None).await? {
        Some(email) => svc.user_by_email(&email).await,
        None => None,
    };
    let Some(user) = user else {
        svc.throttle
            .failed(store, attempt, charge, now_ms())
            .await?;
        return Ok(Err(NotSignedIn::WrongCode));
    };
    if let Err(e) = svc.throttle.refund(store, attempt, charge, now_ms()).await {
        // The user is signed in all the same; the address keeps the charge.
        tracing::warn!("refunding a sign-in's charge: {e}");
    }
    Ok(Ok(user))
}
