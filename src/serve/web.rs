//! Small HTTP helpers shared by the handlers: cookies, CSRF, redirects, the
//! client address, and the profile download response.

use super::proxy::ClientAddr;
use super::service::{Issued, Service};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Cookie names over plain http (loopback tests, `--demo`)…
pub const SESSION_COOKIE: &str = "aspen_session";
pub const CSRF_COOKIE: &str = "aspen_csrf";
/// …and when `public_url` is https: a browser accepts a `__Host-` cookie
/// only from this very origin (Secure, no Domain, Path=/), so a sibling
/// subdomain cannot plant one ("cookie tossing").
pub const HOST_SESSION_COOKIE: &str = "__Host-aspen_session";
pub const HOST_CSRF_COOKIE: &str = "__Host-aspen_csrf";

/// The session cookie's name for this portal.
pub fn session_cookie(svc: &Service) -> &'static str {
    if svc.portal.public_url.starts_with("https://") {
        HOST_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// The pre-session (CSRF) cookie's name for this portal.
pub fn csrf_cookie(svc: &Service) -> &'static str {
    if svc.portal.public_url.starts_with("https://") {
        HOST_CSRF_COOKIE
    } else {
        CSRF_COOKIE
    }
}

/// Apple's callback for the `apple-as-web` method.
const APPLE_CALLBACK: &str =
    "apple-remotemanagement-user-login://authentication-results?access-token=";

/// `308` to Apple's callback with an access token: the end of a device's
/// web sign-in (Apple: "Implementing the simple authentication
/// account-driven enrollment flow", step 3).
pub fn apple_callback(token: &str) -> Response {
    match HeaderValue::from_str(&format!("{APPLE_CALLBACK}{token}")) {
        Ok(v) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

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

/// The client's address for the audit log: by the one rule of
/// [`super::proxy::Proxies::client`] (the peer, or behind a trusted proxy
/// the address it recorded), as in the access log and the throttle.
pub fn client(addr: &ClientAddr) -> Option<String> {
    Some(addr.to_string())
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
