//! The browser portal, Company-Portal style: sign in → set up access →
//! (user-choice) who owns the device, how much to secure → privacy notice →
//! device-enrollment download, or the steps for account-driven User
//! Enrollment. Every form carries a CSRF token; pages work without script.
// `Err(Response)` is a handler's early answer (a redirect or an error page),
// built once per request: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use super::pages::{
    Access, ChoiceOption, Choose, Chrome, Download, Message, Privacy, SignIn, UserEnrollment,
};
use super::proxy::ClientAddr;
use super::service::{Plan, SESSION_SECONDS, Service, page_code};
use super::throttle::{Attempt, THROTTLED, now_ms, too_many};
use super::web::{self, Csrf, client, cookie_header, expired_cookie, see_other};
use crate::audit::{self, Source};
use crate::model::directory::User;
use crate::model::policy::{Choice, PolicyType};
use crate::model::{Channel, EnrollmentKind, Management, Ownership};
use crate::settings::{IdentityUse, PortalAuth};
use crate::tokens::Purpose;
use axum::Form;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

type Svc = State<Arc<Service>>;

/// The user the request is from: the trusted header (auth = "header") or
/// the live session (auth = "code", see [`web::session`]).
pub async fn signed_in(svc: &Service, headers: &HeaderMap) -> Option<Arc<User>> {
    match &svc.portal.auth {
        PortalAuth::Header(_) => header_user(svc, headers).await,
        PortalAuth::Code => {
            let session = web::session(svc, headers).await?;
            svc.user_by_email(&session.user).await
        }
    }
}

async fn header_user(svc: &Service, headers: &HeaderMap) -> Option<Arc<User>> {
    let PortalAuth::Header(name) = &svc.portal.auth else {
        return None;
    };
    let email = headers.get(name.as_str())?.to_str().ok()?.trim().to_owned();
    svc.user_by_email(&email).await
}

/// The signed-in user of a request whose [`Csrf`] is already known (it
/// read the session once).
async fn user_of(svc: &Service, headers: &HeaderMap, csrf: &Csrf) -> Option<Arc<User>> {
    match &csrf.session {
        Some(session) => svc.user_by_email(&session.user).await,
        None => header_user(svc, headers).await,
    }
}

fn chrome(svc: &Service, user: Option<&User>, csrf: &Csrf) -> Chrome {
    Chrome {
        org: svc.org().to_owned(),
        user: user.map(|u| u.email.clone()),
        csrf: csrf.token(),
    }
}

/// A page, with the CSRF cookie set when the browser had none.
fn page(status: StatusCode, csrf: &Csrf, body: impl IntoResponse) -> Response {
    let mut res = (status, body).into_response();
    if let Some(cookie) = &csrf.set_cookie {
        res.headers_mut().append(header::SET_COOKIE, cookie.clone());
    }
    res
}

pub fn message(
    svc: &Service,
    user: Option<&User>,
    csrf: &Csrf,
    status: StatusCode,
    title: &str,
    text: impl Into<String>,
    link: Option<(&'static str, &'static str)>,
) -> Response {
    page(
        status,
        csrf,
        Message {
            chrome: chrome(svc, user, csrf),
            title: title.to_owned(),
            message: text.into(),
            link,
        },
    )
}

fn internal(svc: &Service, csrf: &Csrf, err: crate::Error) -> Response {
    tracing::error!("{err}");
    message(
        svc,
        None,
        csrf,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not complete this step. Try again, or contact your IT department.",
        Some(("/", "Start again")),
    )
}

/// The signed-in user, or a redirect to the sign-in page.
async fn require(svc: &Service, headers: &HeaderMap, csrf: &Csrf) -> Result<Arc<User>, Response> {
    user_of(svc, headers, csrf).await.ok_or_else(|| match svc.portal.auth {
        PortalAuth::Code => see_other("/signin"),
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

pub async fn home(State(svc): Svc, headers: HeaderMap) -> Response {
    // (One session read: this page shows no form.)
    if signed_in(&svc, &headers).await.is_some() {
        see_other("/access")
    } else {
        see_other("/signin")
    }
}

pub async fn signin_page(State(svc): Svc, headers: HeaderMap) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    if user_of(&svc, &headers, &csrf).await.is_some() {
        return see_other("/access");
    }
    if let PortalAuth::Header(_) = svc.portal.auth {
        return require(&svc, &headers, &csrf)
            .await
            .err()
            .unwrap_or_else(|| see_other("/access"));
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

pub const BAD_CODE: &str =
    "That code is not valid. A code works once and expires; ask your IT department for a new one.";

pub async fn signin(
    State(svc): Svc,
    headers: HeaderMap,
    Extension(peer): Extension<ClientAddr>,
    Form(form): Form<CodeForm>,
) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    if !csrf.check(&form.csrf) {
        return web::csrf_failed(&svc, &csrf);
    }
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
    match svc
        .throttle
        .check(svc.store.as_ref(), &attempt, now_ms())
        .await
    {
        Ok(None) => {}
        Ok(Some(wait)) => return too_many(signin_page(StatusCode::OK, THROTTLED), wait),
        Err(e) => return internal(&svc, &csrf, e),
    }
    let user = match svc.redeem_code(&form.code, None).await {
        Ok(Some(email)) => svc.user_by_email(&email).await,
        Ok(None) => None,
        Err(e) => return internal(&svc, &csrf, e),
    };
    let Some(user) = user else {
        if let Err(e) = svc
            .throttle
            .failed(svc.store.as_ref(), &attempt, now_ms())
            .await
        {
            return internal(&svc, &csrf, e);
        }
        return signin_page(StatusCode::UNAUTHORIZED, BAD_CODE);
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

pub async fn signout(State(svc): Svc, headers: HeaderMap, Form(form): Form<CsrfForm>) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    if !csrf.check(&form.csrf) {
        return web::csrf_failed(&svc, &csrf);
    }
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
    let mut res = message(
        &svc,
        None,
        &csrf,
        StatusCode::OK,
        "Signed out",
        "You are signed out of the enrollment portal.",
        Some(("/signin", "Sign in again")),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        expired_cookie(web::session_cookie(&svc)),
    );
    res
}

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

pub async fn access(State(svc): Svc, headers: HeaderMap) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
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

pub async fn choose_page(State(svc): Svc, headers: HeaderMap) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    let user = match chooser(&svc, &headers, &csrf).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let org = svc.org();
    page(
        StatusCode::OK,
        &csrf,
        Choose {
            chrome: chrome(&svc, Some(&user), &csrf),
            action: "/choose",
            legend: "Who owns this device?".into(),
            field: "owner",
            options: vec![
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
            ],
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

pub async fn choose(
    State(svc): Svc,
    headers: HeaderMap,
    Extension(peer): Extension<ClientAddr>,
    Form(form): Form<OwnerForm>,
) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    if !csrf.check(&form.csrf) {
        return web::csrf_failed(&svc, &csrf);
    }
    let user = match chooser(&svc, &headers, &csrf).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    match form.owner.as_str() {
        "personal" => see_other("/choose/scope"),
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
        Ok(()) => see_other("/privacy"),
        Err(e) => internal(svc, csrf, e),
    }
}

pub async fn scope_page(State(svc): Svc, headers: HeaderMap) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    let user = match chooser(&svc, &headers, &csrf).await {
        Ok(u) => u,
        Err(res) => return res,
    };
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

pub async fn scope(
    State(svc): Svc,
    headers: HeaderMap,
    Extension(peer): Extension<ClientAddr>,
    Form(form): Form<ScopeForm>,
) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    if !csrf.check(&form.csrf) {
        return web::csrf_failed(&svc, &csrf);
    }
    let user = match chooser(&svc, &headers, &csrf).await {
        Ok(u) => u,
        Err(res) => return res,
    };
    let choice = match form.scope.as_str() {
        "device" => Choice::Device,
        "work" => Choice::Work,
        _ => return bad_answer(&svc, &user, &csrf, "/choose/scope"),
    };
    record(&svc, &user, &csrf, choice, client(&peer)).await
}

/// The signed-in user and their management, or the page that comes first.
async fn enrolling(
    svc: &Arc<Service>,
    headers: &HeaderMap,
    csrf: &Csrf,
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
        } => Ok((user, policy.name, management, choice)),
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

fn kind_label(kind: EnrollmentKind) -> &'static str {
    match kind {
        EnrollmentKind::Device(Ownership::Corporate)
        | EnrollmentKind::AccountDrivenDevice(Ownership::Corporate) => {
            "device enrollment of an organisation-owned device"
        }
        EnrollmentKind::Device(Ownership::Personal)
        | EnrollmentKind::AccountDrivenDevice(Ownership::Personal) => {
            "device enrollment of your own device"
        }
        EnrollmentKind::AccountDrivenUser | EnrollmentKind::LegacyUser => {
            "User Enrollment (work apps and data only)"
        }
    }
}

/// What each MDM access right lets the organisation do (Apple: MDM payload
/// `AccessRights` bits), in the user's words.
const RIGHT_WORDS: [(u32, &str); 13] = [
    (1, "see which configuration profiles are installed"),
    (
        2,
        "install and remove configuration profiles (Wi-Fi, VPN, e-mail, restrictions)",
    ),
    (4, "lock the device and remove its passcode"),
    (8, "erase the entire device"),
    (
        16,
        "see device details: model, serial number, UDID, storage, OS version",
    ),
    (
        32,
        "see network details: phone number, carrier, Wi-Fi and Bluetooth addresses",
    ),
    (64, "see installed provisioning profiles"),
    (128, "install and remove provisioning profiles"),
    (256, "see every app installed on the device"),
    (512, "see which restrictions are in force"),
    (
        1024,
        "see security settings such as whether a passcode is set",
    ),
    (2048, "change device settings"),
    (4096, "install, configure and remove apps"),
];

/// What the organisation can and cannot see or do under `kind`.
pub fn privacy(svc: &Service, kind: EnrollmentKind) -> (Vec<String>, Vec<String>) {
    let personal_data =
        "read your personal e-mail, messages, photos, files, contacts or browsing history"
            .to_owned();
    if kind.is_user_enrollment() {
        let can = [
            "install, configure and remove the work apps and accounts it provides",
            "see and remove the work data, which lives on a separate managed volume",
            "apply work settings such as VPN for work apps and require a device passcode",
            "see the device model and OS version",
        ];
        let cannot = [
            personal_data.as_str(),
            "see your personal apps or how you use them",
            "see the serial number, UDID, IMEI or phone number",
            "erase your device (removing the enrollment removes only the work volume)",
            "lock your device or remove its passcode",
            "see your location",
        ];
        return (
            can.iter().map(|s| capitalise(s)).collect(),
            cannot.iter().map(|s| capitalise(s)).collect(),
        );
    }
    let rights = svc.settings.mdm.access_rights_for(kind.ownership()).bits();
    let mut can = Vec::new();
    let mut cannot = vec![capitalise(&personal_data)];
    for (bit, words) in RIGHT_WORDS {
        if rights & bit != 0 {
            can.push(capitalise(words));
        } else {
            cannot.push(capitalise(words));
        }
    }
    (can, cannot)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

pub async fn privacy_page(State(svc): Svc, headers: HeaderMap) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    let (user, _, management, choice) = match enrolling(&svc, &headers, &csrf).await {
        Ok(e) => e,
        Err(res) => return res,
    };
    let kind = management.kind(Channel::Profile);
    let (can, cannot) = privacy(&svc, kind);
    page(
        StatusCode::OK,
        &csrf,
        Privacy {
            chrome: chrome(&svc, Some(&user), &csrf),
            kind: kind_label(kind),
            can,
            cannot,
            choice: choice.is_some(),
        },
    )
}

pub async fn enroll_page(State(svc): Svc, headers: HeaderMap) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    let (user, _, management, _) = match enrolling(&svc, &headers, &csrf).await {
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
    let shown = page_code(&svc.keys, svc.store.as_ref(), &user.email).await;
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
    headers: HeaderMap,
    Extension(peer): Extension<ClientAddr>,
) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
    let (user, policy, management, choice) = match enrolling(&svc, &headers, &csrf).await {
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
    let client = client(&peer);
    // The same session downloading the same profile again soon gets the
    // same bytes, recorded once.
    let viewer = match &csrf.session {
        Some(session) => [b"session:".as_slice(), &session.lookup].concat(),
        None => format!("header:{}", user.email.to_ascii_lowercase()).into_bytes(),
    };
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
        Ok(issued) => web::profile_response(&svc, &issued),
        Err(e) => internal(&svc, &csrf, e),
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
        include_str!("../../assets/aspen.css"),
    )
        .into_response()
}

pub async fn not_found(State(svc): Svc, headers: HeaderMap) -> Response {
    let csrf = Csrf::for_request(&svc, &headers).await;
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
