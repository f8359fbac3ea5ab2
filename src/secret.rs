//! A secret string from the settings (SCEP challenge, ACME client
//! identifier): written into profiles as-is, never shown in `Debug`, errors
//! or logs. Also where a profile's identity secret comes from: the same
//! value in every profile, or a fresh one-time value in each.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::{Serialize, Serializer};
use std::fmt;
use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Accepts only a string; any other type is refused without echoing the
/// value (serde's default message would quote it).
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        struct StringOnly;
        impl<'v> Visitor<'v> for StringOnly {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret::new(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret::new(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
                Err(E::custom("a secret must be a quoted string"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
                Err(E::custom("a secret must be a quoted string"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
                Err(E::custom("a secret must be a quoted string"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
                Err(E::custom("a secret must be a quoted string"))
            }
            fn visit_map<A: de::MapAccess<'v>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom("a secret must be a quoted string"))
            }
            fn visit_seq<A: de::SeqAccess<'v>>(self, _: A) -> Result<Secret, A::Error> {
                Err(de::Error::custom("a secret must be a quoted string"))
            }
        }
        d.deserialize_string(StringOnly)
    }
}

/// The settings value that asks for a fresh secret in every issued profile
/// (`challenge = "per-profile"`, `client_identifier = "per-profile"`).
pub const PER_PROFILE: &str = "per-profile";

/// How long an unused per-profile secret stays valid unless `challenge_ttl`
/// says otherwise.
pub const DEFAULT_TTL_SECONDS: i64 = 7 * 86_400;

/// Where the identity payload's secret (Apple: `com.apple.security.scep`
/// `Challenge`, `com.apple.security.acme` `ClientIdentifier`) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySecret {
    /// The same value in every profile: written inline, or read from an
    /// environment variable or a file when the settings are loaded.
    Static(Secret),
    /// A fresh value in every issued profile, recorded in the store (as a
    /// keyed hash) and usable once, for `ttl` seconds.
    PerProfile { ttl: i64 },
    /// The device's own serial number or UDID (`client_identifier =
    /// "serial"` or `"udid"`): what step-ca's ACME `device-attest-01`
    /// requires, since it compares the order's `permanent-identifier` with
    /// the serial number and UDID Apple attests. Known only where the flow
    /// knows the device (Automated Device Enrollment, `aspen profile
    /// device --serial`); not a secret.
    Device(DeviceField),
}

impl IdentitySecret {
    pub fn is_per_profile(&self) -> bool {
        matches!(self, IdentitySecret::PerProfile { .. })
    }
}

/// Which of the device's own identifiers a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceField {
    Serial,
    Udid,
}

impl DeviceField {
    /// As written in the settings (`"serial"`, `"udid"`) and in subject
    /// placeholders (`{serial}`, `{udid}`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceField::Serial => "serial",
            DeviceField::Udid => "udid",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceField> {
        match s {
            "serial" => Some(DeviceField::Serial),
            "udid" => Some(DeviceField::Udid),
            _ => None,
        }
    }
}

/// Crockford's base32 alphabet: digits and upper-case letters only.
const BASE32: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Random bytes in a per-profile secret: 160 bits.
const FRESH_BYTES: usize = 20;

/// A new per-profile secret: 160 random bits from OpenSSL's CSPRNG as 32
/// base32 characters. Only digits and upper-case letters, so a SCEP client
/// sends it unchanged as the PKCS#10 `challengePassword` (even as a
/// PrintableString), and an ACME server takes it as a `permanent-identifier`.
pub fn fresh() -> crate::Result<Secret> {
    let mut bytes = Zeroizing::new([0u8; FRESH_BYTES]);
    openssl::rand::rand_bytes(bytes.as_mut())
        .map_err(|e| crate::Error::crypto("random bytes", e))?;
    let mut out = Zeroizing::new(String::with_capacity(FRESH_BYTES * 8 / 5));
    // 20 bytes are 32 groups of 5 bits exactly.
    for group in bytes.chunks(5) {
        let mut bits: u64 = 0;
        for &b in group {
            bits = bits << 8 | u64::from(b);
        }
        for i in (0..8).rev() {
            out.push(BASE32[((bits >> (5 * i)) & 31) as usize] as char);
        }
    }
    Ok(Secret(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_secrets_are_long_printable_and_distinct() {
        let a = fresh().unwrap();
        let b = fresh().unwrap();
        assert_eq!(a.expose().len(), 32);
        assert!(a.expose().bytes().all(|c| BASE32.contains(&c)));
        assert_ne!(a, b);
        assert_ne!(a.expose(), PER_PROFILE);
    }

    #[test]
    fn never_shown_and_never_echoed() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        #[derive(serde::Deserialize)]
        struct T {
            #[allow(dead_code)]
            c: Secret,
        }
        // The message, as the settings loader reports it (toml's Display
        // would add a snippet of the source line).
        let err = toml::from_str::<T>("c = 98765432")
            .err()
            .unwrap()
            .message()
            .to_owned();
        assert!(
            !err.contains("98765432") && err.contains("quoted string"),
            "{err}"
        );
        let t: T = toml::from_str("c = \"x\"").unwrap();
        assert_eq!(t.c.expose(), "x");
    }
}

/// What a per-profile identity secret is (Apple: `com.apple.security.scep`
/// `Challenge`, `com.apple.security.acme` `ClientIdentifier`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    ScepChallenge,
    AcmeClientIdentifier,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::ScepChallenge => "scep-challenge",
            SecretKind::AcmeClientIdentifier => "acme-client-identifier",
        }
    }

    pub fn parse(s: &str) -> Option<SecretKind> {
        match s {
            "scep-challenge" => Some(SecretKind::ScepChallenge),
            "acme-client-identifier" => Some(SecretKind::AcmeClientIdentifier),
            _ => None,
        }
    }
}

/// A per-profile secret's record, keyed by a keyed hash of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedSecret {
    pub lookup: Vec<u8>,
    pub kind: SecretKind,
    /// Lower-case e-mail, when the profile was issued to a directory user.
    pub user: Option<String>,
    /// The profile's PayloadUUID.
    pub payload_uuid: String,
    pub expires: i64,
    /// The device the profile was issued to, when the flow knew it
    /// (Automated Device Enrollment): a check of the secret names it.
    pub serial: Option<String>,
    pub udid: Option<String>,
}
