//! The last step: the device-enrollment profile to download, or the steps
//! (and a one-time code) for account-driven User Enrollment in Settings.

use super::super::codes::page_code;
use super::super::csrf::Csrf;
use super::super::pages::{Download, UserEnrollment, chrome, internal, limited, page};
use super::super::proxy::ClientAddr;
use super::super::web::see_other;
use super::super::web::{self, client};
use super::privacy::kind_label;
use super::{Svc, enrolling};
use crate::audit::Source;
use crate::model::{Channel, Management};
use crate::settings::IdentityUse;
use axum::extract::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

pub async fn enroll_page(State(svc): Svc, csrf: Csrf, headers: HeaderMap) -> Response {
    let (user, _, management, _) = match enrolling(&svc, &headers, &csrf, None).await {
        Ok(e) => e,
        Err(res) => return res,
    };
    if let Management::Device(_) = management {
        return page(
            StatusCode::OK,
            &csrf,
            Download {
                chrome: chrome(&svc, Some(&user), &csrf),
                kind: kind_label(management.kind(Channel::Profile)),
            },
        );
    }
    // User Enrollment happens in Settings (account-driven): give the user a
    // one-time code for the sign-in sheet the device opens.
    let Some(id) = user.managed_apple_id.clone() else {
        return see_other("/access");
    };
    // Signed in at the identity provider, the device's sign-in sheet goes
    // there too: no code.
    let shown = if svc.portal.auth == crate::settings::PortalAuth::Oidc {
        Ok((String::new(), 0))
    } else {
        page_code(&svc.keys, svc.store.as_ref(), &user.email).await
    };
    match shown {
        Ok((code, expires)) => page(
            StatusCode::OK,
            &csrf,
            UserEnrollment {
                chrome: chrome(&svc, Some(&user), &csrf),
                managed_apple_id: id.to_string(),
                code,
                code_expires: crate::time::format_utc(expires),
            },
        ),
        Err(e) => internal(&svc, &csrf, e),
    }
}

pub async fn download(
    State(svc): Svc,
    csrf: Csrf,
    headers: HeaderMap,
    Extension(peer): Extension<ClientAddr>,
) -> Response {
    let client = client(&peer);
    let (user, policy, management, choice) =
        match enrolling(&svc, &headers, &csrf, Some(client.clone())).await {
            Ok(e) => e,
            Err(res) => return res,
        };
    if management == Management::User {
        // User Enrollment is never a download (iOS 18 ignores it there).
        return see_other("/enroll");
    }
    let enrollment = match svc.enrollment(&user, choice, Channel::Profile) {
        Ok(e) => e,
        Err(e) => return internal(&svc, &csrf, e),
    };
    // The same session downloading the same profile again soon gets the
    // same bytes, recorded once.
    let viewer = match &csrf.session {
        Some(session) => [b"session:".as_slice(), &session.lookup].concat(),
        None => format!("header:{}", user.email.to_ascii_lowercase()).into_bytes(),
    };
    // The user's device limit, unless this is the same download again.
    if let Some(r) = svc.restriction_for(Some(&user))
        && !svc.is_repeat(&viewer, &policy, &enrollment, IdentityUse::Primary)
    {
        match svc.check_count(r, &user).await {
            Ok(Ok(())) => {}
            Ok(Err(refused)) => {
                let device = super::browser_device(&headers);
                return super::restricted(&svc, &user, &csrf, &refused, &device, Some(client))
                    .await;
            }
            Err(e) => return internal(&svc, &csrf, e),
        }
    }
    match svc
        .issue_to(
            viewer,
            &user,
            &policy,
            enrollment,
            IdentityUse::Primary,
            Source::Portal,
            client,
        )
        .await
    {
        Ok(Ok(issued)) => web::profile_response(&svc, &issued),
        Ok(Err(wait)) => limited(&svc, &user, &csrf, wait),
        Err(e) => internal(&svc, &csrf, e),
    }
}
