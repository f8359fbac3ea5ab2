//! Automated Device Enrollment: a device in Setup Assistant posts its
//! CMS-signed `MachineInfo` to the ADE profile's `url` (`POST /ade/enroll`)
//! and installs the enrollment profile it gets back (Apple:
//! other/machineinfo.yaml; the profile as `application/x-apple-aspen-config`).
//! With `configuration_web_url` on, Setup Assistant first opens
//! `GET /ade/web` with the same signed `MachineInfo`, base64, in the
//! `x-apple-aspen-deviceinfo` header (Apple: "Authenticating through web
//! views"); a person signs in as in the portal, and the profile served
//! binds that device to that user in the audit row.
//!
//! A device that comes through ADE belongs to the organisation: its profile
//! is a corporate device enrollment (`[mdm] access_rights`), whatever any
//! policy or user choice says. Its identity is this device's: a per-profile
//! challenge recorded with its serial number and UDID, or the ACME
//! `client_identifier = "serial"`/`"udid"` step-ca's `device-attest-01`
//! requires. A body whose signature does not hold (unsigned, another CA,
//! truncated) is refused with 403 and an audit row `refused`, and counts
//! against the client's address like a failed sign-in ([`super::throttle`]).

use super::apple_error::software_update_required;
use super::csrf::Csrf;
use super::form::{Checked, CsrfField};
use super::pages::{Chrome, internal, page};
use super::proxy::ClientAddr;
use super::restriction::Refused;
use super::service::{Needs, Service};
use super::session::signed_in;
use super::throttle::{Attempt, Charge, THROTTLED, now_ms, too_many};
use super::web::{self, client};
use crate::audit::{self, Record, Source};
use crate::model::directory::User;
use crate::model::machine_info::MachineInfo;
use crate::model::{Enrollment, EnrollmentKind, Ownership};
use crate::settings::PortalAuth;
use crate::tokens::Purpose;
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The ADE profile's default `url` and `configuration_web_url`, under the
/// public URL.
pub const ENROLL_PATH: &str = "/ade/enroll";
pub const WEB_PATH: &str = "/ade/web";
/// Apple: the web view's first request carries the signed `MachineInfo`.
pub const DEVICE_INFO_HEADER: &str = "x-apple-aspen-deviceinfo";
/// How long the web sign-in keeps what the device said.
const WEB_SECONDS: i64 = 30 * 60;

type Svc = State<Arc<Service>>;

/// The kind every ADE profile is: corporate device enrollment.
fn corporate() -> Enrollment {
    // A device enrollment carries no Managed Apple ID: cannot fail.
    Enrollment::new(EnrollmentKind::Device(Ownership::Corporate), None)
        .unwrap_or_else(|_| unreachable!("a device enrollment without a Managed Apple ID"))
}

/// `POST /ade/enroll`: the device's signed `MachineInfo` in, its profile out.
pub async fn enroll(
    State(svc): Svc,
    Extension(peer): Extension<ClientAddr>,
    body: Bytes,
) -> Response {
    let attempt = Attempt {
        client: peer,
        target: None,
    };
    let charge = match charged(&svc, &attempt).await {
        Ok(charge) => charge,
        Err(res) => return res,
    };
    let info = match read(&svc, move |ca| {
        crate::verify::machine_info::check(&body, ca)
    })
    .await
    {
        Ok(info) => info,
        Err(res) => return refused(&svc, &attempt, charge, res).await,
    };
    refund(&svc, &attempt, charge).await;
    deliver(&svc, &info, None, client(&peer)).await
}

/// Why a `MachineInfo` was not read: refused (403, recorded, counted), or
/// the server is busy (503).
enum NotRead {
    Refused(String),
    Busy(Response),
}

/// `check` of the request's bytes, off the runtime's workers.
async fn read(
    svc: &Service,
    check: impl FnOnce(&crate::verify::machine_info::DeviceCa) -> Result<MachineInfo, String>
    + Send
    + 'static,
) -> Result<MachineInfo, NotRead> {
    let Some(ca) = svc.device_ca.clone() else {
        return Err(NotRead::Refused("[ade] is not configured".into()));
    };
    match svc.untrusted.run(move || check(&ca)).await {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(why)) => Err(NotRead::Refused(format!("MachineInfo {why}"))),
        Err(busy) => Err(NotRead::Busy(busy.into_response())),
    }
}

/// Charged before the body is checked, as a sign-in is (one atomic take,
/// so a burst gets no more checks than the budget): `Err` with the `429`
/// when the address has failed too often.
async fn charged(svc: &Service, attempt: &Attempt<'_>) -> Result<Charge, Response> {
    match svc
        .throttle
        .charge(svc.store.as_ref(), attempt, now_ms())
        .await
    {
        Ok(Ok(charge)) => Ok(charge),
        Ok(Err(wait)) => Err(too_many(
            (
                StatusCode::OK,
                "aspen: too many refused requests; try again later\n",
            )
                .into_response(),
            wait,
        )),
        Err(e) => {
            tracing::error!("{e}");
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

/// The device or the person checked out: the charge is given back.
async fn refund(svc: &Service, attempt: &Attempt<'_>, charge: Charge) {
    if let Err(e) = svc
        .throttle
        .refund(svc.store.as_ref(), attempt, charge, now_ms())
        .await
    {
        tracing::warn!("refunding a charge: {e}");
    }
}

/// A `MachineInfo` refused: counted against the address, logged, recorded
/// (`refused`, with the reason), answered `403` and nothing else.
async fn refused(svc: &Service, attempt: &Attempt<'_>, charge: Charge, why: NotRead) -> Response {
    let why = match why {
        NotRead::Busy(res) => {
            refund(svc, attempt, charge).await;
            return res;
        }
        NotRead::Refused(why) => why,
    };
    if let Err(e) = svc
        .throttle
        .failed(svc.store.as_ref(), attempt, charge, now_ms())
        .await
    {
        tracing::error!("{e}");
    }
    tracing::warn!(client = %attempt.client, "automated device enrollment refused: {why}");
    let record = Record::refused(Source::Ade, &why).with_client(client(&attempt.client));
    if let Err(e) = svc.audit(record).await {
        tracing::error!("{e}");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        StatusCode::FORBIDDEN,
        "aspen: this device's information could not be verified\n",
    )
        .into_response()
}

/// A device below what it must run: Apple's
/// `com.apple.softwareupdate.required` (403, JSON, `details.OSVersion`)
/// when the device says it can be asked to update
/// (`MDM_CAN_REQUEST_SOFTWARE_UPDATE`; Apple:
/// mdm/errors/softwareupdate.required.yaml), else a plain 403. Either way
/// an audit row `refused` names the device and the version.
async fn too_old(
    svc: &Service,
    info: &MachineInfo,
    needs: &Needs,
    user: Option<&str>,
    client: Option<String>,
) -> Response {
    let device = info.device();
    let asked = info.can_request_software_update;
    let why = format!(
        "{} runs {} {}; {} needs {} or later{}",
        info.product,
        needs.platform.os_name(),
        device.describe_os(),
        needs.what,
        needs.minimum,
        if asked {
            ": told to update (com.apple.softwareupdate.required)"
        } else {
            ": it cannot be asked to update in Setup Assistant (no MDM_CAN_REQUEST_SOFTWARE_UPDATE)"
        }
    );
    tracing::info!("automated device enrollment refused: {why}");
    let mut record = Record::refused(Source::Ade, &why)
        .with_client(client)
        .with_user(user)
        .with_device(Some(&info.ids()));
    // Below a restriction's minimum_os: the row names the restriction.
    record.policy = needs.restriction.clone();
    if let Err(e) = svc.audit(record).await {
        tracing::error!("{e}");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if asked {
        return software_update_required(svc, &device, needs);
    }
    (
        StatusCode::FORBIDDEN,
        format!(
            "aspen: enrolling with {} needs {} {} or later; update this device, then start again\n",
            svc.org(),
            needs.platform.os_name(),
            needs.minimum
        ),
    )
        .into_response()
}

/// What the device must run first (`[ade] minimum_os`, then what its
/// identity needs), or which identity settings it gets.
fn fit(svc: &Service, info: &MachineInfo) -> Result<crate::settings::IdentityUse, Needs> {
    let device = info.device();
    if let (Some(ade), Some(platform)) = (&svc.settings.ade, device.platform)
        && let Some(minimum) = ade.minimum(platform)
        && device.at_least(minimum) == Some(false)
    {
        return Err(Needs {
            platform,
            minimum,
            what: "[ade] minimum_os".into(),
            restriction: None,
        });
    }
    svc.fit(&device, corporate().kind())
}

/// The profile for a verified device, for `user` when one signed in.
async fn deliver(
    svc: &Arc<Service>,
    info: &MachineInfo,
    person: Option<&User>,
    client: Option<String>,
) -> Response {
    let user = person.map(|u| u.email.as_str());
    let fit = fit(svc, info);
    // The enrollment restriction of the person who signed in (or, with
    // nobody, the one for everyone): its platforms and OS versions apply;
    // `personal` does not (the organisation owns the device), nor
    // `device_limit` (Apple Business assigned it).
    if let Err(refused) = Refused::device(svc.restriction_for(person), &info.device(), true) {
        if let Some(needs) = refused.needs(fit.as_ref().err().cloned()) {
            return too_old(svc, info, &needs, user, client).await;
        }
        return match refused
            .audit(svc, Source::Ade, user, Some(&info.ids()), client)
            .await
        {
            Ok(()) => refused.answer(svc, &info.device(), false, None),
            Err(res) => res,
        };
    }
    let identity = match fit {
        Ok(identity) => identity,
        Err(needs) => return too_old(svc, info, &needs, user, client).await,
    };
    match svc
        .issue_device(&info.ids(), user, corporate(), identity, client)
        .await
    {
        Ok(issued) => web::profile_response(svc, &issued),
        Err(e) => {
            tracing::error!("{e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

// ---- the web sign-in (configuration_web_url) ----

#[derive(Template, WebTemplate)]
#[template(path = "ade_signin.html")]
struct AdeSignIn {
    chrome: Chrome,
    action: &'static str,
    /// What the device said, sealed ([`seal`]).
    device: String,
    error: Option<&'static str>,
}

#[derive(serde::Deserialize)]
pub struct AdeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    device: String,
}

impl CsrfField for AdeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf
    }
}

/// The device's verified facts as one token (MAC'd with the portal key,
/// for [`Purpose::AdeDevice`] only, expiring): the header comes with the
/// first page only, the profile is served after the sign-in.
fn seal(svc: &Service, info: &MachineInfo) -> Option<String> {
    let fields = [
        info.serial.as_str(),
        info.udid.as_str(),
        info.product.as_str(),
        info.version.as_str(),
        info.os_version.as_deref().unwrap_or(""),
        if info.can_request_software_update {
            "1"
        } else {
            "0"
        },
    ];
    let text = crate::hex::lower(fields.join("\n").as_bytes());
    svc.keys
        .issue(Purpose::AdeDevice, &text, audit::now() + WEB_SECONDS)
        .ok()
}

/// [`seal`]'s facts back, if the token is one and unexpired.
fn unseal(svc: &Service, token: &str) -> Option<MachineInfo> {
    let claims = svc
        .keys
        .verify(Purpose::AdeDevice, token, audit::now())
        .ok()?;
    let text = String::from_utf8(crate::hex::parse_lower(&claims.user)?).ok()?;
    let f: Vec<&str> = text.split('\n').collect();
    let [serial, udid, product, version, os, update] = f[..] else {
        return None;
    };
    Some(MachineInfo {
        serial: serial.to_owned(),
        udid: udid.to_owned(),
        product: product.to_owned(),
        version: version.to_owned(),
        os_version: (!os.is_empty()).then(|| os.to_owned()),
        language: None,
        can_request_software_update: update == "1",
    })
}

fn signin_form(
    svc: &Service,
    csrf: &Csrf,
    device: String,
    status: StatusCode,
    error: Option<&'static str>,
) -> Response {
    page(
        status,
        csrf,
        AdeSignIn {
            chrome: super::pages::chrome(svc, None, csrf),
            action: WEB_PATH,
            device,
            error,
        },
    )
}

/// `GET /ade/web`: the first page Setup Assistant opens. The device is
/// checked first; then the person signs in (a code, or the authenticating
/// proxy's header, as in the portal).
pub async fn web_page(
    State(svc): Svc,
    Extension(peer): Extension<ClientAddr>,
    csrf: Csrf,
    headers: HeaderMap,
) -> Response {
    let attempt = Attempt {
        client: peer,
        target: None,
    };
    let charge = match charged(&svc, &attempt).await {
        Ok(charge) => charge,
        Err(res) => return res,
    };
    let header = headers
        .get(DEVICE_INFO_HEADER)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let info = match read(&svc, move |ca| {
        if header.is_empty() {
            return Err(format!(
                "is missing: the {DEVICE_INFO_HEADER} header is not there (open this page from Setup Assistant)"
            ));
        }
        let der = std::str::from_utf8(&header)
            .ok()
            .and_then(|b64| openssl::base64::decode_block(b64.trim()).ok())
            .ok_or_else(|| format!("in the {DEVICE_INFO_HEADER} header is not base64"))?;
        crate::verify::machine_info::check(&der, ca)
    })
    .await
    {
        Ok(info) => info,
        Err(why) => return refused(&svc, &attempt, charge, why).await,
    };
    refund(&svc, &attempt, charge).await;
    // Told now, before anyone signs in for nothing.
    if let Err(needs) = fit(&svc, &info) {
        return too_old(&svc, &info, &needs, None, client(&peer)).await;
    }
    if let Some(user) = signed_in(&svc, &headers).await {
        return deliver(&svc, &info, Some(&user), client(&peer)).await;
    }
    if svc.portal.auth != PortalAuth::Code {
        // The authenticating proxy named nobody aspen knows.
        return super::pages::message(
            &svc,
            None,
            &csrf,
            StatusCode::FORBIDDEN,
            "Account not found",
            format!(
                "This account cannot enroll devices with {}. Contact your IT department.",
                svc.org()
            ),
            None,
        );
    }
    let Some(device) = seal(&svc, &info) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    signin_form(&svc, &csrf, device, StatusCode::OK, None)
}

/// `POST /ade/web`: the code typed on the web sign-in; the profile for the
/// device the page was opened for, bound to the person who signed in.
pub async fn web_signin(
    State(svc): Svc,
    Extension(peer): Extension<ClientAddr>,
    Checked { csrf, form }: Checked<AdeForm>,
) -> Response {
    let Some(info) = unseal(&svc, &form.device) else {
        return super::pages::message(
            &svc,
            None,
            &csrf,
            StatusCode::BAD_REQUEST,
            "Start again",
            "This sign-in page expired. Go back to the start of Setup Assistant's enrollment step.",
            None,
        );
    };
    let attempt = Attempt {
        client: peer,
        target: None,
    };
    use super::portal::signin::{BAD_CODE, NotSignedIn, redeem_charged};
    let user = match redeem_charged(&svc, &attempt, &form.code).await {
        Ok(Ok(user)) => user,
        Ok(Err(NotSignedIn::Throttled(wait))) => {
            let form = signin_form(&svc, &csrf, form.device, StatusCode::OK, Some(THROTTLED));
            return too_many(form, wait);
        }
        Ok(Err(NotSignedIn::WrongCode)) => {
            let status = StatusCode::UNAUTHORIZED;
            return signin_form(&svc, &csrf, form.device, status, Some(BAD_CODE));
        }
        Err(e) => return internal(&svc, &csrf, e),
    };
    deliver(&svc, &info, Some(&user), client(&peer)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_web_sign_in_carries_the_device_sealed() {
        let demo = super::super::demo::prepare("http://localhost:1").unwrap();
        let location = demo.settings.require_store().unwrap();
        let store = crate::store::open(&location).await.unwrap();
        let keys = crate::tokens::Keys::from_bytes(&[7; 32]).unwrap();
        let svc = Service::new(demo.settings.clone(), keys, None, store).unwrap();
        let info = MachineInfo {
            serial: "C02XK1ABJG5H".into(),
            udid: "00008030-001A2B3C4D5E802E".into(),
            product: "iPhone15,2".into(),
            version: "21F90".into(),
            os_version: Some("17.5.1".into()),
            language: None,
            can_request_software_update: true,
        };
        let token = seal(&svc, &info).unwrap();
        assert!(token.len() < 1024, "{}", token.len());
        assert_eq!(unseal(&svc, &token), Some(info.clone()));
        // Changed, or minted for another purpose: nothing.
        let mut forged = token.clone();
        forged.replace_range(..1, if token.starts_with('M') { "N" } else { "M" });
        assert_eq!(unseal(&svc, &forged), None);
        let access = svc
            .keys
            .issue(Purpose::Access, "x@contoso.com", audit::now() + 60)
            .unwrap();
        assert_eq!(unseal(&svc, &access), None);
        // The longest values MachineInfo takes still fit a token.
        let long = MachineInfo {
            serial: "S".repeat(64),
            udid: "A".repeat(64),
            product: "P".repeat(64),
            version: "V".repeat(64),
            os_version: Some("9".repeat(64)),
            ..info
        };
        let token = seal(&svc, &long).unwrap();
        assert_eq!(unseal(&svc, &token), Some(long));
    }
}
