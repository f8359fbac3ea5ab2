use crate::audit::Entry;
use crate::error::{Error, Result};
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
    /// One JSON array, for scripts.
    #[arg(long)]
    json: bool,
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
    // Listing must not create a store where none was.
    let entries = match (super::Stored::open_existing(&location)?, &args.serial) {
        (None, _) => Vec::new(),
        (Some(stored), None) => stored.run(stored.store.list(args.user.as_deref()))?,
        (Some(stored), Some(serial)) => {
            let rows = stored.run(stored.store.list_by_serial(serial))?;
            match &args.user {
                Some(user) => rows
                    .into_iter()
                    .filter(|e| {
                        e.user
                            .as_deref()
                            .is_some_and(|u| u.eq_ignore_ascii_case(user))
                    })
                    .collect(),
                None => rows,
            }
        }
    };
    // Values a stranger chose (a certificate request's subject) are shown
    // with their hidden characters escaped: as `\uXXXX` in JSON (the same
    // values for a program), as `\u{XXXX}` in the table.
    let text = if args.json {
        let json = serde_json::to_string_pretty(&entries)
            .map_err(|e| Error::invalid(format!("JSON: {e}")))?;
        crate::escape::json(&json).into_owned() + "\n"
    } else {
        let mut text = table(&entries);
        if let Some(user) = &args.user
            && args.serial.is_none()
        {
            text += &devices(&settings, user, &entries);
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
fn devices(settings: &crate::settings::Settings, user: &str, entries: &[Entry]) -> String {
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
    let count = entries.iter().filter(|e| e.event == event.as_str()).count();
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
    format!("\ndevices: {user} has enrolled {count} ({what}){limit}\n")
}

/// Aligned columns, `-` for what does not apply.
fn table(entries: &[Entry]) -> String {
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
    let dash = |v: &Option<String>| {
        v.as_deref()
            .map_or_else(|| "-".into(), |v| crate::escape::visible(v).into_owned())
    };
    let rows: Vec<[String; 19]> = entries
        .iter()
        .map(|e| {
            [
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
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&header.map(String::from));
    for row in &rows {
        line(row);
    }
    out
}
