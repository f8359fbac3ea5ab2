//! Apple's account-driven enrollment, "simple authentication" flow
//! (Apple: Device Management, "Implementing the simple authentication
//! account-driven enrollment flow"; "Get .well-known/com.apple.remotemanagement";
//! `ErrorWellKnownFailed`):
//!
//! 1. `GET /.well-known/com.apple.remotemanagement?user-identifier=…&model-family=…`
//!    → `{"Servers":[{"Version":"mdm-byod"|"mdm-adde","BaseURL":…}]}`.
//! 2. `POST BaseURL` (the device's signed request) without credentials →
//!    `401` `WWW-Authenticate: Bearer method="apple-as-web", url="…"`.
//! 3. The device opens `url` with `user-identifier` appended; after sign-in
//!    the server answers `308` to
//!    `apple-remotemanagement-user-login://authentication-results?access-token=…`.
//! 4. `POST BaseURL` with `Authorization: Bearer <access-token>` → the
//!    enrollment profile, `application/x-apple-aspen-config`.

use super::pages::SignIn;
use super::portal::{BAD_CODE, CodeForm, signed_in};
use super::service::{ACCESS_SECONDS, Plan, Service};
use super::tokens::Purpose;
use super::web::{self, Csrf, client};
use crate::audit::{self, Source};
use crate::model::policy::Choice;
use crate::model::{Channel, Management};
use crate::settings::PortalAuth;
use axum::Form;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// The enrollment endpoint (`BaseURL`) and the web sign-in page, under the
/// public URL.
pub const ENROLL_PATH: &str = "/account-driven/enroll";
pub const LOGIN_PATH: &str = "/account-driven/login";
/// Apple's callback for the `apple-as-web` method.
const CALLBACK: &str = "apple-remotemanagement-user-login://authentication-results?access-token=";

type Svc = State<Arc<Service>>;

#[derive(serde::Deserialize)]
pub struct WellKnownQuery {
    #[serde(rename = "user-identifier", default)]
    user_identifier: String,
}

/// Apple's `ErrorWellKnownFailed` (a 403 with a JSON body and its
/// Content-Type): the device shows `message`. The same answer for every
/// reason, so the endpoint does not tell who is in the directory.
fn well_known_failed(svc: &Service) -> Response {
    let body = serde_json::json!({
        "code": "com.apple.well-known.failed",
        "description": "No account-driven enrollment is available for this user-identifier.",
        "message": format!(
            "This account cannot enroll with {}. Contact your IT department.",
            svc.org()
        ),
    });
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

/// Step 1: service discovery. The version follows the user's policy: User
/// Enrollment ⇒ `mdm-byod`, device ⇒ `mdm-adde`; under user-choice, the
/// answer recorded in the portal, else `mdm-byod`.
pub async fn well_known(State(svc): Svc, Query(q): Query<WellKnownQuery>) -> Response {
    let Some(user) = svc.user_by_identifier(&q.user_identifier).await else {
        return well_known_failed(&svc);
    };
    let plan = match svc.plan(&user, Some(Choice::Work)).await {
        Ok(plan) => plan,
        Err(e) => {
            tracing::error!("{e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let version = match plan {
        Plan::Enroll {
            management: Management::User,
            ..
        } => "mdm-byod",
        // ADDE carries the user's Managed Apple ID (AssignedManagedAppleID).
        Plan::Enroll {
            management: Management::Device(_),
            ..
        } if user.managed_apple_id.is_some() => "mdm-adde",
        _ => return well_known_failed(&svc),
    };
    axum::Json(serde_json::json!({
        "Servers": [{
            "Version": version,
            "BaseURL": format!("{}{ENROLL_PATH}", svc.portal.public_url),
        }]
    }))
    .into_response()
}

/// Step 2's answer (and step 4's for a bad token): send the device to the
/// web sign-in.
fn challenge(svc: &Service) -> Response {
    let value = format!(
        "Bearer method=\"apple-as-web\", url=\"{}{LOGIN_PATH}\"",
        svc.portal.public_url
    );
    let mut res = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// Steps 2 and 4: the enrollment endpoint. The body (the device's signed
/// request) is read, capped, and not needed: the token says who it is for.
pub async fn enroll(
    State(svc): Svc,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    _body: Bytes,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(claims) = token.and_then(|t| svc.keys.verify(Purpose::Access, t, audit::now()).ok())
    else {
        return challenge(&svc);
    };
    let Some(user) = svc.user_by_email(&claims.user).await else {
        return challenge(&svc);
    };
    let plan = match svc.plan(&user, Some(Choice::Work)).await {
        Ok(plan) => plan,
        Err(e) => {
            tracing::error!("{e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let Plan::Enroll { policy, choice, .. } = plan else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let enrollment =
        match svc.enrollment(&user, choice.or(Some(Choice::Work)), Channel::AccountDriven) {
            Ok(e) => e,
            Err(_) => return StatusCode::FORBIDDEN.into_response(),
        };
    let client = client(&svc, &headers, &peer);
    match svc
        .issue(
            &user,
            &policy.name,
            enrollment,
            Source::AccountDriven,
            client,
        )
        .await
    {
        Ok(issued) => web::profile_response(&svc, &issued),
        Err(e) => {
            tracing::error!("{e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Step 3's success: `308` to Apple's callback with a fresh access token.
fn authenticated(svc: &Service, email: &str) -> Response {
    match svc
        .keys
        .issue(Purpose::Access, email, audit::now() + ACCESS_SECONDS)
    {
        Ok(token) => {
            let location = format!("{CALLBACK}{token}");
            match HeaderValue::from_str(&location) {
                Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
                Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
            }
        }
        Err(e) => {
            tracing::error!("{e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "user-identifier", default)]
    user_identifier: String,
}

fn login_form(
    svc: &Service,
    csrf: &Csrf,
    identifier: &str,
    status: StatusCode,
    error: Option<&'static str>,
) -> Response {
    let mut res = (
        status,
        SignIn {
            chrome: super::pages::Chrome {
                org: svc.org().to_owned(),
                user: None,
                csrf: csrf.token(),
            },
            action: LOGIN_PATH,
            user_identifier: Some(identifier.to_owned()),
            error,
        },
    )
        .into_response();
    if let Some(c) = &csrf.set_cookie {
        res.headers_mut().append(header::SET_COOKIE, c.clone());
    }
    res
}

fn wrong_account(svc: &Service, csrf: &Csrf) -> Response {
    super::portal::message(
        svc,
        None,
        csrf,
        StatusCode::FORBIDDEN,
        "Wrong account",
        "You are signed in as someone else than the account this device is enrolling. Use your own Managed Apple Account.",
        None,
    )
}

/// Step 3: the sign-in page the device opens (in a web authentication
/// sheet) with `user-identifier` appended.
pub async fn login_page(
    State(svc): Svc,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    let Some(target) = svc.user_by_identifier(&q.user_identifier).await else {
        return super::portal::message(
            &svc,
            None,
            &csrf,
            StatusCode::FORBIDDEN,
            "Account not found",
            format!(
                "This account cannot enroll with {}. Contact your IT department.",
                svc.org()
            ),
            None,
        );
    };
    if let PortalAuth::Header(_) = svc.portal.auth {
        // The authenticating proxy has already said who this is.
        return match signed_in(&svc, &headers).await {
            Some(user) if user.email == target.email => authenticated(&svc, &user.email),
            _ => wrong_account(&svc, &csrf),
        };
    }
    login_form(&svc, &csrf, &q.user_identifier, StatusCode::OK, None)
}

/// Step 3, code sign-in: the code must belong to the enrolling account.
pub async fn login(State(svc): Svc, headers: HeaderMap, Form(form): Form<CodeForm>) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    if !csrf.check(&form.csrf) {
        return web::csrf_failed(&svc, &csrf);
    }
    let identifier = form.user_identifier.unwrap_or_default();
    let Some(target) = svc.user_by_identifier(&identifier).await else {
        return wrong_account(&svc, &csrf);
    };
    if svc.portal.auth != PortalAuth::Code {
        return wrong_account(&svc, &csrf);
    }
    match svc
        .redeem_code(&form.code, Some(target.email.clone()))
        .await
    {
        Ok(Some(email)) => authenticated(&svc, &email),
        Ok(None) => login_form(
            &svc,
            &csrf,
            &identifier,
            StatusCode::UNAUTHORIZED,
            Some(BAD_CODE),
        ),
        Err(e) => {
            tracing::error!("{e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
