//! Small HTTP helpers shared by the handlers: cookies, CSRF, redirects, the
//! client address, and the profile download response.

use super::proxy::ClientAddr;
use super::service::{Issued, Service};
use crate::settings::PortalAuth;
use crate::tokens::{Purpose, same};
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

/// How long a pre-session (the CSRF binding before sign-in) lasts.
const PRE_SESSION_SECONDS: i64 = 12 * 60 * 60;

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

/// A signed-in portal session (auth = "code"): who, and the key it is
/// stored under (to end it).
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub lookup: [u8; 32],
}

/// The session the request's cookie names, if its MAC and expiry hold (no
/// I/O for a forged one) and the store says it is live (not signed out).
pub async fn session(svc: &Service, headers: &HeaderMap) -> Option<Session> {
    if svc.portal.auth != PortalAuth::Code {
        return None;
    }
    let token = cookie(headers, session_cookie(svc))?;
    let now = crate::audit::now();
    let claims = svc.keys.verify(Purpose::Session, token, now).ok()?;
    let lookup = svc.keys.session_lookup(token);
    match svc.store.session_user(lookup.to_vec(), now).await {
        Ok(Some(user)) if user.eq_ignore_ascii_case(&claims.user) => Some(Session {
            user: claims.user,
            lookup,
        }),
        Ok(_) => None,
        Err(e) => {
            tracing::error!("reading a session: {e}");
            None
        }
    }
}

/// CSRF protection with server-issued bindings: a form's token is a MAC of
/// the signed-in session (auth = "code"), or else of a pre-session cookie
/// the server issued (a MAC'd, expiring value: one a client makes up is
/// replaced, never used) together with the user a trusted header names.
/// A cross-site page can neither read the binding nor compute the MAC;
/// `SameSite=Strict`, `__Host-` names under https and the Origin check of
/// every POST ([`refuse`]) keep sibling sites out too.
pub struct Csrf {
    /// The token to put in forms; `None` if it could not be made (then no
    /// form is accepted).
    token: Option<String>,
    /// Set when the browser had no (valid) pre-session cookie yet.
    pub set_cookie: Option<HeaderValue>,
    /// The signed-in session the token is bound to.
    pub session: Option<Session>,
}

impl Csrf {
    pub async fn for_request(svc: &Service, headers: &HeaderMap) -> Csrf {
        let keys = &svc.keys;
        if let Some(session) = session(svc, headers).await {
            let binding = format!("s:{}", crate::hex::lower(&session.lookup));
            return Csrf {
                token: Some(keys.csrf(&binding)),
                set_cookie: None,
                session: Some(session),
            };
        }
        let now = crate::audit::now();
        let (pre, set_cookie) = match cookie(headers, csrf_cookie(svc))
            .filter(|v| keys.verify(Purpose::PreSession, v, now).is_ok())
        {
            Some(pre) => (Some(pre.to_owned()), None),
            None => {
                let pre = keys
                    .issue(Purpose::PreSession, "", now + PRE_SESSION_SECONDS)
                    .ok();
                let set = pre
                    .as_ref()
                    .map(|p| cookie_header(csrf_cookie(svc), p, Some(PRE_SESSION_SECONDS)));
                (pre, set)
            }
        };
        // Behind a proxy the header names the user: bind to them too, so a
        // token made for one user never passes for another.
        let user = match &svc.portal.auth {
            PortalAuth::Header(name) => headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase(),
            PortalAuth::Code => String::new(),
        };
        Csrf {
            token: pre.map(|p| keys.csrf(&format!("p:{p}:{user}"))),
            set_cookie,
            session: None,
        }
    }

    /// The token for this page's forms.
    pub fn token(&self) -> String {
        self.token.clone().unwrap_or_default()
    }

    /// Whether a form's token matches this browser's binding.
    pub fn check(&self, form_token: &str) -> bool {
        self.set_cookie.is_none()
            && self
                .token
                .as_ref()
                .is_some_and(|t| same(t.as_bytes(), form_token.as_bytes()))
    }
}

/// Behind an authenticating proxy (auth = "header"): a request carrying the
/// trusted header more than once is refused with 400 before any handler
/// sees it. A proxy that appends its value instead of replacing the
/// client's would otherwise let the client's own value be read first.
fn doubled_trusted_header(svc: &Service, req: &axum::extract::Request) -> Option<Response> {
    let PortalAuth::Header(name) = &svc.portal.auth else {
        return None;
    };
    req.headers().get_all(name.as_str()).iter().nth(1)?;
    Some(
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "The sign-in header arrived more than once.\n",
        )
            .into_response(),
    )
}

/// The answer to a request refused before routing, if it is: a doubled
/// trusted header, or a form from another origin.
pub fn refuse(svc: &Service, req: &axum::extract::Request) -> Option<Response> {
    doubled_trusted_header(svc, req).or_else(|| other_origin(svc, req))
}

/// Every request that can change something (anything but GET, HEAD and
/// OPTIONS) must come from the portal's own origin when it says where it
/// comes from: `Origin`, else `Referer`, must be `public_url`. Browsers
/// send `Origin` on every such request (`null` under a no-referrer policy,
/// which is refused); devices and scripts, which send neither, cannot be
/// made to carry a user's cookies and pass.
fn other_origin(svc: &Service, req: &axum::extract::Request) -> Option<Response> {
    use axum::http::Method;
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let own = svc.portal.public_url.as_str();
    let headers = req.headers();
    let ok = match (headers.get(header::ORIGIN), headers.get(header::REFERER)) {
        (Some(origin), _) => origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(own)),
        (None, Some(referer)) => referer.to_str().is_ok_and(|r| {
            r.get(..own.len())
                .is_some_and(|o| o.eq_ignore_ascii_case(own))
                && matches!(r.as_bytes().get(own.len()), None | Some(b'/' | b'?' | b'#'))
        }),
        (None, None) => true,
    };
    if ok {
        return None;
    }
    tracing::info!(
        origin = ?headers.get(header::ORIGIN),
        referer = headers.get(header::REFERER).is_some(),
        "refused a form from another origin"
    );
    Some(
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "This form did not come from this site.\n",
        )
            .into_response(),
    )
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
