//! `aspen scep-verify`: a SCEP server's check of a certificate request, as
//! micromdm/scep's `-csrverifierexec` runs it (the raw DER CSR on standard
//! input; the request is accepted only on exit status 0).
//!
//! Exit 0: the CSR's `challengePassword` is a per-profile challenge aspen
//! issued, unexpired and unused; it is used now (of two requests with it,
//! even at once, exactly one gets 0). Exit 1: refused, the reason on stderr.
//! Exit 2: aspen itself failed (settings, key, store), so nothing was
//! accepted. Every acceptance and refusal is recorded in the audit store;
//! the challenge itself is never printed or recorded.

use super::Outcome;
use crate::audit;
use crate::challenge;
use crate::error::{Error, Result};
use crate::read::csr::{self, Malformed};
use crate::secret::IdentitySecret;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::Config,
    /// The certificate request (PKCS#10, DER or PEM); standard input when
    /// absent or `-`.
    #[arg(value_name = "CSR")]
    csr: Option<PathBuf>,
}

/// What became of the request.
enum Verdict {
    Accepted {
        user: Option<String>,
        payload_uuid: String,
    },
    Refused(String),
}

/// Runs the check and maps it to the exit status of the
/// `-csrverifierexec` contract.
pub fn run_outcome(args: Args) -> Result<Outcome> {
    match run(args)? {
        Verdict::Accepted { user, payload_uuid } => {
            eprintln!(
                "aspen: scep-verify: accepted: challenge of profile {payload_uuid}{}",
                user.map(|u| format!(" issued to {u}")).unwrap_or_default()
            );
            Ok(Outcome::Clean)
        }
        Verdict::Refused(reason) => {
            eprintln!("aspen: scep-verify: refused: {reason}");
            Ok(Outcome::Found(None))
        }
    }
}

fn run(args: Args) -> Result<Verdict> {
    let settings = args.config.load()?;
    let per_profile = settings
        .scep_identity()
        .is_some_and(|c| matches!(c.challenge, Some(IdentitySecret::PerProfile { .. })));
    if !per_profile {
        return Err(Error::invalid(format!(
            "{}: scep-verify checks per-profile challenges: it needs [identity] kind = \"scep\" (or [identity.fallback]) with challenge = \"per-profile\"",
            settings.file.display()
        )));
    }
    let keys = super::secret_keys(&settings)?;
    let stored = super::Stored::open(&settings.require_store()?)?;
    let path = args.csr.unwrap_or_else(|| PathBuf::from(crate::fs::STDIN));
    let bytes = match crate::fs::read_input(&path, csr::MAX_CSR_BYTES) {
        Ok(bytes) => Ok(bytes),
        // Too big is the request's fault; anything else (unreadable) ours.
        Err(Error::Invalid(message)) => Err(message),
        Err(e) => return Err(e),
    };
    let now = audit::now();
    let (record, verdict) = match bytes
        .map_err(|_| Malformed::NotACsr)
        .and_then(|b| csr::parse(&b))
    {
        Err(malformed) => {
            let reason = malformed.reason();
            (
                challenge::refused_unread(None, &reason),
                Verdict::Refused(reason),
            )
        }
        Ok(request) => match &request.challenge {
            None => {
                let reason = "the CSR has no challengePassword".to_owned();
                (
                    challenge::refused_unread(Some(&request.subject), &reason),
                    Verdict::Refused(reason),
                )
            }
            Some(value) => {
                let checked = stored.run(challenge::check(
                    stored.store.as_ref(),
                    &keys,
                    value,
                    Some(&request.subject),
                    now,
                ))?;
                let verdict = match (checked.accepted, checked.reason) {
                    (Some(issued), _) => Verdict::Accepted {
                        user: issued.user,
                        payload_uuid: issued.payload_uuid,
                    },
                    (None, reason) => Verdict::Refused(reason.unwrap_or_default()),
                };
                (checked.record, verdict)
            }
        },
    };
    // A record that cannot be written is aspen's failure: exit 2, and the
    // SCEP server refuses (a challenge already used stays used).
    stored.run(stored.store.append(vec![record], now))?;
    Ok(verdict)
}
