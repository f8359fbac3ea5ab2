//! Setting up access: which policy applies and, under a user-choice policy,
//! who owns the device and how much of it the organisation secures.
#![allow(clippy::result_large_err)]

use super::super::csrf::Csrf;
use super::super::form::{Checked, CsrfField};
use super::super::pages::{Access, ChoiceOption, Choose, chrome, internal, limited, message, page};
use super::super::proxy::ClientAddr;
use super::super::restriction::Refused;
use super::super::service::{Plan, Service};
use super::super::web::client;
use super::super::web::see_other;
use super::{Svc, require};
use crate::model::device::Device;
use crate::model::directory::User;
use crate::model::policy::{Choice, PolicyType};
use axum::extract::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

/// What a policy type means, in one sentence for the user.
fn summary(org: &str, kind: PolicyType) -> String {
    match kind {
        PolicyType::User => format!(
            "User Enrollment: {org} manages work apps and data only, kept apart from your personal data."
        ),
        PolicyType::Device => format!("Device enrollment: {org} manages this device."),
        PolicyType::UserChoice => format!(
            "You say who owns this device and, for your own device, how much {org} manages."
        ),
    }
}

pub async fn access(State(svc): Svc, csrf: Csrf, headers: HeaderMap) -> Response {
    let user = match require(&svc, &headers, &csrf).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let plan = match svc.plan(&user, None).await {
        Ok(plan) => plan,
        Err(e) => return internal(&svc, &csrf, e),
    };
    let (policy, previous) = match plan {
        Plan::Cannot(why) => {
            return message(
                &svc,
                Some(&user),
                &csrf,
                StatusCode::FORBIDDEN,
                "You cannot enroll yet",
                why,
                None,
            );
        }
        Plan::NeedsChoice { policy } => (policy, None),
        Plan::Enroll { policy, choice, .. } => (policy, choice.map(choice_label)),
    };
    // User Enrollment is personal by definition: under `personal =
    // "block"` a user-enrollment policy leaves nothing to enroll.
    if policy.kind == PolicyType::User
        && let Err(refused) = Refused::personal(svc.restriction_for(Some(&user)), true)
    {
        return super::restricted(&svc, &user, &csrf, &refused, &Device::UNKNOWN, None).await;
    }
    let next = if policy.kind == PolicyType::UserChoice {
        "/choose"
    } else {
        "/privacy"
    };
    page(
        StatusCode::OK,
        &csrf,
        Access {
            chrome: chrome(&svc, Some(&user), &csrf),
            summary: summary(svc.org(), policy.kind),
            policy: policy.name,
            description: policy.description,
            previous,
            next,
        },
    )
}

fn choice_label(choice: Choice) -> &'static str {
    match choice {
        Choice::Corporate => "the organisation owns this device",
        Choice::Device => "my own device, secure the entire device",
        Choice::Work => "my own device, secure work-related apps and data only",
    }
}

/// The user-choice user, or the way on for anyone else.
async fn chooser(
    svc: &Arc<Service>,
    headers: &HeaderMap,
    csrf: &Csrf,
) -> Result<Arc<User>, Response> {
    let user = require(svc, headers, csrf).await?;
    match svc
        .plan(&user, None)
        .await
        .map_err(|e| internal(svc, csrf, e))?
    {
        Plan::NeedsChoice { .. } => Ok(user),
        Plan::Enroll { policy, .. } if policy.kind == PolicyType::UserChoice => Ok(user),
        _ => Err(see_other("/access")),
    }
}

/// Whether the user's restriction blocks personally owned devices.
fn personal_blocked<'s>(svc: &'s Service, user: &User) -> Option<Refused<'s>> {
    Refused::personal(svc.restriction_for(Some(user)), true).err()
}

pub async fn choose_page(State(svc): Svc, csrf: Csrf, headers: HeaderMap) -> Response {
    let user = match chooser(&svc, &headers, &csrf).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let org = svc.org();
    let mut options = vec![
        ChoiceOption {
            value: "personal",
            label: "I own this device".into(),
            help: "A personal phone, tablet or Mac you bought yourself.".into(),
        },
        ChoiceOption {
            value: "corporate",
            label: format!("{org} owns this device"),
            help: format!("A device {org} gave you."),
        },
    ];
    // `personal = "block"`: "I own this device" is not offered.
    if personal_blocked(&svc, &user).is_some() {
        options.remove(0);
    }
    page(
        StatusCode::OK,
        &csrf,
        Choose {
            chrome: chrome(&svc, Some(&user), &csrf),
            action: "/choose",
            legend: "Who owns this device?".into(),
            field: "owner",
            options,
        },
    )
}

#[derive(serde::Deserialize)]
pub struct OwnerForm {
    #[serde(default)]
    owner: String,
    #[serde(default)]
    csrf: String,
}

impl CsrfField for OwnerForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

pub async fn choose(
    State(svc): Svc,
    headers: HeaderMap,
    Extension(peer): Extension<ClientAddr>,
    Checked { csrf, form }: Checked<OwnerForm>,
) -> Response {
    let user = match chooser(&svc, &headers, &csrf).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    match form.owner.as_str() {
        "personal" => match personal_blocked(&svc, &user) {
            Some(refused) => {
                let device = super::browser_device(&headers);
                super::restricted(&svc, &user, &csrf, &refused, &device, Some(client(&peer))).await
            }
            None => see_other("/choose/scope"),
        },
        "corporate" => record(&svc, &user, &csrf, Choice::Corporate, client(&peer)).await,
        _ => bad_answer(&svc, &user, &csrf, "/choose"),
    }
}

fn bad_answer(svc: &Service, user: &User, csrf: &Csrf, back: &'static str) -> Response {
    message(
        svc,
        Some(user),
        csrf,
        StatusCode::BAD_REQUEST,
        "Choose one option",
        "Select one of the options to continue.",
        Some((back, "Back")),
    )
}

async fn record(
    svc: &Arc<Service>,
    user: &Arc<User>,
    csrf: &Csrf,
    choice: Choice,
    client: Option<String>,
) -> Response {
    match svc.record_choice(user, choice, client).await {
        Ok(Ok(())) => see_other("/privacy"),
        Ok(Err(wait)) => limited(svc, user, csrf, wait),
        Err(e) => internal(svc, csrf, e),
    }
}

pub async fn scope_page(State(svc): Svc, csrf: Csrf, headers: HeaderMap) -> Response {
    let user = match chooser(&svc, &headers, &csrf).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    if let Some(refused) = personal_blocked(&svc, &user) {
        return super::restricted(&svc, &user, &csrf, &refused, &Device::UNKNOWN, None).await;
    }
    let org = svc.org();
    page(
        StatusCode::OK,
        &csrf,
        Choose {
            chrome: chrome(&svc, Some(&user), &csrf),
            action: "/choose/scope",
            legend: format!("What should {org} secure on your device?"),
            field: "scope",
            options: vec![
                ChoiceOption {
                    value: "device",
                    label: "Secure entire device".into(),
                    help: format!(
                        "{org} manages the whole device, but cannot erase it or remove its passcode."
                    ),
                },
                ChoiceOption {
                    value: "work",
                    label: "Secure work-related apps and data only".into(),
                    help: format!(
                        "User Enrollment: work data on a separate volume; {org} cannot see your personal data or erase the device."
                    ),
                },
            ],
        },
    )
}

#[derive(serde::Deserialize)]
pub struct ScopeForm {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    csrf: String,
}

impl CsrfField for ScopeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

pub async fn scope(
    State(svc): Svc,
    headers: HeaderMap,
    Extension(peer): Extension<ClientAddr>,
    Checked { csrf, form }: Checked<ScopeForm>,
) -> Response {
    let user = match chooser(&svc, &headers, &csrf).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    if let Some(refused) = personal_blocked(&svc, &user) {
        let device = super::browser_device(&headers);
        return super::restricted(&svc, &user, &csrf, &refused, &device, Some(client(&peer))).await;
    }
    let choice = match form.scope.as_str() {
        "device" => Choice::Device,
        "work" => Choice::Work,
        _ => return bad_answer(&svc, &user, &csrf, "/choose/scope"),
    };
    record(&svc, &user, &csrf, choice, client(&peer)).await
}
