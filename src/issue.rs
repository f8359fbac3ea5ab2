//! THE one path by which every channel issues a profile — `aspen profile`,
//! `profile for`, `bulk`, the portal's download, account-driven enrollment,
//! and every channel yet to come (a new channel is a caller, never a copy):
//!
//! 1. **resolve**: the channel brings the [`Enrollment`] that
//!    [`crate::model::resolution`] decided from the policies (or that the
//!    admin named on the command line);
//! 2. **build** the profile for it and the identity settings it carries,
//!    with a fresh secret when they are `per-profile`;
//! 3. the **secret's record** for the store (keyed by a hash, never the
//!    value), which the caller commits before the bytes leave;
//! 4. **sign** (after encrypting the payloads, when asked);
//! 5. the **audit row**, which the caller records with the bytes.
//!
//! Nothing here does I/O or waits: the caller decides where the bytes, the
//! secret and the row go, and in which order (a server commits the secret,
//! answers, records the row; the CLI writes the file, then records both).

use crate::audit::{Record, Source};
use crate::encrypt::Recipient;
use crate::error::{Error, Result};
use crate::model::machine_info::DeviceIds;
use crate::model::{Enrollment, EnrollmentKind};
use crate::output::Access;
use crate::profile::{self, Issue, Target};
use crate::secret::IssuedSecret;
use crate::settings::{IdentityUse, Settings};
use crate::sign::{Session, Signer};
use crate::tokens::Keys;
use std::collections::HashMap;

/// What to issue, and for whom.
#[derive(Debug, Clone)]
pub struct Order<'a> {
    pub enrollment: &'a Enrollment,
    /// Which identity settings the profile carries (`[identity]`, or
    /// `[identity.fallback]` for a device too old for the primary).
    pub identity: IdentityUse,
    /// The directory user the profile is for (their e-mail), or the Managed
    /// Apple ID a bare `aspen profile` names; recorded with the secret and
    /// the row.
    pub user: Option<&'a str>,
    /// The policy that decided the enrollment, when one did.
    pub policy: Option<&'a str>,
    pub source: Source,
    /// The client's address, for the row (servers).
    pub client: Option<String>,
    /// The device the profile is for, when the channel knows it (Automated
    /// Device Enrollment's verified `MachineInfo`, `aspen profile device
    /// --serial`): subjects and a device-bound client identifier are
    /// filled from it, and the secret's record and the row name it.
    pub device: Option<&'a DeviceIds>,
}

impl Order<'_> {
    fn target(&self) -> Target<'_> {
        Target {
            user: self.user,
            device: self.device,
        }
    }
}

/// How the bytes are sealed (step 4).
pub enum Seal<'a, 's> {
    /// Unsigned.
    None,
    /// Signed by a shared signer (any thread).
    Signer(&'a Signer),
    /// Signed by one thread's signing session (bulk's workers).
    Session(&'a mut Session<'s>),
}

/// A profile issued, not yet handed out.
#[derive(Debug)]
pub struct Issued {
    pub bytes: Vec<u8>,
    pub kind: EnrollmentKind,
    /// The profile's own `PayloadUUID`, as the store and `aspen issued`
    /// name it.
    pub payload_uuid: String,
    /// SHA-256 of `bytes`.
    pub sha256: [u8; 32],
    /// Commit before the bytes leave (per-profile secrets only).
    pub secret: Option<IssuedSecret>,
    /// Record with the bytes.
    pub record: Record,
    /// Private to its owner when it carries a secret (static or fresh).
    pub access: Access,
}

impl Issued {
    /// The SHA-256 in lower-case hex, as `sha256sum` prints it.
    pub fn sha256_hex(&self) -> String {
        crate::hex::lower(&self.sha256)
    }
}

/// Unsigned profiles of the same kind, without a Managed Apple ID or a
/// per-profile secret, are the same bytes for every user: a run issuing
/// many (bulk) builds each once.
#[derive(Default)]
pub struct Shared {
    xml: HashMap<(EnrollmentKind, IdentityUse), Vec<u8>>,
}

/// Issues profiles from one settings file.
pub struct Issuer<'a> {
    pub settings: &'a Settings,
    /// The key of the secrets' lookup hash; needed when an identity is
    /// `per-profile`.
    pub keys: Option<&'a Keys>,
}

impl Issuer<'_> {
    /// Steps 2 to 5 for `order`.
    pub fn issue(&self, order: &Order, seal: Seal, encrypt: Option<&Recipient>) -> Result<Issued> {
        self.issue_shared(order, seal, encrypt, None)
    }

    /// [`Issuer::issue`], building the unsigned bytes of a profile that is
    /// the same for every user only once per `shared`.
    pub fn issue_shared(
        &self,
        order: &Order,
        seal: Seal,
        encrypt: Option<&Recipient>,
        shared: Option<&mut Shared>,
    ) -> Result<Issued> {
        let settings = self.settings;
        let enrollment = order.enrollment;
        let issue = Issue::new(settings, order.identity, enrollment, order.target())?;
        let same_for_all = !issue.is_per_profile()
            && !settings.identity_for(order.identity).varies_per_issue()
            && enrollment.managed_apple_id().is_none()
            && encrypt.is_none();
        let build = || -> Result<Vec<u8>> {
            let profile = profile::build(settings, enrollment, &issue);
            match encrypt {
                Some(r) => profile.to_xml_encrypted(r),
                None => profile.to_xml(),
            }
        };
        let owned;
        let xml: &[u8] = match shared {
            Some(shared) if same_for_all => {
                match shared.xml.entry((enrollment.kind(), order.identity)) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => v.insert(build()?),
                }
            }
            _ => {
                owned = build()?;
                &owned
            }
        };
        let payload_uuid = profile::profile_uuid(settings, enrollment);
        let secret = match (issue.is_per_profile(), self.keys) {
            (false, _) => None,
            (true, Some(keys)) => {
                issue.record(keys, order.target(), &payload_uuid, crate::audit::now())?
            }
            (true, None) => {
                return Err(Error::invalid(
                    "internal: a per-profile secret without the key to record it",
                ));
            }
        };
        let bytes = match seal {
            Seal::None => xml.to_vec(),
            Seal::Signer(s) => s.sign(xml)?,
            Seal::Session(s) => s.sign(xml)?,
        };
        let sha256 = openssl::sha::sha256(&bytes);
        Ok(Issued {
            record: self.record(order, &crate::hex::lower(&sha256)),
            kind: enrollment.kind(),
            payload_uuid,
            sha256,
            secret,
            access: Access::holding_secret(issue.carries_secret()),
            bytes,
        })
    }

    /// Step 5 alone: the audit row of `order` issued as bytes with this
    /// SHA-256 (a server handing out bytes it signed once).
    pub fn record(&self, order: &Order, sha256: &str) -> Record {
        Record::issued(
            order.source,
            order.user,
            order.policy,
            order.enrollment.kind(),
            &profile::profile_uuid(self.settings, order.enrollment),
            sha256,
        )
        .with_client(order.client.clone())
        .with_device(order.device)
    }
}
