//! Signing in through the organisation's identity provider (`[portal]
//! auth = "oidc"`): `/signin` and `/account-driven/login` send the browser
//! to the IdP ([`begin`]: authorization code flow, PKCE S256, `state` and
//! `nonce` bound to the browser by [`flow`]'s cookie); the IdP sends it back
//! to `/oidc/callback` ([`callback`]), where the code is exchanged and the
//! ID token verified before any session or access token exists.
//!
//! Every failure of the callback — an IdP `error=`, a missing, wrong or
//! used `state`, a token that fails a check, an unreachable IdP — is a page
//! with a 4xx or 5xx status, one warning line in the log with the reason
//! (never a token or code), and no session; and it counts against the
//! client address as a failed sign-in does ([`super::throttle`]).
#![allow(clippy::result_large_err)]

pub mod device;
pub mod flow;

use super::csrf::Csrf;
use super::pages::{Chrome, chrome, internal, message, page};
use super::proxy::ClientAddr;
use super::service::{SESSION_SECONDS, Service};
use super::session::person;
use super::throttle::{Attempt, now_ms, too_many};
use super::web::{cookie_header, session_cookie};
use crate::identity::{Check, Failure, SignedIn};
use crate::model::check_email;
use crate::store::IdpClaims;
use crate::tokens::Purpose;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flow::{Flow, Target};
use std::sync::Arc;

type Svc = State<Arc<Service>>;

/// The page after a successful portal sign-in: it sets the session cookie
/// and moves on to `next` by itself (a meta refresh, no script). A redirect
/// would not do: the browser came here from the IdP, and a navigation that
/// started on another site does not carry the `SameSite=Strict` session
/// cookie, even to the portal's own next page.
#[derive(Template, WebTemplate)]
#[template(path = "signed_in.html")]
struct SignedInPage {
    chrome: Chrome,
    next: &'static str,
}

/// What the throttled callback says.
const THROTTLED: &str =
    "Too many failed sign-ins from your network. Wait a minute, then sign in again.";

/// Sends the browser to the IdP to sign in for `target`: `303` to the
/// authorization endpoint, with the sign-in's cookie. When the IdP cannot
/// be used, a page that says so (`503`).
pub fn begin(svc: &Service, csrf: &Csrf, target: Target) -> Response {
    let Some(idp) = &svc.idp else {
        return internal(
            svc,
            csrf,
            crate::Error::invalid("auth = \"oidc\" without a provider"),
        );
    };
    if let Err(why) = idp.ready() {
        tracing::warn!("sign-in refused: the identity provider cannot be used: {why}");
        return unavailable(svc, csrf);
    }
    let hint = match &target {
        Target::Device(identifier) => Some(identifier.clone()),
        Target::Portal => None,
    };
    let started = Flow::start(target).and_then(|f| Ok((f.value(&svc.keys)?, f)));
    let (value, flow) = match started {
        Ok(v) => v,
        Err(e) => return internal(svc, csrf, e),
    };
    let keys = &svc.keys;
    let url = match idp.authorization_url(
        &flow.state(keys),
        &flow.nonce(keys),
        &flow.verifier(keys),
        hint.as_deref(),
    ) {
        Ok(url) => url,
        Err(why) => {
            tracing::warn!("sign-in refused: {why}");
            return unavailable(svc, csrf);
        }
    };
    let Ok(location) = HeaderValue::from_str(&url) else {
        return internal(
            svc,
            csrf,
            crate::Error::invalid("the authorization URL is not a header value"),
        );
    };
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, flow::set_cookie(svc, Some(&value)));
    res
}

/// The page of a sign-in that cannot start: the IdP cannot be reached.
fn unavailable(svc: &Service, csrf: &Csrf) -> Response {
    message(
        svc,
        None,
        csrf,
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is unavailable",
        format!(
            "aspen cannot reach {}'s sign-in service (the identity provider) right now, so nobody can sign in. Try again in a few minutes; if it persists, contact your IT department.",
            svc.org()
        ),
        None,
    )
}

/// `/account-driven/login` under auth = "oidc": the device's user is
/// whoever signs in at the IdP, if that is the account the device enrolls.
pub fn device_login(svc: &Service, csrf: &Csrf, identifier: &str) -> Response {
    let identifier = identifier.trim();
    if check_email(identifier).is_err() {
        return message(
            svc,
            None,
            csrf,
            StatusCode::BAD_REQUEST,
            "No account to sign in",
            "The device did not say which account it is enrolling. Start the enrollment again in Settings.",
            None,
        );
    }
    begin(svc, csrf, Target::Device(identifier.to_ascii_lowercase()))
}

/// Why a callback failed: the page it shows and the reason it logs.
enum Refusal {
    /// No usable sign-in cookie, or a `state` that is not its own.
    State(&'static str),
    /// The sign-in was finished already.
    Used,
    /// The IdP answered `error=`.
    Error {
        code: String,
        description: String,
    },
    Idp(Failure),
    /// Neither the IdP nor the directory says what groups the user is in.
    Unknown(String),
    /// A device sign-in by someone other than the enrolling account.
    WrongAccount {
        signed_in: String,
        wanted: String,
    },
    Internal(crate::Error),
}

impl Refusal {
    fn reason(&self) -> String {
        match self {
            Refusal::State(why) => (*why).to_owned(),
            Refusal::Used => "the sign-in was finished already (a callback used twice)".into(),
            Refusal::Error { code, description } => {
                format!("the identity provider answered error={code} ({description})")
            }
            Refusal::Idp(f) => f.to_string(),
            Refusal::Unknown(user) => format!(
                "{user} signed in, but is not in the directory and the identity provider sent no groups claim"
            ),
            Refusal::WrongAccount { signed_in, wanted } => {
                format!("{signed_in} signed in, but the device enrolls {wanted}")
            }
            Refusal::Internal(e) => e.to_string(),
        }
    }

    fn page(self, svc: &Service, csrf: &Csrf) -> Response {
        let org = svc.org();
        let again = Some(("/signin", "Sign in again"));
        let (status, title, text, link) = match self {
            Refusal::State(_) => (
                StatusCode::BAD_REQUEST,
                "Sign-in expired",
                "This sign-in expired, or was started in another browser or tab. Start again."
                    .to_owned(),
                again,
            ),
            Refusal::Used => (
                StatusCode::BAD_REQUEST,
                "Sign-in already used",
                "This sign-in was already completed once and cannot be used again. Start again."
                    .to_owned(),
                again,
            ),
            Refusal::Error { code, .. } if code == "access_denied" => (
                StatusCode::FORBIDDEN,
                "Sign-in cancelled",
                format!(
                    "The sign-in at {org}'s sign-in service was cancelled or refused. Start again, or contact your IT department."
                ),
                again,
            ),
            Refusal::Error { code, .. } => (
                StatusCode::BAD_REQUEST,
                "Sign-in refused",
                format!(
                    "{org}'s sign-in service refused the sign-in ({code}). Contact your IT department."
                ),
                again,
            ),
            Refusal::Idp(Failure::Unavailable(_)) => (
                StatusCode::BAD_GATEWAY,
                "Sign-in is unavailable",
                format!(
                    "aspen could not reach {org}'s sign-in service to complete the sign-in. Try again in a few minutes; if it persists, contact your IT department."
                ),
                again,
            ),
            Refusal::Idp(Failure::Refused(_)) => (
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                format!("{org}'s sign-in service did not complete the sign-in. Start again."),
                again,
            ),
            Refusal::Idp(Failure::Invalid(_)) => (
                StatusCode::UNAUTHORIZED,
                "Sign-in not verified",
                format!(
                    "The answer of {org}'s sign-in service could not be verified, so you are not signed in. If this happens again, contact your IT department."
                ),
                None,
            ),
            Refusal::Unknown(user) => (
                StatusCode::FORBIDDEN,
                "Not set up for enrollment",
                format!(
                    "Your account {user} is not set up for enrollment with {org}. Contact your IT department."
                ),
                None,
            ),
            Refusal::WrongAccount { signed_in, wanted } => (
                StatusCode::FORBIDDEN,
                "Wrong account",
                format!(
                    "You signed in as {signed_in}, but this device is enrolling {wanted}. Sign in with the account you entered on the device."
                ),
                None,
            ),
            Refusal::Internal(e) => return internal(svc, csrf, e),
        };
        message(svc, None, csrf, status, title, text, link)
    }
}

/// The parameters of an authorization response (RFC 6749 §4.1.2, RFC
/// 9207), each at most once.
#[derive(Default)]
struct Answer {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn answer(query: &str) -> Result<Answer, Refusal> {
    let mut a = Answer::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match k.as_ref() {
            "code" => &mut a.code,
            "state" => &mut a.state,
            "iss" => &mut a.iss,
            "error" => &mut a.error,
            "error_description" => &mut a.error_description,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err(Refusal::State("the callback repeats a parameter"));
        }
    }
    Ok(a)
}

/// `/oidc/callback`: where the IdP sends the browser back.
pub async fn callback(
    State(svc): Svc,
    Extension(peer): Extension<ClientAddr>,
    csrf: Csrf,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let attempt = Attempt {
        client: peer,
        target: None,
    };
    let clear = flow::set_cookie(&svc, None);
    // Charged before the callback is checked (refunded when it holds).
    let charge = match svc
        .throttle
        .charge(svc.store.as_ref(), &attempt, now_ms())
        .await
    {
        Ok(Ok(charge)) => charge,
        Ok(Err(wait)) => {
            tracing::warn!(client = %peer, "sign-in through the identity provider refused: too many failed sign-ins from this address");
            let mut res = message(
                &svc,
                None,
                &csrf,
                StatusCode::TOO_MANY_REQUESTS,
                "Please wait",
                THROTTLED,
                None,
            );
            res.headers_mut().append(header::SET_COOKIE, clear);
            return too_many(res, wait);
        }
        Err(e) => return internal(&svc, &csrf, e),
    };
    let finished = finish(&svc, &headers, query.as_deref().unwrap_or("")).await;
    if finished.is_ok()
        && let Err(e) = svc
            .throttle
            .refund(svc.store.as_ref(), &attempt, charge, now_ms())
            .await
    {
        tracing::warn!("refunding a sign-in's charge: {e}");
    }
    let mut res = match finished {
        Ok(Done::Portal(signed)) => {
            tracing::info!(client = %peer, user = %signed.user, subject = %signed.subject, "signed in through the identity provider");
            match start(&svc, &csrf, signed).await {
                Ok(res) => res,
                Err(e) => internal(&svc, &csrf, e),
            }
        }
        Ok(Done::Device(signed)) => {
            tracing::info!(client = %peer, user = %signed.user, subject = %signed.subject, "a device's user signed in through the identity provider");
            match device::access_token(&svc, &signed).await {
                Ok(token) => super::web::apple_callback(&token),
                Err(e) => internal(&svc, &csrf, e),
            }
        }
        Err(refusal) => {
            tracing::warn!(client = %peer, "sign-in through the identity provider refused: {}", refusal.reason());
            if let Err(e) = svc
                .throttle
                .failed(svc.store.as_ref(), &attempt, charge, now_ms())
                .await
            {
                return internal(&svc, &csrf, e);
            }
            refusal.page(&svc, &csrf)
        }
    };
    res.headers_mut().append(header::SET_COOKIE, clear);
    res
}

/// A callback that checked out: who, and for what.
enum Done {
    Portal(SignedIn),
    Device(SignedIn),
}

/// The callback's checks, in order: the sign-in's cookie, its `state`, the
/// IdP's name (RFC 9207), the IdP's `error`, the sign-in used once, the
/// code exchanged, the ID token verified, and who signed in.
async fn finish(svc: &Service, headers: &HeaderMap, query: &str) -> Result<Done, Refusal> {
    let flow = Flow::read(svc, headers).map_err(Refusal::State)?;
    let a = answer(query)?;
    let state = flow.state(&svc.keys);
    match &a.state {
        Some(s) if crate::tokens::same(s.as_bytes(), state.as_bytes()) => {}
        Some(_) => {
            return Err(Refusal::State(
                "state is not the one this browser's sign-in sent",
            ));
        }
        None => return Err(Refusal::State("the callback has no state")),
    }
    let idp = svc.idp.clone().ok_or_else(|| {
        Refusal::Internal(crate::Error::invalid("auth = \"oidc\" without a provider"))
    })?;
    match &a.iss {
        Some(iss) if *iss != idp.oidc.issuer => {
            return Err(Refusal::Idp(Failure::Invalid(
                "the callback's iss names another issuer (RFC 9207)".into(),
            )));
        }
        None if idp.requires_iss() => {
            return Err(Refusal::Idp(Failure::Invalid(
                "the callback has no iss, which the IdP promises (RFC 9207)".into(),
            )));
        }
        _ => {}
    }
    if let Some(code) = a.error {
        let printable =
            |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(200).collect() };
        // Only a word of RFC 6749's kind is shown on the page.
        let code = if !code.is_empty()
            && code.len() <= 64
            && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            code
        } else {
            "an unknown error".into()
        };
        return Err(Refusal::Error {
            code,
            description: printable(a.error_description.as_deref().unwrap_or("")),
        });
    }
    let first = svc
        .store
        .finish_flow(state.into_bytes(), flow.expires, crate::audit::now())
        .await
        .map_err(Refusal::Internal)?;
    if !first {
        return Err(Refusal::Used);
    }
    let code = a
        .code
        .filter(|c| !c.is_empty())
        .ok_or(Refusal::State("the callback has neither code nor error"))?;
    let id_token = idp
        .exchange(&code, &flow.verifier(&svc.keys))
        .await
        .map_err(Refusal::Idp)?;
    let nonce = flow.nonce(&svc.keys);
    let signed = device::verified(svc, &idp, id_token, move |p, t, now| {
        p.verify(&t, Check::IdToken { nonce: &nonce }, now)
    })
    .await
    .map_err(Refusal::Idp)?;
    let Some(user) = person(svc, &signed.user, &signed.claims).await else {
        return Err(Refusal::Unknown(signed.user));
    };
    match flow.target {
        Target::Portal => Ok(Done::Portal(signed)),
        Target::Device(wanted) => {
            let is = |name: &str| name.eq_ignore_ascii_case(&wanted);
            if is(&user.email)
                || user
                    .managed_apple_id
                    .as_ref()
                    .is_some_and(|m| is(m.as_str()))
            {
                Ok(Done::Device(signed))
            } else {
                Err(Refusal::WrongAccount {
                    signed_in: user.email.clone(),
                    wanted,
                })
            }
        }
    }
}

/// A new portal session for the person who signed in: a fresh token, with
/// what the IdP said about them in the store; the page that moves on.
async fn start(svc: &Service, csrf: &Csrf, signed: SignedIn) -> crate::Result<Response> {
    let token = start_session(svc, &signed.user, signed.claims).await?;
    let mut res = page(
        StatusCode::OK,
        csrf,
        SignedInPage {
            chrome: chrome(svc, None, csrf),
            next: "/access",
        },
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(session_cookie(svc), &token, Some(SESSION_SECONDS)),
    );
    Ok(res)
}

/// A new session for `email` (never a token the browser brought: no
/// fixation), recorded in the store with `claims`.
pub async fn start_session(svc: &Service, email: &str, claims: IdpClaims) -> crate::Result<String> {
    let expires = crate::audit::now() + SESSION_SECONDS;
    let token = svc.keys.issue(Purpose::Session, email, expires)?;
    let lookup = svc.keys.session_lookup(&token);
    svc.store
        .start_signed_in(
            lookup.to_vec(),
            &email.to_ascii_lowercase(),
            claims,
            expires,
        )
        .await?;
    Ok(token)
}

/// After aspen's session ended: on to the IdP's sign-out, where it has one
/// (a page that moves on by itself, so no form rule blocks it), else
/// `None`.
pub fn sign_out_at_idp(svc: &Service, csrf: &Csrf) -> Option<Response> {
    let url = svc.idp.as_ref()?.end_session_url(&svc.portal.public_url)?;
    #[derive(Template, WebTemplate)]
    #[template(path = "signing_out.html")]
    struct SigningOut {
        chrome: Chrome,
        url: String,
    }
    Some(page(
        StatusCode::OK,
        csrf,
        SigningOut {
            chrome: chrome(svc, None, csrf),
            url,
        },
    ))
}

/// `/oidc/signed-out`: where the IdP sends the browser after signing out.
pub async fn signed_out(State(svc): Svc, csrf: Csrf) -> Response {
    message(
        &svc,
        None,
        &csrf,
        StatusCode::OK,
        "Signed out",
        format!(
            "You are signed out of the enrollment portal and of {}'s sign-in service.",
            svc.org()
        ),
        Some(("/signin", "Sign in again")),
    )
}
