//! The audit log's records: every choice a user makes, every profile
//! issued (by the CLI, the portal or account-driven enrollment) and every
//! per-profile challenge a SCEP server asked `aspen scep-verify` to check.
//! Where they are kept is `store`'s business. Records are plain data: whoever
//! issues a profile or checks a secret builds its record (this module sits
//! below the store, the profile and the settings, and imports none of them).

use crate::model::EnrollmentKind;
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
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Choice => "choice",
            Event::Issued => "issued",
            Event::SecretAccepted => "secret-accepted",
            Event::SecretRefused => "secret-refused",
        }
    }
}

/// Which way the profile or choice came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cli,
    Portal,
    AccountDriven,
    /// A SCEP server's check of a certificate request (`aspen scep-verify`).
    Scep,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cli => "cli",
            Source::Portal => "portal",
            Source::AccountDriven => "account-driven",
            Source::Scep => "scep",
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
    /// The user's groups the policy was chosen by (issued profiles and
    /// choices of the server)…
    pub groups: Option<Vec<String>>,
    /// …and the identity provider's claim they came from; `None`: from
    /// the directory (users.csv).
    pub groups_claim: Option<String>,
}

impl Record {
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
            event: Event::Issued,
            source,
            user: user.map(str::to_ascii_lowercase),
            policy: policy.map(str::to_owned),
            choice: None,
            kind: Some(kind),
            payload_uuid: Some(payload_uuid.to_owned()),
            sha256: Some(sha256.to_owned()),
            client: None,
            subject: None,
            reason: None,
            groups: None,
            groups_claim: None,
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
            event: Event::Choice,
            source,
            user: Some(user.to_ascii_lowercase()),
            policy: Some(policy.to_owned()),
            choice: Some(choice),
            kind: Some(kind),
            payload_uuid: None,
            sha256: None,
            client: None,
            subject: None,
            reason: None,
            groups: None,
            groups_claim: None,
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
        Record {
            event: if reason.is_none() {
                Event::SecretAccepted
            } else {
                Event::SecretRefused
            },
            source: Source::Scep,
            user: user.map(str::to_ascii_lowercase),
            policy: None,
            choice: None,
            kind: None,
            payload_uuid: payload_uuid.map(str::to_owned),
            sha256: None,
            client: None,
            subject: subject.map(str::to_owned),
            reason: reason.map(str::to_owned),
            groups: None,
            groups_claim: None,
        }
    }

    pub fn with_client(mut self, client: Option<String>) -> Record {
        self.client = client;
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
