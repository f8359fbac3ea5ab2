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
//!
//! Each POST carries the device's `MachineInfo` (CMS-signed, or a bare
//! plist): its platform and OS version decide what the device can be given
//! (an older device gets Apple's `ErrorCodeSoftwareUpdateRequired` naming
//! the version it needs, ACME falls back to `[identity.fallback]`). The
//! BaseURL carries the version discovery announced (`?version=mdm-byod`),
//! so the profile served at the end of the flow is of that kind: if the
//! user's policy or choice changed meanwhile, the POST is refused and the
//! device starts again. The user's enrollment restriction (see
//! [`super::restriction`]) is applied at discovery (the platform, personal
//! devices) and at the POST after sign-in (every rule).
//!
//! (Over 600 lines: the three steps of one Apple protocol and its
//! device-aware answers, with tests; Apple's error JSON is in
//! `apple_error.rs`, the tokens in `access_token.rs`.)

use super::access_token::{self, ACCESS_SECONDS};
use super::apple_error::{Refusal, WELL_KNOWN_FAILED, software_update_required};
use super::csrf::Csrf;
use super::form::Checked;
use super::pages::{self, SignIn};
use super::portal::signin::{BAD_CODE, CodeForm};
use super::proxy::ClientAddr;
use super::restriction::{self, Refused};
use super::service::{Needs, Plan, Service};
use super::session::signed_in;
use super::throttle::{Attempt, THROTTLED, now_ms, too_many};
use super::web::{self, client};
use crate::audit::{self, Source};
use crate::model::device::{Device, Platform};
use crate::model::policy::Choice;
use crate::model::{Channel, EnrollmentKind, Management, Ownership};
use crate::settings::PortalAuth;
use crate::tokens::Purpose;
use axum::body::Bytes;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The enrollment endpoint (`BaseURL`) and the web sign-in page, under the
/// public URL.
pub const ENROLL_PATH: &str = "/account-driven/enroll";
pub const LOGIN_PATH: &str = "/account-driven/login";
/// The well-known answer again, for Apple Business's account-driven
/// service-discovery assignment: a device whose domain cannot serve
/// `/.well-known` (iOS/iPadOS 18.2, macOS 15.2, visionOS 2.2 and later)
/// asks Apple Business, which sends it here.
pub const DISCOVERY_PATH: &str = "/account-driven/discovery";

type Svc = State<Arc<Service>>;

#[derive(serde::Deserialize)]
pub struct WellKnownQuery {
    #[serde(rename = "user-identifier", default)]
    user_identifier: String,
    #[serde(rename = "model-family", default)]
    model_family: String,
}

/// The server version a well-known answer announces (Apple: the
/// `Servers` item's `Version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Account-driven User Enrollment.
    Byod,
    /// Account-driven Device Enrollment.
    Adde,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Byod => "mdm-byod",
            Version::Adde => "mdm-adde",
        }
    }

    pub fn parse(text: &str) -> Option<Version> {
        match text {
            "mdm-byod" => Some(Version::Byod),
            "mdm-adde" => Some(Version::Adde),
            _ => None,
        }
    }

    /// The version of a plan's management.
    pub fn of(management: Management) -> Version {
        match management {
            Management::User => Version::Byod,
            Management::Device(_) => Version::Adde,
        }
    }

    /// The enrollment kind it announces (ownership changes nothing a device
    /// needs).
    fn kind(self) -> EnrollmentKind {
        match self {
            Version::Byod => EnrollmentKind::AccountDrivenUser,
            Version::Adde => EnrollmentKind::AccountDrivenDevice(Ownership::Corporate),
        }
    }
}

#[derive(serde::Deserialize)]
pub struct EnrollQuery {
    /// The version discovery announced, as the BaseURL carries it.
    version: Option<String>,
}

/// The BaseURL for `version`.
fn base_url(svc: &Service, version: Version) -> String {
    format!(
        "{}{ENROLL_PATH}?version={}",
        svc.portal.public_url,
        version.as_str()
    )
}

/// Apple's `ErrorWellKnownFailed` (a 403 with a JSON body and its
/// Content-Type): the device shows `message`. The same answer for every
/// reason, so the endpoint does not tell who is in the directory.
fn well_known_failed(svc: &Service) -> Response {
    Refusal {
        code: WELL_KNOWN_FAILED,
        description: "No account-driven enrollment is available for this user-identifier.".into(),
        message: format!(
            "This account cannot enroll with {}. Contact your IT department.",
            svc.org()
        ),
        details: None,
    }
    .answer(StatusCode::FORBIDDEN)
}

/// The answer of service discovery: the enrollment servers, one here.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Discovery {
    servers: [Server; 1],
}

#[derive(serde::Serialize)]
struct Server {
    /// `mdm-byod` or `mdm-adde`.
    #[serde(rename = "Version")]
    version: &'static str,
    #[serde(rename = "BaseURL")]
    base_url: String,
}

/// Step 1: service discovery. The version follows the user's policy: User
/// Enrollment ⇒ `mdm-byod`, device ⇒ `mdm-adde`; under user-choice, the
/// answer recorded in the portal, else `mdm-byod`.
pub async fn well_known(
    State(svc): Svc,
    Extension(peer): Extension<ClientAddr>,
    Query(q): Query<WellKnownQuery>,
) -> Response {
    // A platform that has no account-driven enrollment (Apple TV, Watch)
    // is told so before the user is looked up: the answer says nothing
    // about who is in the directory.
    let device = Device::from_model_family(&q.model_family);
    if let Some(platform) = device.platform
        && [Version::Byod, Version::Adde]
            .iter()
            .all(|v| v.kind().account_driven_minimum(platform).is_none())
    {
        return well_known_unavailable(&svc, platform);
    }
    let Some(user) = svc.user_by_identifier(&q.user_identifier).await else {
        // Under auth = "oidc" a user only the IdP knows finds out their
        // groups at sign-in: account-driven User Enrollment is announced.
        if svc.portal.auth == PortalAuth::Oidc
            && crate::model::check_email(&q.user_identifier).is_ok()
        {
            return discovery(&svc, Version::Byod);
        }
        return well_known_failed(&svc);
    };
    // The user's enrollment restriction: a platform it does not allow is
    // told so now (what `model-family` says; the POST checks again), and
    // with `personal = "block"` the plan is device enrollment or nothing.
    let restriction = svc.restriction_for(Some(&user));
    if let Err(refused) = Refused::device(restriction, &device, false) {
        return refused
            .at_discovery(&svc, peer, &user, &device, &q.model_family)
            .await;
    }
    let plan = match svc.account_plan(&user, restriction).await {
        Ok(Ok(plan)) => plan,
        Ok(Err(refused)) => {
            return refused
                .at_discovery(&svc, peer, &user, &device, &q.model_family)
                .await;
        }
        Err(e) => {
            tracing::error!("{e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let version = match plan {
        Plan::Enroll {
            management: Management::User,
            ..
        } => Version::Byod,
        // ADDE carries the user's Managed Apple ID (AssignedManagedAppleID).
        Plan::Enroll {
            management: Management::Device(_),
            ..
        } if user.managed_apple_id.is_some() => Version::Adde,
        _ => return well_known_failed(&svc),
    };
    discovery(&svc, version)
}

/// Step 1's answer: the one server, for `version`.
fn discovery(svc: &Service, version: Version) -> Response {
    axum::Json(Discovery {
        servers: [Server {
            version: version.as_str(),
            base_url: base_url(svc, version),
        }],
    })
    .into_response()
}

/// Apple's `ErrorWellKnownFailed` for a platform without account-driven
/// enrollment (Apple: com.apple.mdm `EnrollmentMode`, tvOS and watchOS n/a).
fn well_known_unavailable(svc: &Service, platform: Platform) -> Response {
    Refusal {
        code: WELL_KNOWN_FAILED,
        description: format!(
            "account-driven enrollment is not available on {}",
            platform.os_name()
        ),
        message: format!(
            "{} does not offer enrollment with your account on this device.",
            svc.org()
        ),
        details: None,
    }
    .answer(StatusCode::FORBIDDEN)
}

/// The kind discovery announced is no longer the user's (their choice or
/// policy changed during the flow): `409` and a message, instead of a
/// profile of another kind than the device showed the user.
fn enrollment_changed(svc: &Service, announced: Version, now: Version) -> Response {
    tracing::warn!(
        announced = announced.as_str(),
        now = now.as_str(),
        "account-driven enrollment refused: the kind changed since discovery"
    );
    Refusal {
        code: "aspen.enrollment-changed",
        description: format!(
            "discovery announced {}, the user's policy now gives {}",
            announced.as_str(),
            now.as_str()
        ),
        message: format!(
            "What {} manages on this device changed while you were enrolling. Start the enrollment again.",
            svc.org()
        ),
        details: None,
    }
    .answer(StatusCode::CONFLICT)
}

/// A request the endpoint cannot read: `400` and why.
fn bad_request(why: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("aspen: {why}\n")).into_response()
}

/// The device's `MachineInfo` from an enroll POST's body (CMS-signed, as
/// devices send it, or a bare plist), through the one reader for untrusted
/// bytes (the body is capped by the router). Its signature is not checked,
/// nor its certificates read: nothing in it decides who the user is (the
/// access token does). An empty
/// body says nothing.
fn machine_info(body: &[u8]) -> Result<(Device, Option<String>), String> {
    if body.is_empty() {
        return Ok((Device::UNKNOWN, None));
    }
    let value = crate::read::parse_content(body, &crate::read::Limits::MACHINE_INFO)
        .map_err(|why| format!("the request body {why}"))?;
    let info = value
        .as_dictionary()
        .ok_or("the request body is not a MachineInfo dictionary")?;
    let product = restriction::said(info.get("PRODUCT").and_then(plist::Value::as_string));
    Ok((Device::from_machine_info(info), product))
}

/// Step 2's answer (and step 4's for a bad token): send the device to the
/// web sign-in.
fn challenge(svc: &Service) -> Response {
    // With `[oidc] device_method = "apple-oauth2"` the device signs in at
    // the IdP itself.
    let value = svc
        .idp
        .as_ref()
        .and_then(|idp| idp.device_challenge())
        .unwrap_or_else(|| {
            format!(
                "Bearer method=\"apple-as-web\", url=\"{}{LOGIN_PATH}\"",
                svc.portal.public_url
            )
        });
    let mut res = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// Steps 2 and 4: the enrollment endpoint. The token says who the
/// profile is for; the body what the device runs.
pub async fn enroll(
    State(svc): Svc,
    Extension(peer): Extension<ClientAddr>,
    headers: HeaderMap,
    Query(q): Query<EnrollQuery>,
    body: Bytes,
) -> Response {
    let announced = match q.version.as_deref().map(Version::parse) {
        None => None,
        Some(Some(v)) => Some(v),
        Some(None) => return bad_request("unknown version in the enrollment URL"),
    };
    // Read off the runtime's workers, within a MachineInfo's small limits:
    // nobody has signed in yet.
    let (device, product) = match svc.untrusted.run(move || machine_info(&body)).await {
        Ok(Ok(d)) => d,
        Ok(Err(why)) => return bad_request(why),
        Err(busy) => return busy.into_response(),
    };
    // Before sign-in: a device too old for the announced kind is told so
    // now, not after the user signed in for nothing.
    if let Some(v) = announced
        && let Err(needs) = svc.fit(&device, v.kind())
    {
        return software_update_required(&svc, &device, &needs);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let user = match svc.portal.auth {
        PortalAuth::Oidc => super::oidc::device::bearer_user(&svc, token).await,
        _ => match token.and_then(|t| svc.keys.verify(Purpose::Access, t, audit::now()).ok()) {
            Some(claims) => svc.user_by_email(&claims.user).await,
            None => None,
        },
    };
    let Some(user) = user else {
        return challenge(&svc);
    };
    let client = client(&peer);
    // The user's enrollment restriction: what the device is and runs,
    // personal or not, and (unless this is a repeat) how many devices the
    // user has enrolled. Each refusal is recorded.
    let restriction = svc.restriction_for(Some(&user));
    let ids = restriction::ids(product.as_deref(), &device);
    let refuse = async |refused: Refused<'_>, kind_needs: Option<Needs>| -> Response {
        match refused
            .audit(
                &svc,
                Source::AccountDriven,
                Some(&user.email),
                Some(&ids),
                client.clone(),
            )
            .await
        {
            Ok(()) => refused.answer(&svc, &device, false, kind_needs),
            Err(res) => res,
        }
    };
    let plan = match svc.account_plan(&user, restriction).await {
        Ok(Ok(plan)) => plan,
        Ok(Err(refused)) => return refuse(refused, None).await,
        Err(e) => {
            tracing::error!("{e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let Plan::Enroll {
        policy,
        choice,
        management,
    } = plan
    else {
        return StatusCode::FORBIDDEN.into_response();
    };
    if let Some(v) = announced
        && Version::of(management) != v
    {
        return enrollment_changed(&svc, v, Version::of(management));
    }
    let enrollment =
        match svc.enrollment(&user, choice.or(Some(Choice::Work)), Channel::AccountDriven) {
            Ok(e) => e,
            Err(_) => return StatusCode::FORBIDDEN.into_response(),
        };
    let fit = svc.fit(&device, enrollment.kind());
    if let Err(refused) = Refused::device(restriction, &device, true) {
        return refuse(refused, fit.err()).await;
    }
    let identity = match fit {
        Ok(identity) => identity,
        Err(needs) => return software_update_required(&svc, &device, &needs),
    };
    // The same access token fetching the same profile again soon gets the
    // same bytes, recorded once.
    let token = token.unwrap_or_default();
    let viewer = [
        b"access:".as_slice(),
        &openssl::sha::sha256(token.as_bytes()),
    ]
    .concat();
    // A token enrolls once (see access_token): spent unless this is that
    // repeat.
    if !svc.is_repeat(&viewer, &policy.name, &enrollment, identity) {
        if let Some(r) = restriction {
            match svc.check_count(r, &user).await {
                Ok(Ok(())) => {}
                Ok(Err(refused)) => return refuse(refused, None).await,
                Err(e) => {
                    tracing::error!("{e}");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            }
        }
        match access_token::spend(&svc, token).await {
            Ok(true) => {}
            Ok(false) => return challenge(&svc),
            Err(e) => {
                tracing::error!("{e}");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
    }
    match svc
        .issue_to(
            viewer,
            &user,
            &policy.name,
            enrollment,
            identity,
            Source::AccountDriven,
            client,
        )
        .await
    {
        Ok(Ok(issued)) => web::profile_response(&svc, &issued),
        Ok(Err(limited)) => super::throttle::too_many(
            Refusal {
                code: "aspen.too-many-enrollments",
                description: "the user reached [serve] issues_per_user".into(),
                message: format!(
                    "This account has enrolled too many times lately. Wait a while, then enroll again, or contact {}'s IT department.",
                    svc.org()
                ),
                details: None,
            }
            .answer(StatusCode::TOO_MANY_REQUESTS),
            limited.wait,
        ),
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
        Ok(token) => web::apple_callback(&token),
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
    pages::message(
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
    csrf: Csrf,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if svc.portal.auth == PortalAuth::Oidc {
        return super::oidc::device_login(&svc, &csrf, &q.user_identifier);
    }
    // Every identifier gets the same form: who is in the directory is
    // looked up only when a code is posted (and charged), so this page
    // tells nobody.
    if let PortalAuth::Header(_) = svc.portal.auth {
        // The authenticating proxy has already said who this is: they
        // learn only whether the identifier is their own.
        let target = svc.user_by_identifier(&q.user_identifier).await;
        return match (signed_in(&svc, &headers).await, target) {
            (Some(user), Some(target)) if user.email == target.email => {
                authenticated(&svc, &user.email)
            }
            _ => wrong_account(&svc, &csrf),
        };
    }
    login_form(&svc, &csrf, &q.user_identifier, StatusCode::OK, None)
}

/// Step 3, code sign-in: the code must belong to the enrolling account.
/// The account is named, so failures count against it as well as against
/// the address (see [`super::throttle`]).
pub async fn login(
    State(svc): Svc,
    Extension(peer): Extension<ClientAddr>,
    Checked { csrf, form }: Checked<CodeForm>,
) -> Response {
    if svc.portal.auth != PortalAuth::Code {
        return wrong_account(&svc, &csrf);
    }
    let identifier = form.user_identifier.unwrap_or_default();
    // An identifier nobody in the directory has is charged and answered
    // as a wrong code, with the same work: the answer never says who is
    // in the directory.
    let user = match svc.user_by_identifier(&identifier).await {
        Some(target) => target.email.to_ascii_lowercase(),
        None => unknown_account(&identifier),
    };
    let attempt = Attempt {
        client: peer,
        target: Some(&user),
    };
    let charge = match svc
        .throttle
        .charge(svc.store.as_ref(), &attempt, now_ms())
        .await
    {
        Ok(Ok(charge)) => charge,
        Ok(Err(wait)) => {
            let form = login_form(&svc, &csrf, &identifier, StatusCode::OK, Some(THROTTLED));
            return too_many(form, wait);
        }
        Err(e) => {
            tracing::error!("{e}");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    match svc.redeem_code(&form.code, Some(user.clone())).await {
        Ok(Some(email)) => {
            if let Err(e) = svc
                .throttle
                .refund(svc.store.as_ref(), &attempt, charge, now_ms())
                .await
            {
                tracing::warn!("refunding a sign-in's charge: {e}");
            }
            authenticated(&svc, &email)
        }
        Ok(None) => {
            if let Err(e) = svc
                .throttle
                .failed(svc.store.as_ref(), &attempt, charge, now_ms())
                .await
            {
                tracing::error!("{e}");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            login_form(
                &svc,
                &csrf,
                &identifier,
                StatusCode::UNAUTHORIZED,
                Some(BAD_CODE),
            )
        }
        Err(e) => {
            tracing::error!("{e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The throttle's name for an account the directory does not have: the
/// identifier as typed (lower case), or a hash of one longer than an
/// address can be, so a stranger's text never grows the store.
fn unknown_account(identifier: &str) -> String {
    let name = identifier.trim().to_ascii_lowercase();
    if name.len() <= 254 {
        name
    } else {
        format!("sha256:{}", crate::audit::sha256_hex(name.as_bytes()))
    }
}
