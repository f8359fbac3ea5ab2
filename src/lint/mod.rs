//! `aspen lint`: findings about a profile, each with a stable code, a
//! severity, the payload and key path it concerns and a one-line reason.
//!
//! Every rule comes from Apple's published facts and needs nothing else:
//! the facts of Apple's device-management schema are built in ([`facts`]),
//! and `--schema DIR` reads a newer checkout of Apple's files instead
//! ([`schema`]). Rules are grouped by what they concern: [`structure`] (top
//! level, common keys, identifiers), [`payloads`] (the payload types aspen
//! writes, beyond what the schema can say), [`enrollment`] (the MDM
//! enrollment modes), [`check`] (every payload type and key Apple's schema
//! describes), [`user_enrollment`] (what Apple forbids or ignores under User
//! Enrollment), [`target`] (the platforms and versions of `--platform` and
//! `--min-os` against Apple's `supportedOS`) and [`signature`].

pub mod check;
pub mod enrollment;
pub mod facts;
mod locate;
pub mod payloads;
pub mod sarif;
pub mod schema;
pub mod signature;
mod spelling;
pub mod structure;
mod summary;
pub mod target;
pub mod user_enrollment;
mod yaml;

pub use locate::locate;
pub use summary::{FileReport, Summary, render};

use crate::payload::mdm::Detected;
use crate::read::Document;
use plist::{Dictionary, Value};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something lint did not check, or a fact worth knowing; never a fault.
    Note,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A rule: its stable code, severity and what it is about.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub code: &'static str,
    pub severity: Severity,
    pub title: &'static str,
}

const fn error(code: &'static str, title: &'static str) -> Rule {
    Rule {
        code,
        severity: Severity::Error,
        title,
    }
}

const fn warning(code: &'static str, title: &'static str) -> Rule {
    Rule {
        code,
        severity: Severity::Warning,
        title,
    }
}

const fn note(code: &'static str, title: &'static str) -> Rule {
    Rule {
        code,
        severity: Severity::Note,
        title,
    }
}

/// Every rule, by code. Codes never change meaning; new rules get new codes.
pub mod rules {
    use super::{Rule, error, note, warning};

    pub const UNREADABLE: Rule = error("ASP000", "the file is not a readable profile");
    pub const NOT_A_PROFILE: Rule = error("ASP001", "the root is not a dictionary");
    pub const MISSING_KEY: Rule = error("ASP002", "a required key is missing");
    pub const WRONG_TYPE: Rule = error("ASP003", "a value has the wrong type");
    pub const NOT_ALLOWED: Rule = error("ASP004", "a value is not one Apple allows");
    pub const BAD_FORMAT: Rule = error("ASP005", "a value does not have the required format");
    pub const DUPLICATE_UUID: Rule = error("ASP006", "two payloads share a PayloadUUID");
    pub const DUPLICATE_IDENTIFIER: Rule =
        error("ASP007", "two payloads share a PayloadIdentifier");
    pub const UNKNOWN_KEY: Rule = warning("ASP008", "a key the payload type does not define");
    /// ASP009 once warned about any PayloadUUID not in 8-4-4-4-12 form;
    /// Apple asks only for a unique string ("The actual content is
    /// unimportant, but must be globally unique"), and Jamf's mSCP and Kandji
    /// write `<reverse-DNS>.<UUID>`, so now only an empty one is reported.
    pub const EMPTY_UUID: Rule = warning("ASP009", "a PayloadUUID is empty");
    pub const ENCRYPTED: Rule = warning("ASP010", "the payloads are encrypted and not checked");
    pub const OUT_OF_RANGE: Rule = error("ASP011", "a value is outside its range");
    pub const DUPLICATE_KEY: Rule = warning("ASP012", "a dictionary has the same key twice");
    pub const BAD_ENCRYPTION: Rule = error("ASP013", "the encrypted content is malformed");
    pub const NO_PAYLOADS: Rule = warning("ASP014", "the profile has no payloads");
    pub const UNKNOWN_PAYLOAD: Rule =
        warning("ASP015", "a payload type Apple's schema does not define");
    pub const NEWER_KEY: Rule = note(
        "ASP016",
        "a key not in Apple's schema as of its release: not checked",
    );
    pub const CUSTOM_PREFERENCES: Rule = note(
        "ASP017",
        "custom preferences (a payload type or domain not Apple's): not checked",
    );
    pub const REMOVED_KEY: Rule = note(
        "ASP018",
        "a key or payload type Apple's schema marks removed on every OS that had it",
    );
    pub const ACCEPTED_MISSING: Rule = note(
        "ASP019",
        "a key Apple's schema marks required is missing where Apple's own tools leave it out: not an error",
    );

    pub const DANGLING_REFERENCE: Rule = error("ASP020", "a UUID reference points at no payload");
    pub const WRONG_REFERENCE: Rule = error(
        "ASP021",
        "a UUID reference points at a payload of the wrong type",
    );
    pub const TOPIC: Rule = error("ASP022", "the MDM Topic lacks the com.apple.mgmt. prefix");
    pub const HTTPS: Rule = error("ASP023", "a URL that must be https:// is not");
    pub const ACCESS_RIGHTS: Rule = error("ASP024", "AccessRights breaks Apple's bit rules");
    pub const SERVER_CAPABILITIES: Rule = error("ASP025", "ServerCapabilities is invalid");
    pub const SECOND_MDM: Rule = error("ASP026", "more than one MDM payload");

    pub const BYOD_WITHOUT_ID: Rule =
        error("ASP030", "BYOD enrollment without AssignedManagedAppleID");
    pub const BYOD_ACCESS_RIGHTS: Rule = error("ASP031", "BYOD enrollment with AccessRights");
    pub const LEGACY_USER: Rule = warning(
        "ASP032",
        "profile-based User Enrollment: refused by iOS 18 and macOS 15",
    );
    pub const ADDE_WITHOUT_ID: Rule =
        error("ASP033", "ADDE enrollment without AssignedManagedAppleID");
    pub const BAD_MANAGED_APPLE_ID: Rule = error("ASP034", "a Managed Apple ID is malformed");
    pub const ID_WITHOUT_MODE: Rule = warning(
        "ASP035",
        "AssignedManagedAppleID without EnrollmentMode is ignored",
    );
    pub const MIXED_MODES: Rule = error("ASP036", "ManagedAppleID together with EnrollmentMode");
    pub const ENROLLMENT_EXTRA: Rule = warning(
        "ASP037",
        "an enrollment profile carries payloads enrollment does not need",
    );
    pub const PREFER_ACME: Rule = note(
        "ASP038",
        "a SCEP enrollment identity where every target supports ACME (--min-os)",
    );

    pub const ACME_KEY: Rule = error("ASP040", "the ACME key settings break Apple's rules");
    pub const SCEP_KEY: Rule = error("ASP041", "the SCEP key settings break Apple's rules");
    pub const SUBJECT: Rule = error("ASP042", "a certificate Subject is malformed");
    pub const CERTIFICATE: Rule = error("ASP043", "a certificate payload holds no certificate");

    pub const UE_FORBIDDEN_PAYLOAD: Rule = error(
        "ASP050",
        "a payload type Apple forbids under User Enrollment",
    );
    pub const UE_FORBIDDEN_KEY: Rule = error("ASP051", "a key Apple forbids under User Enrollment");
    pub const UE_IGNORED_KEY: Rule = warning("ASP052", "a key Apple ignores under User Enrollment");

    pub const NOT_ON_PLATFORM: Rule = warning(
        "ASP070",
        "a payload type or key not available on a target platform (--platform)",
    );
    pub const REMOVED_FOR_TARGET: Rule = error(
        "ASP071",
        "a payload type or key removed at or before a target version (--min-os)",
    );
    pub const DEPRECATED_FOR_TARGET: Rule = warning(
        "ASP072",
        "a payload type or key deprecated at or before a target version (--min-os)",
    );
    pub const INTRODUCED_AFTER_TARGET: Rule = warning(
        "ASP073",
        "a payload type or key introduced after a target version (--min-os)",
    );

    pub const BAD_SIGNATURE: Rule = error("ASP060", "the signature does not verify");
    pub const SIGNER_EXPIRED: Rule = warning(
        "ASP061",
        "the signing certificate is outside its validity period",
    );
    pub const NO_PER_USER_CONNECTIONS: Rule = warning(
        "ASP062",
        "an MDM payload without the per-user-connections server capability",
    );
    pub const SCEP_URL_QUERY: Rule = warning("ASP063", "a SCEP URL with a query string");

    /// All rules, for documentation and tests.
    pub const ALL: &[Rule] = &[
        UNREADABLE,
        NOT_A_PROFILE,
        MISSING_KEY,
        WRONG_TYPE,
        NOT_ALLOWED,
        BAD_FORMAT,
        DUPLICATE_UUID,
        DUPLICATE_IDENTIFIER,
        UNKNOWN_KEY,
        EMPTY_UUID,
        ENCRYPTED,
        OUT_OF_RANGE,
        DUPLICATE_KEY,
        BAD_ENCRYPTION,
        NO_PAYLOADS,
        UNKNOWN_PAYLOAD,
        NEWER_KEY,
        CUSTOM_PREFERENCES,
        REMOVED_KEY,
        ACCEPTED_MISSING,
        DANGLING_REFERENCE,
        WRONG_REFERENCE,
        TOPIC,
        HTTPS,
        ACCESS_RIGHTS,
        SERVER_CAPABILITIES,
        SECOND_MDM,
        BYOD_WITHOUT_ID,
        BYOD_ACCESS_RIGHTS,
        LEGACY_USER,
        ADDE_WITHOUT_ID,
        BAD_MANAGED_APPLE_ID,
        ID_WITHOUT_MODE,
        MIXED_MODES,
        ENROLLMENT_EXTRA,
        PREFER_ACME,
        ACME_KEY,
        SCEP_KEY,
        SUBJECT,
        CERTIFICATE,
        UE_FORBIDDEN_PAYLOAD,
        UE_FORBIDDEN_KEY,
        UE_IGNORED_KEY,
        BAD_SIGNATURE,
        SIGNER_EXPIRED,
        NO_PER_USER_CONNECTIONS,
        SCEP_URL_QUERY,
        NOT_ON_PLATFORM,
        REMOVED_FOR_TARGET,
        DEPRECATED_FOR_TARGET,
        INTRODUCED_AFTER_TARGET,
    ];
}

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    /// Where: `PayloadContent[2].AccessRights`, or empty for the whole file.
    pub path: String,
    /// The payload it concerns, when it concerns one.
    pub payload_type: Option<String>,
    pub payload_identifier: Option<String>,
    pub message: String,
    /// Where in the file, when known (1-based; the column counts characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// Which enrollment the User Enrollment rules assume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Enrollment {
    /// Apply the User Enrollment rules.
    User,
    /// Do not apply them.
    Device,
}

#[derive(Default)]
pub struct Options<'a> {
    /// Forced mode; detected from the profile's MDM payload when absent.
    pub enrollment: Option<Enrollment>,
    /// Apple's schema from `--schema DIR`; the built-in facts when absent.
    pub schema: Option<&'a schema::Schema>,
    /// The platforms and minimum versions of `--platform` and `--min-os`;
    /// none: no platform or version rules.
    pub targets: Vec<target::Target>,
}

/// What `lint` found in one document.
#[derive(Debug, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// The enrollment the profile's MDM payload describes, if it has one.
    pub detected: Option<Detected>,
    /// Whether the User Enrollment rules were applied.
    pub user_enrollment_rules: bool,
    pub encrypted: bool,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    pub fn notes(&self) -> usize {
        self.count(Severity::Note)
    }

    fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }
}

/// A payload of the profile, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Payload<'a> {
    pub index: usize,
    pub dict: &'a Dictionary,
}

impl<'a> Payload<'a> {
    pub fn payload_type(&self) -> Option<&'a str> {
        self.str("PayloadType")
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.dict.get(key).and_then(Value::as_string)
    }

    pub fn path(&self, key: &str) -> String {
        if key.is_empty() {
            format!("PayloadContent[{}]", self.index)
        } else {
            format!("PayloadContent[{}].{key}", self.index)
        }
    }
}

/// Collects findings. Rules run in passes (specific built-in rules, then
/// Apple's schema with the User Enrollment modes); a later pass does not repeat what
/// an earlier pass already reported at a path or at a key or payload that
/// contains it — but only when that earlier finding is at least as severe, so
/// a warning never hides an error.
pub struct Sink {
    findings: Vec<Finding>,
    /// (code, path) of every finding so far, to drop exact repeats.
    seen: std::collections::HashSet<(&'static str, String)>,
    /// The most severe finding of the earlier passes at each path.
    earlier: std::collections::HashMap<String, Severity>,
}

impl Sink {
    fn new() -> Sink {
        Sink {
            findings: Vec::new(),
            seen: Default::default(),
            earlier: Default::default(),
        }
    }

    /// Starts the next pass.
    fn next_pass(&mut self) {
        for f in &self.findings {
            let worst = self.earlier.entry(f.path.clone()).or_insert(f.severity);
            *worst = (*worst).max(f.severity);
        }
    }

    /// Whether an earlier pass reported, at least as severely, `path` or a
    /// key or payload that contains it (the whole-file path `""` covers only
    /// itself).
    fn covered(&self, path: &str, severity: Severity) -> bool {
        let mut at = path;
        loop {
            if self.earlier.get(at).is_some_and(|&s| s >= severity) {
                return true;
            }
            match at.rfind(['.', '[']) {
                Some(i) if i > 0 => at = &at[..i],
                _ => return false,
            }
        }
    }

    pub fn top(&mut self, rule: Rule, path: impl Into<String>, message: impl Into<String>) {
        self.push(rule, path.into(), None, message.into());
    }

    pub fn at(&mut self, rule: Rule, payload: &Payload<'_>, key: &str, message: impl Into<String>) {
        self.push(rule, payload.path(key), Some(payload), message.into());
    }

    /// A finding at a path inside a payload (nested keys, array items).
    pub fn nested(
        &mut self,
        rule: Rule,
        payload: Option<&Payload<'_>>,
        path: String,
        message: impl Into<String>,
    ) {
        self.push(rule, path, payload, message.into());
    }

    fn push(&mut self, rule: Rule, path: String, payload: Option<&Payload<'_>>, message: String) {
        if self.covered(&path, rule.severity) || !self.seen.insert((rule.code, path.clone())) {
            return;
        }
        self.findings.push(Finding {
            code: rule.code,
            severity: rule.severity,
            path,
            payload_type: payload.and_then(|p| p.payload_type()).map(str::to_owned),
            payload_identifier: payload
                .and_then(|p| p.str("PayloadIdentifier"))
                .map(str::to_owned),
            message,
            line: None,
            column: None,
        });
    }
}

/// The payload dictionaries of a profile (items that are not dictionaries
/// are reported by [`structure`] and skipped here).
pub fn payloads(root: &Dictionary) -> Vec<Payload<'_>> {
    root.get("PayloadContent")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .enumerate()
                .filter_map(|(index, v)| v.as_dictionary().map(|dict| Payload { index, dict }))
                .collect()
        })
        .unwrap_or_default()
}

/// The profile's MDM payload, if any (the first, when there are several).
pub fn mdm_payload<'a>(payloads: &[Payload<'a>]) -> Option<Payload<'a>> {
    payloads
        .iter()
        .find(|p| p.payload_type() == Some(crate::payload::mdm::PAYLOAD_TYPE))
        .copied()
}

/// Lints one document.
pub fn lint(doc: &Document, options: &Options<'_>) -> Report {
    let mut sink = Sink::new();
    let Some(root) = doc.dictionary() else {
        sink.top(
            rules::NOT_A_PROFILE,
            "",
            "the plist's root is not a dictionary, so this is not a configuration profile",
        );
        return Report {
            findings: sink.findings,
            detected: None,
            user_enrollment_rules: false,
            encrypted: false,
        };
    };
    let payloads = payloads(root);
    let detected = mdm_payload(&payloads).map(|p| Detected::of(p.dict));
    let ue = match options.enrollment {
        Some(Enrollment::User) => true,
        Some(Enrollment::Device) => false,
        None => detected.is_some_and(Detected::is_user_enrollment),
    };
    let encrypted = structure::check(doc, root, &payloads, &mut sink);
    payloads::check(&payloads, &mut sink);
    enrollment::check(&payloads, &mut sink);
    signature::check(doc, &mut sink);
    sink.next_pass();
    let schema = options.schema.unwrap_or_else(|| facts::built_in());
    check::check(schema, root, &payloads, ue, &options.targets, &mut sink);
    // After the schema, so that this profile-wide warning hides none of its
    // findings inside the extra payloads.
    enrollment::extras(&payloads, schema, &options.targets, &mut sink);
    Report {
        findings: sink.findings,
        detected,
        user_enrollment_rules: ue,
        encrypted,
    }
}

/// A short description of a value's type for messages.
pub fn type_name(value: &Value) -> &'static str {
    crate::payload::ValueType::of(value).map_or("UID", |t| t.name())
}

/// `an integer`, `a string`: a type name with its article.
pub fn a(name: &str) -> String {
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u', 'U']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An earlier finding hides later ones at or under its path only when it
    /// is at least as severe.
    #[test]
    fn earlier_findings_cover_only_as_severe_ones() {
        let mut sink = Sink::new();
        sink.top(rules::DUPLICATE_KEY, "PayloadContent[1].Key", "");
        sink.top(rules::UE_FORBIDDEN_PAYLOAD, "PayloadContent[3]", "");
        sink.next_pass();
        sink.top(rules::UE_FORBIDDEN_KEY, "PayloadContent[1].Key", "");
        sink.top(rules::UNKNOWN_KEY, "PayloadContent[1].Key.Sub", "");
        sink.top(rules::OUT_OF_RANGE, "PayloadContent[3].Port", "");
        sink.top(rules::UNKNOWN_KEY, "PayloadContent[3][0]", "");
        sink.top(rules::WRONG_TYPE, "PayloadContent[30]", "");
        let got: Vec<(&str, &str)> = sink
            .findings
            .iter()
            .map(|f| (f.code, f.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("ASP012", "PayloadContent[1].Key"),
                ("ASP050", "PayloadContent[3]"),
                ("ASP051", "PayloadContent[1].Key"),
                ("ASP003", "PayloadContent[30]"),
            ]
        );
    }
}
