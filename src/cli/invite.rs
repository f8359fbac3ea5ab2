use super::printer::{self, note, warn};
use crate::audit::Record;
use crate::error::{Error, Result};
use crate::model::directory::find_user;
use crate::model::resolution::{Decision, resolve};
use crate::serve::codes::NewCode;
use crate::settings::{PortalAuth, Settings};
use crate::time::format_utc;
use crate::tokens::Keys;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::Config,
    /// The user (e-mail in the directory) the code is for; with --list,
    /// only theirs; with --revoke, whose codes end.
    #[arg(long, value_name = "EMAIL", required_unless_present = "list")]
    user: Option<String>,
    /// How long the code stays valid: e.g. 30m, 12h, 7d (at most 90d).
    #[arg(long, default_value = "7d", value_parser = parse_ttl)]
    ttl: i64,
    /// Print the link, code, user, policy and expiry as one JSON object
    /// (with --list: one JSON array).
    #[arg(long)]
    json: bool,
    /// List the codes still usable: user, expiry and uses left, never the
    /// code itself.
    #[arg(long, conflicts_with_all = ["revoke", "ttl"])]
    list: bool,
    /// End every code of --user still usable (recorded in the audit log).
    #[arg(long, requires = "user", conflicts_with_all = ["ttl", "json"])]
    revoke: bool,
}

use crate::time::parse_ttl;

pub fn run(args: Args) -> Result<()> {
    let settings = args.config.load()?;
    if args.list {
        return list(&settings, args.user.as_deref(), args.json);
    }
    let Some(user) = args.user else {
        return Err(Error::invalid(
            "aspen invite needs --user EMAIL (or --list)",
        ));
    };
    if args.revoke {
        return revoke(&settings, &user);
    }
    let file = settings.file.display().to_string();
    let portal = settings.require_portal()?;
    match portal.auth {
        PortalAuth::Code => {}
        PortalAuth::Header(_) => {
            return Err(Error::invalid(format!(
                "{file}: portal.auth is \"header\": users sign in through the proxy, codes are not used"
            )));
        }
        PortalAuth::Oidc => {
            return Err(Error::invalid(format!(
                "{file}: portal.auth is \"oidc\": users sign in at the identity provider, codes are not used"
            )));
        }
    }
    let location = settings.require_store()?;
    let users = settings
        .directory_users
        .as_ref()
        .ok_or_else(|| Error::invalid(format!("{file}: aspen invite needs [directory] users")))?;
    let user = find_user(users, &user)?;
    let resolution = resolve(&settings.policies, &user, None);
    match &resolution.decision {
        Decision::NoPolicy | Decision::NeedsManagedAppleId { .. } => {
            warn(resolution.decision.explain(&user));
        }
        _ => {}
    }
    let keys = Keys::load(&portal.secret_file)?;
    let stored = super::Stored::open(&location)?;
    let new = NewCode::make(&keys, &user.email, args.ttl)?;
    let (code, expires) = (new.code.clone(), new.expires);
    let link = format!("{}/signin", portal.public_url);
    // Printed first, stored after: a code nobody saw (a closed pipe, a full
    // disk) is never stored, and one that was printed but could not be
    // stored is said not to work.
    if args.json {
        let policy = resolution
            .policy()
            .map(|p| serde_json::json!({ "name": p.name, "type": p.kind.to_string() }));
        printer::json(&serde_json::json!({
            "link": link,
            "code": code.as_str(),
            "user": user.email,
            "policy": policy,
            "expires": crate::time::rfc3339(expires),
            "uses": 1,
        }))?;
    } else {
        let mut text = format!(
            "Sign-in link: {link}\nCode:         {code}\nFor:          {}\n",
            user.email
        );
        if let Some(policy) = resolution.policy() {
            text.push_str(&format!(
                "Policy:       {} ({})\n",
                policy.name, policy.kind
            ));
        }
        text.push_str(&format!(
            "Valid until:  {} (works once)\n",
            format_utc(expires)
        ));
        printer::out(&text)?;
    }
    stored.run(new.store(stored.store.as_ref())).map_err(|e| {
        Error::invalid(format!(
            "the code above was not stored and will not work: {e}"
        ))
    })
}

/// `--list`: the codes still usable, from the store's records (which
/// cannot give the codes back). A store that is not there lists nothing
/// and is not created.
fn list(settings: &Settings, user: Option<&str>, json: bool) -> Result<()> {
    let location = settings.require_store()?;
    let now = crate::audit::now();
    let codes = match super::Stored::open_existing(&location)? {
        None => Vec::new(),
        Some(stored) => stored.run(stored.store.outstanding_codes(user, now))?,
    };
    if json {
        let rows: Vec<_> = codes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "user": c.user,
                    "expires": crate::time::rfc3339(c.expires),
                    "uses_left": 1,
                })
            })
            .collect();
        return printer::json(&rows);
    }
    if codes.is_empty() {
        note("no sign-in codes are outstanding");
        return Ok(());
    }
    let width = codes.iter().map(|c| c.user.len()).max().unwrap_or(0).max(4);
    let mut text = format!("{:<width$}  {:<20}  USES LEFT\n", "USER", "EXPIRES");
    for c in &codes {
        text.push_str(&format!(
            "{:<width$}  {:<20}  1\n",
            crate::escape::visible(&c.user),
            format_utc(c.expires)
        ));
    }
    printer::out(&text)
}

/// `--revoke --user U`: ends U's usable codes now and records it.
fn revoke(settings: &Settings, user: &str) -> Result<()> {
    let location = settings.require_store()?;
    let stored = super::Stored::open(&location)?;
    let now = crate::audit::now();
    let user = user.to_ascii_lowercase();
    let ended = stored.run(stored.store.revoke_codes(&user, now))?;
    let what = format!(
        "{ended} sign-in code{} revoked (aspen invite --revoke)",
        if ended == 1 { "" } else { "s" }
    );
    stored.run(
        stored
            .store
            .append(vec![Record::revoked(Some(&user), None, what)], now),
    )?;
    if ended == 0 {
        note(format!("{user} had no sign-in code still usable"));
    } else {
        printer::out(&format!(
            "Revoked {ended} sign-in code{} of {user}\n",
            if ended == 1 { "" } else { "s" }
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("7d"), Ok(7 * 86_400));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("1s"), Ok(1));
        assert!(parse_ttl("0s").is_err());
        assert!(parse_ttl("91d").is_err());
        assert!(parse_ttl("7").is_err());
        assert!(parse_ttl("d").is_err());
        assert!(parse_ttl("99999999999999999999d").is_err());
    }
}
