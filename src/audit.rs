//! The audit log's records: every choice a user makes, every profile
//! issued (by the CLI, the portal, account-driven or Automated Device
//! Enrollment), every request refused before a profile (a `MachineInfo`
//! whose signature does not hold) and every per-profile challenge a SCEP
//! server asked `aspen scep-verify` or step-ca's webhook to check.
//! Where they are kept is `store`'s business. Records are plain data: whoever
//! issues a profile or checks a secret builds its record (this module sits
//! below the store, the profile and the settings, and imports none of them).

use crate::model::EnrollmentKind;
use crate::model::machine_info::DeviceIds;
use crate::model::policy::Choice;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A user answered the user-choice questions.
    Choice,
    /// A profile was issued.
    Issued,
    /// A certificate request carried an issued, unexpired, unused
    /// per-profile challenge (now used).
    SecretAccepted,
    /// A certificate request was refused; `reason` says why.
    SecretRefused,
    /// A user reached `[serve] issues_per_user`: recorded once per window,
    /// however many requests were refused; `reason` says what.
    Limited,
    /// A request for a profile was refused before one was issued (a
    /// device whose `MachineInfo` signature does not hold, or whose OS is
    /// below `[ade] minimum_os`, or an enrollment restriction's rule:
    /// then `policy` names the restriction); `reason` says why.
    Refused,
    /// An admin ended what was still usable: a user's sign-in codes
    /// (`aspen invite --revoke`) or a profile's identity secrets (`aspen
    /// revoke`); `reason` says what and how many.
    Revoked,
}

impl Event {
    /// Every event, in the order `aspen issued --help` names them.
    pub const ALL: [Event; 7] = [
        Event::Choice,
        Event::Issued,
        Event::SecretAccepted,
        Event::SecretRefused,
        Event::Limited,
        Event::Refused,
        Event::Revoked,
    ];

    /// The event named `name` (as the store writes it).
    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Choice => "choice",
            Event::Issued => "issued",
            Event::SecretAccepted => "secret-accepted",
            Event::SecretRefused => "secret-refused",
            Event::Limited => "limited",
            Event::Refused => "refused",
            Event::Revoked => "revoked",
        }
    }
}

/// Which way the profile or choice came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cli,
    Portal,
    AccountDriven,
    /// A SCEP server's check of a certificate request (`aspen scep-verify`,
    /// step-ca's webhook).
    Scep,
    /// Automated Device Enrollment: a device in Setup Assistant.
    Ade,
}

impl Source {
    /// Every channel.
    pub const ALL: [Source; 5] = [
        Source::Cli,
        Source::Portal,
        Source::AccountDriven,
        Source::Scep,
        Source::Ade,
    ];

    /// The channel named `name` (as the store writes it).
    pub fn parse(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cli => "cli",
            Source::Portal => "portal",
            Source::AccountDriven => "account-driven",
            Source::Scep => "scep",
            Source::Ade => "ade",
        }
    }
}

/// One row to record.
#[derive(Debug, Clone)]
pub struct Record {
    pub event: Event,
    pub source: Source,
    pub user: Option<String>,
    pub policy: Option<String>,
    pub choice: Option<Choice>,
    pub kind: Option<EnrollmentKind>,
    pub payload_uuid: Option<String>,
    pub sha256: Option<String>,
    pub client: Option<String>,
    /// The certificate request's subject (identity-secret checks).
    pub subject: Option<String>,
    /// Why a check refused.
    pub reason: Option<String>,
    /// The device, where the channel knows it (Automated Device
    /// Enrollment; a secret issued to a device).
    pub serial: Option<String>,
    pub udid: Option<String>,
    /// e.g. `iPhone15,2`.
    pub product: Option<String>,
    pub os_version: Option<String>,
    /// The user's groups the policy was chosen by (issued profiles and
    /// choices of the server)…
    pub groups: Option<Vec<String>>,
    /// …and the identity provider's claim they came from; `None`: from
    /// the directory (users.csv).
    pub groups_claim: Option<String>,
}

impl Record {
    /// A row of `event` from `source` with nothing else said: what every
    /// constructor below starts from, so a new column is added in one place.
    fn new(event: Event, source: Source) -> Record {
        Record {
            event,
            source,
            user: None,
            policy: None,
            choice: None,
            kind: None,
            payload_uuid: None,
            sha256: None,
            client: None,
            subject: None,
            reason: None,
            serial: None,
            udid: None,
            product: None,
            os_version: None,
            groups: None,
            groups_claim: None,
        }
    }

    /// An issued profile's record, from its parts.
    pub fn issued(
        source: Source,
        user: Option<&str>,
        policy: Option<&str>,
        kind: EnrollmentKind,
        payload_uuid: &str,
        sha256: &str,
    ) -> Record {
        Record {
            user: user.map(str::to_ascii_lowercase),
            policy: policy.map(str::to_owned),
            kind: Some(kind),
            payload_uuid: Some(payload_uuid.to_owned()),
            sha256: Some(sha256.to_owned()),
            ..Record::new(Event::Issued, source)
        }
    }

    /// A user's answer under a user-choice policy, and the kind it yields.
    pub fn choice(
        source: Source,
        user: &str,
        policy: &str,
        choice: Choice,
        kind: EnrollmentKind,
    ) -> Record {
        Record {
            user: Some(user.to_ascii_lowercase()),
            policy: Some(policy.to_owned()),
            choice: Some(choice),
            kind: Some(kind),
            ..Record::new(Event::Choice, source)
        }
    }

    /// A SCEP server's certificate request was checked: accepted (`reason`
    /// `None`) or refused. `user` and `payload_uuid` are the issued secret's
    /// when it was found; `subject` is the request's subject. Never the
    /// challenge itself.
    pub fn secret_check(
        user: Option<&str>,
        payload_uuid: Option<&str>,
        subject: Option<&str>,
        reason: Option<&str>,
    ) -> Record {
        let event = if reason.is_none() {
            Event::SecretAccepted
        } else {
            Event::SecretRefused
        };
        Record {
            user: user.map(str::to_ascii_lowercase),
            payload_uuid: payload_uuid.map(str::to_owned),
            subject: subject.map(str::to_owned),
            reason: reason.map(str::to_owned),
            ..Record::new(event, Source::Scep)
        }
    }

    /// A request refused before any profile was issued (`reason` says
    /// why; never a secret).
    pub fn refused(source: Source, reason: &str) -> Record {
        Record {
            reason: Some(reason.to_owned()),
            ..Record::new(Event::Refused, source)
        }
    }

    /// `user` reached the per-user issue limit; `reason` says which.
    pub fn limited(source: Source, user: &str, reason: String) -> Record {
        Record {
            user: Some(user.to_ascii_lowercase()),
            reason: Some(reason),
            ..Record::new(Event::Limited, source)
        }
    }

    /// An admin's revocation (`aspen invite --revoke`, `aspen revoke`):
    /// whose, which profile, and what ended (`reason`). Never a secret.
    pub fn revoked(user: Option<&str>, payload_uuid: Option<&str>, what: String) -> Record {
        Record {
            user: user.map(str::to_ascii_lowercase),
            payload_uuid: payload_uuid.map(str::to_owned),
            reason: Some(what),
            ..Record::new(Event::Revoked, Source::Cli)
        }
    }

    pub fn with_client(mut self, client: Option<String>) -> Record {
        self.client = client;
        self
    }

    /// The device's columns, when the channel knows it.
    pub fn with_device(mut self, device: Option<&DeviceIds>) -> Record {
        if let Some(d) = device {
            self.serial = d.serial.clone();
            self.udid = d.udid.clone();
            self.product = d.product.clone();
            self.os_version = d.os_version.clone();
        }
        self
    }

    /// Who the row is about, when a user signed in (the ADE web sign-in).
    pub fn with_user(mut self, user: Option<&str>) -> Record {
        if let Some(u) = user {
            self.user = Some(u.to_ascii_lowercase());
        }
        self
    }

    /// The groups the policy was chosen by, and the identity provider's
    /// claim they came from (`None`: the directory), so `aspen issued`
    /// shows why a policy applied.
    pub fn with_groups(mut self, groups: &[String], claim: Option<&str>) -> Record {
        self.groups = Some(groups.to_vec());
        self.groups_claim = claim.map(str::to_owned);
        self
    }
}

/// Groups as the store keeps them: a JSON array of strings (a group name
/// may hold any character).
pub fn groups_text(groups: &Option<Vec<String>>) -> Option<String> {
    groups
        .as_ref()
        .map(|g| serde_json::to_string(g).unwrap_or_else(|_| "[]".into()))
}

/// Groups read back from the store; `None` for no value (or one that is
/// not such an array).
pub fn groups_of(text: Option<String>) -> Option<Vec<String>> {
    serde_json::from_str(&text?).ok()
}

/// Lower-case hex SHA-256, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::hex::lower(&openssl::sha::sha256(bytes))
}

/// One recorded row, for `aspen issued`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    /// Unix seconds; RFC 3339 UTC in JSON.
    #[serde(serialize_with = "rfc3339")]
    pub time: i64,
    pub event: String,
    pub channel: String,
    pub user: Option<String>,
    pub policy: Option<String>,
    pub choice: Option<String>,
    pub kind: Option<String>,
    pub ownership: Option<String>,
    pub payload_uuid: Option<String>,
    pub sha256: Option<String>,
    pub client: Option<String>,
    pub subject: Option<String>,
    pub reason: Option<String>,
    pub serial: Option<String>,
    pub udid: Option<String>,
    pub product: Option<String>,
    pub os_version: Option<String>,
    /// The groups the policy was chosen by.
    pub groups: Option<Vec<String>>,
    /// The identity provider's claim they came from (none: users.csv).
    pub groups_claim: Option<String>,
}

fn rfc3339<S: serde::Serializer>(time: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::rfc3339(*time))
}

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
