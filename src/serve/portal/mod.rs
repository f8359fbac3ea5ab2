//! The browser portal, Company-Portal style: sign in → set up access →
//! (user-choice) who owns the device, how much to secure → privacy notice →
//! device-enrollment download, or the steps for account-driven User
//! Enrollment. One file per step of that flow; every form is checked for
//! its CSRF token by the [`Checked`](super::csrf::Checked) extractor; pages
//! work without script.
// `Err(Response)` is a handler's early answer (a redirect or an error page),
// built once per request: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

pub mod choice;
pub mod download;
pub mod privacy;
pub mod signin;

use super::csrf::Csrf;
use super::pages::{internal, message, unavailable};
use super::restriction::Refused;
use super::service::{Plan, Service};
use super::session::{session, signed_in, user_of};
use super::web::see_other;
use crate::audit::Source;
use crate::model::Management;
use crate::model::device::Device;
use crate::model::directory::User;
use crate::model::policy::Choice;
use crate::settings::PortalAuth;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

type Svc = State<Arc<Service>>;

/// The signed-in user, or a redirect to the sign-in page (an error page
/// when the store cannot say whether the browser's session is live).
async fn require(svc: &Service, headers: &HeaderMap, csrf: &Csrf) -> Result<Arc<User>, Response> {
    if csrf.unavailable {
        return Err(unavailable(svc, csrf));
    }
    user_of(svc, headers, csrf.session.as_ref()).await.ok_or_else(|| match svc.portal.auth {
        PortalAuth::Code | PortalAuth::Oidc => see_other("/signin"),
        PortalAuth::Header(_) => message(
            svc,
            None,
            csrf,
            StatusCode::FORBIDDEN,
            "Not signed in",
            "The sign-in service did not say who you are, or your account is not in the directory. Contact your IT department.",
            None,
        ),
    })
}

/// What the browser says it runs (`User-Agent`): a hint for the
/// restriction's platform and OS rules, never a control.
fn browser_device(headers: &HeaderMap) -> Device {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map_or(Device::UNKNOWN, Device::from_user_agent)
}

/// A restriction's refusal as a page naming it; recorded (`refused`) when
/// `recorded` holds the client, for the steps that would hand something
/// out (a download, an answer), not for every page view.
async fn restricted(
    svc: &Service,
    user: &User,
    csrf: &Csrf,
    refused: &Refused<'_>,
    device: &Device,
    recorded: Option<Option<String>>,
) -> Response {
    if let Some(client) = recorded {
        let ids = super::restriction::ids(None, device);
        if let Err(res) = refused
            .audit(svc, Source::Portal, Some(&user.email), Some(&ids), client)
            .await
        {
            return res;
        }
    }
    let back = match refused.broken {
        crate::model::restriction::Broken::Personal => Some(("/access", "Back")),
        _ => None,
    };
    message(
        svc,
        Some(user),
        csrf,
        StatusCode::FORBIDDEN,
        "This device cannot enroll",
        refused.message(svc.org()),
        back,
    )
}

/// The signed-in user and their management, or the page that comes first
/// (a restriction's refusal, recorded when `recorded` holds the client).
async fn enrolling(
    svc: &Arc<Service>,
    headers: &HeaderMap,
    csrf: &Csrf,
    recorded: Option<Option<String>>,
) -> Result<(Arc<User>, String, Management, Option<Choice>), Response> {
    let user = require(svc, headers, csrf).await?;
    match svc
        .plan(&user, None)
        .await
        .map_err(|e| internal(svc, csrf, e))?
    {
        Plan::Enroll {
            policy,
            management,
            choice,
        } => {
            let restriction = svc.restriction_for(Some(&user));
            let device = browser_device(headers);
            let checked = Refused::personal(
                restriction,
                management.ownership() == crate::model::Ownership::Personal,
            )
            .and_then(|()| Refused::device(restriction, &device, false));
            if let Err(refused) = checked {
                return Err(restricted(svc, &user, csrf, &refused, &device, recorded).await);
            }
            Ok((user, policy.name, management, choice))
        }
        Plan::NeedsChoice { .. } => Err(see_other("/choose")),
        Plan::Cannot(why) => Err(message(
            svc,
            Some(&user),
            csrf,
            StatusCode::FORBIDDEN,
            "You cannot enroll yet",
            why,
            None,
        )),
    }
}

pub async fn home(State(svc): Svc, headers: HeaderMap) -> Response {
    // (One session read: this page shows no form.) A session the store
    // cannot check goes on to the page that says so.
    let signed_in = match svc.portal.auth {
        PortalAuth::Code | PortalAuth::Oidc => match session(&svc, &headers).await {
            Ok(session) => session.is_some(),
            Err(e) => {
                tracing::error!("reading a session: {e}");
                true
            }
        },
        PortalAuth::Header(_) => signed_in(&svc, &headers).await.is_some(),
    };
    if signed_in {
        see_other("/access")
    } else {
        see_other("/signin")
    }
}

/// The stylesheet, compiled in.
pub async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../../assets/aspen.css"),
    )
        .into_response()
}

pub async fn not_found(State(svc): Svc, csrf: Csrf) -> Response {
    message(
        &svc,
        None,
        &csrf,
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
        Some(("/", "Go to the start")),
    )
}
