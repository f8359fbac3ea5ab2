//! `com.apple.security.scep`: the device identity obtained over SCEP
//! (Apple: mdm/profiles/com.apple.security.scep.yaml).

use super::{Common, KeySpec, Subject, ValueType as T};
use crate::secret::{IdentitySecret, Secret};
use serde::Serialize;

pub const PAYLOAD_TYPE: &str = "com.apple.security.scep";

/// Apple: the SCEP payload's own key; its settings live in `PayloadContent`.
pub const KEYS: &[KeySpec] = &[KeySpec::required("PayloadContent", T::Dictionary)];

/// Apple: the keys of the SCEP `PayloadContent` dictionary.
pub const CONTENT_KEYS: &[KeySpec] = &[
    KeySpec::required("URL", T::String),
    KeySpec::optional("Name", T::String),
    KeySpec::optional("Subject", T::Array),
    KeySpec::optional("Challenge", T::String),
    KeySpec::optional("Keysize", T::Integer),
    KeySpec::optional("Key Type", T::String),
    KeySpec::optional("Key Usage", T::Integer),
    KeySpec::optional("CAFingerprint", T::Data),
    KeySpec::optional("Retries", T::Integer),
    KeySpec::optional("RetryDelay", T::Integer),
    KeySpec::optional("SubjectAltName", T::Dictionary),
    KeySpec::optional("KeyIsExtractable", T::Boolean),
    KeySpec::optional("AllowAllAppsAccess", T::Boolean),
];

/// Apple: `Challenge` is "a preshared secret".
pub const SECRET_KEYS: &[&str] = &["Challenge"];

/// Apple: SCEP `Keysize`, rangelist 1024, 2048, 4096 (RSA only: `Key Type` is
/// "Always 'RSA'").
pub const KEY_SIZES: [u32; 3] = [1024, 2048, 4096];

/// Apple: SCEP `Key Usage` bitmask, 1 signing, 4 encryption.
pub const KEY_USAGES: [u32; 4] = [0, 1, 4, 5];

/// Apple's SCEP client adds its own query (`?operation=GetCACert&message=…`)
/// to `URL`: a URL that already has one is not reached as written.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.contains('?') {
        return Err(
            "must not carry a query string: Apple's SCEP client appends its own ?operation=…"
                .into(),
        );
    }
    Ok(())
}

pub fn check_key_size(bits: i64) -> Result<u32, String> {
    KEY_SIZES
        .iter()
        .copied()
        .find(|&k| i64::from(k) == bits)
        .ok_or_else(|| "must be 1024, 2048 or 4096 (Apple's SCEP Keysize values)".to_owned())
}

pub fn check_key_usage(bits: i64) -> Result<u32, String> {
    KEY_USAGES
        .iter()
        .copied()
        .find(|&k| i64::from(k) == bits)
        .ok_or_else(|| "must be 0, 1 (signing), 4 (encryption) or 5 (both)".to_owned())
}

#[derive(Debug, Clone)]
pub struct ScepConfig {
    pub url: String,
    pub name: Option<String>,
    /// The pre-shared secret (static or per-profile); never logged or
    /// shown by default.
    pub challenge: Option<IdentitySecret>,
    pub key_size: u32,
    pub key_usage: u32,
    pub subject: Subject,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScepPayload {
    #[serde(flatten)]
    pub common: Common,
    #[serde(rename = "PayloadContent")]
    pub content: ScepContent,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScepContent {
    #[serde(rename = "URL")]
    pub url: String,
    #[serde(
        rename = "Name",
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::some"
    )]
    pub name: Option<String>,
    #[serde(rename = "Subject")]
    pub subject: Subject,
    #[serde(
        rename = "Challenge",
        skip_serializing_if = "Option::is_none",
        serialize_with = "super::some"
    )]
    pub challenge: Option<Secret>,
    #[serde(rename = "Keysize")]
    pub key_size: u32,
    #[serde(rename = "Key Type")]
    pub key_type: &'static str,
    #[serde(rename = "Key Usage")]
    pub key_usage: u32,
}

impl ScepPayload {
    /// The payload for `config`, carrying `challenge`: the static one, or
    /// the one made for this profile.
    /// `subject` is `config.subject` with its placeholders filled.
    pub fn new(
        common: Common,
        config: &ScepConfig,
        challenge: Option<Secret>,
        subject: Subject,
    ) -> ScepPayload {
        ScepPayload {
            common,
            content: ScepContent {
                url: config.url.clone(),
                name: config.name.clone(),
                subject,
                challenge,
                key_size: config.key_size,
                key_type: "RSA",
                key_usage: config.key_usage,
            },
        }
    }
}
