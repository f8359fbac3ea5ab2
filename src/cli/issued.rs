//! `aspen issued`: the audit log, filtered in the store. The default
//! table holds what an admin scans for (when, what, who, which profile,
//! which device, why); `--wide` and `--json` give every column.

use crate::audit::{Entry, Event, Source};
use crate::error::{Error, Result};
use crate::store::Filter;
use std::io::Write;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::Config,
    /// Only this user's choices and profiles.
    #[arg(long, value_name = "EMAIL")]
    user: Option<String>,
    /// Only the rows about this device (Automated Device Enrollment, and
    /// checks of the challenges issued to it), by serial number.
    #[arg(long, value_name = "SERIAL")]
    serial: Option<String>,
    /// Only rows at or after this time: RFC 3339 (2026-05-01T09:00:00Z)
    /// or a duration before now (30m, 12h, 7d, 2w).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    since: Option<i64>,
    /// Only rows at or before this time (as --since).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    until: Option<i64>,
    /// Only this event: choice, issued, secret-accepted, secret-refused,
    /// limited, refused or revoked.
    #[arg(long, value_name = "EVENT", value_parser = parse_event)]
    event: Option<Event>,
    /// Only this channel: cli, portal, account-driven, scep or ade.
    #[arg(long, value_name = "CHANNEL", value_parser = parse_channel)]
    channel: Option<Source>,
    /// Only the rows about the profile with this PayloadUUID (the
    /// enrollment profile's own, as an MDM's ProfileList names it).
    #[arg(long, value_name = "UUID", value_parser = parse_uuid)]
    profile: Option<String>,
    /// Only the newest N rows (still listed oldest first).
    #[arg(long, value_name = "N", value_parser = parse_limit)]
    limit: Option<u64>,
    /// Every column in the table (the default shows the ones to scan).
    #[arg(long, conflicts_with = "json")]
    wide: bool,
    /// One JSON array of full rows, for scripts.
    #[arg(long)]
    json: bool,
}

/// `--since`/`--until`: RFC 3339, or a duration before now.
fn parse_when(text: &str) -> std::result::Result<i64, String> {
    if let Some(time) = crate::time::parse_rfc3339(text) {
        return Ok(time);
    }
    match crate::time::parse_duration(text) {
        Ok(ago) => Ok(crate::audit::now() - ago),
        Err(_) => Err(
            "give an RFC 3339 time (2026-05-01T09:00:00Z, or with an offset: +02:00) or a duration before now (30m, 12h, 7d, 2w)"
                .into(),
        ),
    }
}

fn parse_limit(text: &str) -> std::result::Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| "give a whole number of rows, at least 1".into())
}

fn parse_event(text: &str) -> std::result::Result<Event, String> {
    Event::parse(text).ok_or_else(|| {
        let all: Vec<_> = Event::ALL.iter().map(|e| e.as_str()).collect();
        format!("not an event; use one of {}", all.join(", "))
    })
}

fn parse_channel(text: &str) -> std::result::Result<Source, String> {
    Source::parse(text).ok_or_else(|| {
        let all: Vec<_> = Source::ALL.iter().map(|s| s.as_str()).collect();
        format!("not a channel; use one of {}", all.join(", "))
    })
}

/// A PayloadUUID, as aspen writes them: upper-case, hyphenated.
fn parse_uuid(text: &str) -> std::result::Result<String, String> {
    uuid::Uuid::try_parse(text)
        .map(|u| {
            u.hyphenated()
                .encode_upper(&mut uuid::Uuid::encode_buffer())
                .to_owned()
        })
        .map_err(|_| "not a UUID; give the profile's PayloadUUID (`aspen issued` shows it)".into())
}

pub fn run(args: Args) -> Result<()> {
    let settings = args.config.load()?;
    let location = settings.require_store()?;
    // The listing needs no secret, but an admin running it is the one to
    // hear that the portal's is exposed.
    if let Some(portal) = &settings.portal
        && portal.secret_file.exists()
    {
        crate::tokens::check_private(&portal.secret_file)?;
    }
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since > until
    {
        return Err(Error::invalid(format!(
            "--since {} is after --until {}: nothing can be in between",
            crate::time::rfc3339(since),
            crate::time::rfc3339(until)
        )));
    }
    let filter = Filter {
        user: args.user,
        serial: args.serial,
        since: args.since,
        until: args.until,
        event: args.event,
        channel: args.channel,
        payload_uuid: args.profile,
        limit: args.limit,
    };
    // The devices line is for a user's own rows, not a device's.
    let user = filter.user.clone().filter(|_| filter.serial.is_none());
    // Listing must not create a store where none was.
    let stored = super::Stored::open_existing(&location)?;
    let entries = match &stored {
        None => Vec::new(),
        Some(stored) => stored.run(stored.store.find(filter))?,
    };
    // Values a stranger chose (a certificate request's subject) are shown
    // with their hidden characters escaped: as `\uXXXX` in JSON (the same
    // values for a program), as `\u{XXXX}` in the table.
    let text = if args.json {
        let json = serde_json::to_string_pretty(&entries)
            .map_err(|e| Error::invalid(format!("JSON: {e}")))?;
        crate::escape::json(&json).into_owned() + "\n"
    } else {
        let mut text = if args.wide {
            wide(&entries)
        } else {
            narrow(&entries)
        };
        if let (Some(user), Some(stored)) = (&user, &stored) {
            text += &devices(&settings, user, stored)?;
        }
        text
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", e))
}

/// The line under a user's rows: the devices they enrolled as a
/// restriction's `device_limit` counts them, and their limit when the
/// directory says which restriction applies.
fn devices(
    settings: &crate::settings::Settings,
    user: &str,
    stored: &super::Stored,
) -> Result<String> {
    let (event, what) = if settings.counts_accepted_secrets() {
        (
            crate::audit::Event::SecretAccepted,
            "per-profile challenges accepted",
        )
    } else {
        (
            crate::audit::Event::Issued,
            "profiles issued: without per-profile SCEP challenges aspen cannot tell which devices enrolled",
        )
    };
    // Counted by the store, whatever filters chose the rows shown.
    let count = stored.run(stored.store.count_events(user, event))?;
    let limit = settings
        .directory_users
        .as_deref()
        .and_then(|csv| crate::model::directory::find_user(csv, user).ok())
        .and_then(|u| {
            crate::model::restriction::applying(&settings.restrictions, Some(&u.groups)).and_then(
                |r| {
                    r.device_limit
                        .map(|n| format!("; restriction {:?} allows {n}", r.name))
                },
            )
        })
        .unwrap_or_default();
    Ok(format!(
        "\ndevices: {user} has enrolled {count} ({what}){limit}\n"
    ))
}

/// The columns to scan: when, what, who, which profile and device, why.
fn narrow(entries: &[Entry]) -> String {
    let header = [
        "TIME",
        "EVENT",
        "CHANNEL",
        "USER",
        "KIND",
        "OWNERSHIP",
        "PROFILE",
        "SERIAL",
        "REASON",
    ];
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                crate::time::rfc3339(e.time),
                crate::escape::visible(&e.event).into_owned(),
                crate::escape::visible(&e.channel).into_owned(),
                dash(&e.user),
                dash(&e.kind),
                dash(&e.ownership),
                dash(&e.payload_uuid),
                dash(&e.serial),
                dash(&e.reason),
            ]
        })
        .collect();
    aligned(&header, &rows)
}

/// `-` for what does not apply; a stranger's hidden characters escaped.
fn dash(v: &Option<String>) -> String {
    v.as_deref()
        .map_or_else(|| "-".into(), |v| crate::escape::visible(v).into_owned())
}

/// Every column (`--wide`).
fn wide(entries: &[Entry]) -> String {
    let header = [
        "TIME",
        "EVENT",
        "CHANNEL",
        "USER",
        "POLICY",
        "CHOICE",
        "KIND",
        "OWNERSHIP",
        "PAYLOAD UUID",
        "SHA-256",
        "CLIENT",
        "SUBJECT",
        "REASON",
        "SERIAL",
        "UDID",
        "PRODUCT",
        "OS",
        "GROUPS",
        "GROUPS FROM",
    ];
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                crate::time::rfc3339(e.time),
                crate::escape::visible(&e.event).into_owned(),
                crate::escape::visible(&e.channel).into_owned(),
                dash(&e.user),
                dash(&e.policy),
                dash(&e.choice),
                dash(&e.kind),
                dash(&e.ownership),
                dash(&e.payload_uuid),
                dash(&e.sha256),
                dash(&e.client),
                dash(&e.subject),
                dash(&e.reason),
                dash(&e.serial),
                dash(&e.udid),
                dash(&e.product),
                dash(&e.os_version),
                match &e.groups {
                    Some(g) if !g.is_empty() => g.join(";"),
                    Some(_) => "(none)".into(),
                    None => "-".into(),
                },
                match (&e.groups, &e.groups_claim) {
                    (None, _) => "-".into(),
                    (Some(_), Some(claim)) => format!("claim:{claim}"),
                    (Some(_), None) => "users.csv".into(),
                },
            ]
        })
        .collect();
    aligned(&header, &rows)
}

/// Aligned columns, two spaces apart.
fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in rows {
        line(row);
    }
    out
}
