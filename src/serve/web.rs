//! Small HTTP helpers shared by the handlers: cookies, CSRF, redirects, the
//! client address, and the profile download response.

use super::service::{Issued, Service};
use super::tokens::{Keys, b64url, random, same};
use crate::settings::PortalAuth;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "aspen_session";
pub const CSRF_COOKIE: &str = "aspen_csrf";

/// Apple: the MIME type of a configuration profile download.
pub const PROFILE_CONTENT_TYPE: &str = "application/x-apple-aspen-config";

/// The value of cookie `name` in the request, if present.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: never readable by script, never sent over plain
/// http (browsers treat loopback as secure), never sent cross-site.
pub fn cookie_header(name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn expired_cookie(name: &str) -> HeaderValue {
    cookie_header(name, "", Some(0))
}

/// `303 See Other` to `to` (after a form POST, the browser GETs `to`).
pub fn see_other(to: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
}

/// Signed double-submit CSRF protection: a random cookie per browser, and
/// in each form the HMAC of it. A cross-site page can neither read the
/// cookie nor compute the MAC; SameSite=Strict keeps the cookie home too.
pub struct Csrf {
    /// The token to put in forms; `None` if it could not be made (then no
    /// form is accepted).
    token: Option<String>,
    /// Set when the browser had no (valid) CSRF cookie yet.
    pub set_cookie: Option<HeaderValue>,
}

impl Csrf {
    pub fn for_request(keys: &Keys, headers: &HeaderMap) -> Csrf {
        match cookie(headers, CSRF_COOKIE).filter(|v| {
            v.len() == 22
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) {
            Some(binding) => Csrf {
                token: keys.csrf(binding).ok(),
                set_cookie: None,
            },
            None => {
                let binding = random(16).map(|r| b64url(&r)).ok();
                Csrf {
                    token: binding.as_ref().and_then(|b| keys.csrf(b).ok()),
                    set_cookie: binding.map(|b| cookie_header(CSRF_COOKIE, &b, None)),
                }
            }
        }
    }

    /// The token for this page's forms.
    pub fn token(&self) -> String {
        self.token.clone().unwrap_or_default()
    }

    /// Whether a form's token matches this browser's cookie.
    pub fn check(&self, form_token: &str) -> bool {
        self.set_cookie.is_none()
            && self
                .token
                .as_ref()
                .is_some_and(|t| same(t.as_bytes(), form_token.as_bytes()))
    }
}

pub fn csrf_failed(svc: &Service, csrf: &Csrf) -> Response {
    super::portal::message(
        svc,
        None,
        csrf,
        StatusCode::FORBIDDEN,
        "Please try again",
        "This form expired or did not come from this site. Go back, reload the page and try again.",
        Some(("/", "Start again")),
    )
}

/// Behind an authenticating proxy (auth = "header"): a request carrying the
/// trusted header more than once is refused with 400 before any handler
/// sees it. A proxy that appends its value instead of replacing the
/// client's would otherwise let the client's own value be read first.
pub async fn one_trusted_header(
    axum::extract::State(svc): axum::extract::State<std::sync::Arc<Service>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let PortalAuth::Header(name) = &svc.portal.auth
        && req.headers().get_all(name.as_str()).iter().nth(1).is_some()
    {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "The sign-in header arrived more than once.\n",
        )
            .into_response();
    }
    next.run(req).await
}

/// The client's address for the audit log: the peer, or behind an
/// authenticating proxy (auth = "header") the address it appended last to
/// `X-Forwarded-For`.
pub fn client(svc: &Service, headers: &HeaderMap, peer: &SocketAddr) -> Option<String> {
    if let PortalAuth::Header(_) = svc.portal.auth
        && let Some(last) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| s.parse::<std::net::IpAddr>().is_ok())
    {
        return Some(last.to_owned());
    }
    Some(peer.ip().to_string())
}

/// The profile as a download: Apple's MIME type, an attachment with a safe
/// file name (built from the validated organisation identifier and the kind,
/// never from request input), an explicit length, no sniffing, no caching.
pub fn profile_response(svc: &Service, issued: &Issued) -> Response {
    let name = format!(
        "{}.{}.mobileconfig",
        svc.settings.organization.identifier,
        issued.kind.slug()
    );
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(PROFILE_CONTENT_TYPE),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::CONTENT_LENGTH,
                HeaderValue::from(issued.bytes.len()),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        issued.bytes.clone(),
    )
        .into_response()
}
