//! Enrollment restrictions at the front door: which restriction applies to
//! whom, the device count its `device_limit` is judged on, and one way to
//! record and answer a refusal on every channel (the rule itself is
//! [`crate::model::restriction`]'s).

use super::apple_error::{Refusal, WELL_KNOWN_FAILED, software_update_required};
use super::proxy::ClientAddr;
use super::service::{Needs, Plan, Service};
use super::throttle::{Attempt, now_ms, too_many};
use crate::audit::{Event, Record, Source};
use crate::error::Result;
use crate::model::device::Device;
use crate::model::directory::User;
use crate::model::machine_info::DeviceIds;
use crate::model::policy::{Choice, PolicyType};
use crate::model::restriction::{Broken, Restriction, applying};
use crate::model::{Management, Ownership};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

impl Service {
    /// The restriction that applies to `user` (`None`: a device no one
    /// signed in on), if any.
    pub fn restriction_for(&self, user: Option<&User>) -> Option<&Restriction> {
        applying(
            &self.settings.restrictions,
            user.map(|u| u.groups.as_slice()),
        )
    }

    /// The devices `user` has enrolled, as `device_limit` counts them: the
    /// per-profile SCEP challenges a CA had accepted (a device that really
    /// enrolled), or, with a static secret, the profiles issued.
    pub async fn enrolled_devices(&self, user: &str) -> Result<u64> {
        let event = if self.settings.counts_accepted_secrets() {
            Event::SecretAccepted
        } else {
            Event::Issued
        };
        self.store.count_events(user, event).await
    }

    /// The plan for account-driven enrollment (an unanswered user-choice
    /// counts as "work": User Enrollment), under `restriction`'s
    /// `personal`: User Enrollment is personal by definition, so with
    /// `personal = "block"` a user-choice user gets corporate device
    /// enrollment (ADDE) instead, and a user whose policy gives only
    /// personal enrollment is refused.
    pub async fn account_plan<'r>(
        &self,
        user: &User,
        restriction: Option<&'r Restriction>,
    ) -> Result<std::result::Result<Plan, Refused<'r>>> {
        let plan = self.plan(user, Some(Choice::Work)).await?;
        let Plan::Enroll {
            policy,
            management,
            choice,
        } = plan
        else {
            return Ok(Ok(plan));
        };
        let personal = management.ownership() == Ownership::Personal;
        Ok(match Refused::personal(restriction, personal) {
            Ok(()) => Ok(Plan::Enroll {
                policy,
                management,
                choice,
            }),
            Err(_) if policy.kind == PolicyType::UserChoice => Ok(Plan::Enroll {
                policy,
                management: Management::Device(Ownership::Corporate),
                choice: Some(Choice::Corporate),
            }),
            Err(refused) => Err(refused),
        })
    }

    /// Whether one more device of `user` fits the restriction's limit.
    pub async fn check_count<'r>(
        &self,
        restriction: &'r Restriction,
        user: &User,
    ) -> Result<Result<(), Refused<'r>>> {
        if restriction.device_limit.is_none() {
            return Ok(Ok(()));
        }
        let enrolled = self.enrolled_devices(&user.email).await?;
        Ok(restriction
            .check_count(enrolled)
            .map_err(|broken| Refused::new(restriction, broken)))
    }
}

/// A restriction refused: which, and what it found.
#[derive(Debug, Clone)]
pub struct Refused<'r> {
    pub restriction: &'r Restriction,
    pub broken: Broken,
}

impl<'r> Refused<'r> {
    pub fn new(restriction: &'r Restriction, broken: Broken) -> Refused<'r> {
        Refused {
            restriction,
            broken,
        }
    }

    /// Checks `device` against `restriction`'s platform and OS rules.
    pub fn device(
        restriction: Option<&'r Restriction>,
        device: &Device,
        platform_known: bool,
    ) -> std::result::Result<(), Refused<'r>> {
        match restriction {
            Some(r) => r
                .check_device(device, platform_known)
                .map_err(|b| Refused::new(r, b)),
            None => Ok(()),
        }
    }

    /// Checks a personally owned enrollment against `personal`.
    pub fn personal(
        restriction: Option<&'r Restriction>,
        personal: bool,
    ) -> std::result::Result<(), Refused<'r>> {
        match restriction {
            Some(r) => r.check_personal(personal).map_err(|b| Refused::new(r, b)),
            None => Ok(()),
        }
    }

    /// For the admin: the restriction, the rule, the device.
    pub fn describe(&self) -> String {
        self.broken.describe(self.restriction)
    }

    /// For the person enrolling.
    pub fn message(&self, org: &str) -> String {
        self.broken.message(self.restriction, org)
    }

    /// What a device below the restriction's `minimum_os` must run: the
    /// same answer as for a kind's own minimum (`other`), the higher of
    /// the two.
    pub fn needs(&self, other: Option<Needs>) -> Option<Needs> {
        let Broken::BelowMinimum {
            platform, minimum, ..
        } = self.broken
        else {
            return None;
        };
        let mine = Needs {
            platform,
            minimum,
            what: format!("restriction {:?} (minimum_os)", self.restriction.name),
            restriction: Some(self.restriction.name.clone()),
        };
        Some(match other {
            Some(other) if other.minimum > minimum => other,
            _ => mine,
        })
    }

    /// Its audit row: `refused`, the restriction's name in `policy`, the
    /// rule and the device in `reason`, what the device said in `product`
    /// and `os_version`.
    pub fn record(
        &self,
        source: Source,
        user: Option<&str>,
        device: Option<&DeviceIds>,
        client: Option<String>,
    ) -> Record {
        let mut record = Record::refused(source, &self.describe())
            .with_user(user)
            .with_device(device)
            .with_client(client);
        record.policy = Some(self.restriction.name.clone());
        record
    }

    /// Records the refusal (and logs it); `Err` with a `500` when the
    /// store cannot.
    pub async fn audit(
        &self,
        svc: &Service,
        source: Source,
        user: Option<&str>,
        device: Option<&DeviceIds>,
        client: Option<String>,
    ) -> std::result::Result<(), Response> {
        tracing::info!(
            channel = source.as_str(),
            user = user.unwrap_or("-"),
            "enrollment refused: {}",
            self.describe()
        );
        svc.audit(self.record(source, user, device, client))
            .await
            .map_err(|e| {
                tracing::error!("{e}");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            })
    }

    /// A refusal at discovery, which anyone may ask for: charged to the
    /// client's address as a failed sign-in is (so strangers cannot fill
    /// the audit log), recorded, answered.
    pub async fn at_discovery(
        &self,
        svc: &Service,
        peer: ClientAddr,
        user: &User,
        device: &Device,
        model_family: &str,
    ) -> Response {
        let attempt = Attempt {
            client: peer,
            target: None,
        };
        let charge = match svc
            .throttle
            .charge(svc.store.as_ref(), &attempt, now_ms())
            .await
        {
            Ok(Ok(charge)) => charge,
            Ok(Err(wait)) => {
                return too_many(self.answer(svc, device, true, None), wait);
            }
            Err(e) => {
                tracing::error!("{e}");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        if let Err(e) = svc
            .throttle
            .failed(svc.store.as_ref(), &attempt, charge, now_ms())
            .await
        {
            tracing::error!("{e}");
        }
        let ids = ids(Some(model_family), device);
        if let Err(res) = self
            .audit(
                svc,
                Source::AccountDriven,
                Some(&user.email),
                Some(&ids),
                super::web::client(&peer),
            )
            .await
        {
            return res;
        }
        self.answer(svc, device, true, None)
    }

    /// The answer a device shows (account-driven enrollment): at discovery
    /// Apple's `com.apple.well-known.failed`; below `minimum_os` Apple's
    /// `com.apple.softwareupdate.required` (with `kind_needs`, what the
    /// enrollment kind itself needs: the higher wins); otherwise a `403`
    /// in Apple's error shape with aspen's code for the rule.
    pub fn answer(
        &self,
        svc: &Service,
        device: &Device,
        discovery: bool,
        kind_needs: Option<Needs>,
    ) -> Response {
        if let Some(needs) = self.needs(kind_needs) {
            return software_update_required(svc, device, &needs);
        }
        Refusal {
            code: if discovery {
                WELL_KNOWN_FAILED
            } else {
                code(&self.broken)
            },
            description: self.describe(),
            message: self.message(svc.org()),
            details: None,
        }
        .answer(StatusCode::FORBIDDEN)
    }
}

/// aspen's code for a rule's refusal at the enroll POST.
pub fn code(broken: &Broken) -> &'static str {
    match broken {
        Broken::Platform(_) => "aspen.restriction.platforms",
        Broken::BelowMinimum { .. } => "com.apple.softwareupdate.required",
        Broken::AboveMaximum { .. } => "aspen.restriction.maximum-os",
        Broken::Personal => "aspen.restriction.personal",
        Broken::DeviceLimit { .. } => "aspen.restriction.device-limit",
    }
}

/// What a device said about itself, for the audit columns: kept only when
/// it is short plain text (a stranger wrote it).
pub fn said(text: Option<&str>) -> Option<String> {
    text.filter(|t| {
        !t.is_empty() && t.len() <= 64 && t.chars().all(|c| c.is_ascii_graphic() || c == ' ')
    })
    .map(str::to_owned)
}

/// The audit columns for a device known only by what it says.
pub fn ids(product: Option<&str>, device: &Device) -> DeviceIds {
    DeviceIds {
        serial: None,
        udid: None,
        product: said(product),
        os_version: match device.os {
            crate::model::device::Os::Unknown => None,
            _ => Some(device.describe_os()),
        },
    }
}
