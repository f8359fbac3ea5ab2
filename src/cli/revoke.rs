//! `aspen revoke`: ends the per-profile identity secrets (SCEP challenges,
//! ACME client identifiers) not yet used, of one profile or of every
//! profile issued to a user, so a lost or re-issued profile can no longer
//! get its certificate. `aspen scep-verify` and step-ca's webhook then
//! refuse them as revoked. Recorded in the audit log, one row per profile.

use super::printer::{self, note};
use crate::audit::Record;
use crate::error::Result;
use crate::store::Revoke;
use std::collections::BTreeMap;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::Config,
    /// The profile's PayloadUUID (`aspen issued` shows it; NanoMDM's
    /// ProfileList names it).
    #[arg(
        long,
        value_name = "UUID",
        required_unless_present = "user",
        conflicts_with = "user"
    )]
    profile: Option<String>,
    /// Every profile issued to this user (e-mail, any case).
    #[arg(long, value_name = "EMAIL")]
    user: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let settings = args.config.load()?;
    let location = settings.require_store()?;
    let which = match (args.profile, args.user) {
        (Some(uuid), _) => Revoke::Profile(uuid.trim().to_owned()),
        (None, Some(user)) => Revoke::User(user.trim().to_ascii_lowercase()),
        (None, None) => unreachable!("clap requires --profile or --user"),
    };
    let stored = super::Stored::open(&location)?;
    let now = crate::audit::now();
    let ended = stored.run(stored.store.revoke_secrets(which.clone(), now))?;
    // One row per profile: whose it was (the device too, when it was
    // issued to one) and how many secrets ended.
    type Whose = (String, Option<String>, Option<String>);
    let mut profiles: BTreeMap<Whose, usize> = BTreeMap::new();
    for s in &ended {
        *profiles
            .entry((s.payload_uuid.clone(), s.user.clone(), s.serial.clone()))
            .or_default() += 1;
    }
    let rows: Vec<Record> = if profiles.is_empty() {
        let (user, uuid) = match &which {
            Revoke::Profile(uuid) => (None, Some(uuid.as_str())),
            Revoke::User(user) => (Some(user.as_str()), None),
        };
        vec![Record::revoked(
            user,
            uuid,
            "no identity secret was still usable (aspen revoke)".into(),
        )]
    } else {
        profiles
            .iter()
            .map(|((uuid, user, serial), n)| Record {
                serial: serial.clone(),
                ..Record::revoked(
                    user.as_deref(),
                    Some(uuid),
                    format!("{} revoked (aspen revoke)", secrets(*n)),
                )
            })
            .collect()
    };
    stored.run(stored.store.append(rows, now))?;
    if profiles.is_empty() {
        note(match &which {
            Revoke::Profile(uuid) => format!(
                "profile {uuid} has no identity secret still usable (used, expired, or not a profile aspen issued)"
            ),
            Revoke::User(user) => format!("{user} has no identity secret still usable"),
        });
        return Ok(());
    }
    let mut text = String::new();
    for ((uuid, user, _), n) in &profiles {
        text.push_str(&format!(
            "Revoked {} of profile {uuid}{}\n",
            secrets(*n),
            user.as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default()
        ));
    }
    printer::out(&text)
}

fn secrets(n: usize) -> String {
    format!("{n} identity secret{}", if n == 1 { "" } else { "s" })
}
