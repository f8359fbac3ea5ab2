//! Checking a per-profile SCEP challenge, once: the one rule behind `aspen
//! scep-verify` (micromdm/scep's `-csrverifierexec`) and step-ca's
//! `SCEPCHALLENGE` webhook (`/ca/scep-challenge`). A challenge passes when
//! aspen issued it, it has not expired and it was never used; it is used
//! in the same step (of two requests with it, even at once, exactly one
//! passes). Either way the audit row is made here, naming the profile,
//! user and device the challenge was issued to; never the challenge.

use crate::audit::Record;
use crate::error::Result;
use crate::secret::{IssuedSecret, Secret, SecretKind};
use crate::store::{Refused, Store};
use crate::tokens::Keys;

/// What became of one challenge.
#[derive(Debug)]
pub struct Checked {
    /// The secret's record, when it passed.
    pub accepted: Option<IssuedSecret>,
    /// Why not, when it did not.
    pub reason: Option<String>,
    /// The audit row to record (the caller adds the client's address).
    pub record: Record,
}

/// Uses `challenge` (the CSR's `challengePassword`) if it may be used; the
/// request's `subject` goes into the row.
pub async fn check(
    store: &dyn Store,
    keys: &Keys,
    challenge: &Secret,
    subject: Option<&str>,
    now: i64,
) -> Result<Checked> {
    let lookup = keys.secret_lookup(SecretKind::ScepChallenge, challenge);
    match store.use_secret(lookup.to_vec(), now).await? {
        Ok(issued) => Ok(Checked {
            record: row(Some(&issued), subject, None),
            reason: None,
            accepted: Some(issued),
        }),
        Err(refused) => {
            let reason = refusal(refused);
            // Whose challenge came back (used, expired) is what an admin
            // looking at a refusal wants to know.
            let known = match refused {
                Refused::Unknown => None,
                _ => store.find_secret(lookup.to_vec()).await?,
            };
            Ok(Checked {
                record: row(known.as_ref(), subject, Some(&reason)),
                reason: Some(reason),
                accepted: None,
            })
        }
    }
}

/// A request refused before its challenge was looked at (no challenge, a
/// malformed request): its row.
pub fn refused_unread(subject: Option<&str>, reason: &str) -> Record {
    row(None, subject, Some(reason))
}

fn row(secret: Option<&IssuedSecret>, subject: Option<&str>, reason: Option<&str>) -> Record {
    let mut record = Record::secret_check(
        secret.and_then(|s| s.user.as_deref()),
        secret.map(|s| s.payload_uuid.as_str()),
        subject,
        reason,
    );
    if let Some(s) = secret {
        record.serial = s.serial.clone();
        record.udid = s.udid.clone();
    }
    record
}

fn refusal(refused: Refused) -> String {
    match refused {
        Refused::Unknown => "the challenge is not one aspen issued".into(),
        Refused::Expired => "the challenge has expired".into(),
        Refused::Used => "the challenge was already used".into(),
        Refused::Revoked => "the challenge was revoked (aspen revoke)".into(),
    }
}
