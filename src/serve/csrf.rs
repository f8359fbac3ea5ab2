//! Cross-site request forgery: every form carries a token bound to this
//! browser (see [`Csrf`]), checked once by the
//! [`Checked`](super::form::Checked) extractor, and
//! every request that can change something is refused when it says it
//! comes from another origin ([`refuse`]).

use super::service::Service;
use super::session::{Session, session};
use super::web::{cookie, cookie_header, csrf_cookie};
use crate::settings::PortalAuth;
use crate::tokens::{Purpose, same};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How long a pre-session (the CSRF binding before sign-in) lasts.
const PRE_SESSION_SECONDS: i64 = 12 * 60 * 60;

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
    /// The browser brought a session cookie whose MAC holds, but the store
    /// could not say whether it is live: pages that need a signed-in user
    /// answer `503`, never "sign in" (see [`super::pages::unavailable`]).
    pub unavailable: bool,
}

impl Csrf {
    pub async fn for_request(svc: &Service, headers: &HeaderMap) -> Csrf {
        let keys = &svc.keys;
        let unavailable = match session(svc, headers).await {
            Ok(Some(session)) => {
                let binding = format!("s:{}", crate::hex::lower(&session.lookup));
                return Csrf {
                    token: Some(keys.csrf(&binding)),
                    set_cookie: None,
                    session: Some(session),
                    unavailable: false,
                };
            }
            Ok(None) => false,
            Err(e) => {
                tracing::error!("reading a session: {e}");
                true
            }
        };
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
            PortalAuth::Code | PortalAuth::Oidc => String::new(),
        };
        Csrf {
            token: pre.map(|p| keys.csrf(&format!("p:{p}:{user}"))),
            set_cookie,
            session: None,
            unavailable,
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

/// Every handler that reads a page's forms gets this browser's [`Csrf`]
/// by asking for it.
impl axum::extract::FromRequestParts<std::sync::Arc<Service>> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        svc: &std::sync::Arc<Service>,
    ) -> Result<Csrf, Self::Rejection> {
        Ok(Csrf::for_request(svc, &parts.headers).await)
    }
}
