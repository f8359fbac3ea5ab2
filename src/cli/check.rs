//! `aspen check`: everything `serve` and `profile` would use, checked one
//! item a line — settings, placeholders, the signing identity, the push
//! topic, the identity settings, the directory, the portal key, the
//! identity provider (`[oidc]`: its discovery document and keys fetched),
//! the store, TLS — without issuing or recording anything (the store is read, never
//! created, migrated or written). Exit 0 when nothing failed (warnings
//! allowed), 1 when something did, 2 when there were no settings to check.

use super::Outcome;
use super::printer;
use crate::error::Result;
use crate::settings::Settings;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::Config,
    /// One JSON object per item (item, status, detail) in an array.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(serde::Serialize)]
struct Item {
    item: &'static str,
    status: Status,
    detail: String,
}

/// Certificates expiring sooner than this are a warning.
const SOON_DAYS: i64 = 30;

pub fn run(args: Args) -> Result<Outcome> {
    let file = args.config.file();
    if !file.exists() {
        // Nothing to check: aspen could not do its job.
        args.config.load()?;
    }
    let mut items = Vec::new();
    let mut add = |item, status, detail: String| {
        items.push(Item {
            item,
            status,
            detail,
        })
    };
    match args.config.load() {
        Err(e) => add("settings", Status::Fail, e.to_string()),
        Ok(settings) => {
            add("settings", Status::Ok, settings.file.display().to_string());
            check_settings(&settings, &mut add);
        }
    }
    let failed = items.iter().filter(|i| i.status == Status::Fail).count();
    if args.json {
        printer::json(&items)?;
    } else {
        let mut text = String::new();
        for i in &items {
            let mark = match i.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            text.push_str(&format!("{mark}  {:<12} {}\n", i.item, i.detail));
        }
        printer::out(&text)?;
    }
    Ok(match failed {
        0 => Outcome::Clean,
        n => Outcome::Found(Some(format!("{n} item(s) failed"))),
    })
}

type Add<'a> = dyn FnMut(&'static str, Status, String) + 'a;

fn check_settings(settings: &Settings, add: &mut Add<'_>) {
    if settings.placeholders.is_empty() {
        add("placeholders", Status::Ok, "none".into());
    } else {
        add(
            "placeholders",
            Status::Fail,
            settings.describe_placeholders(),
        );
    }
    signing(settings, add);
    add("push topic", Status::Ok, settings.mdm.topic.clone());
    identity(settings, add);
    directory(settings, add);
    portal(settings, add);
    oidc(settings, add);
    store(settings, add);
    tls(settings, add);
}

/// Days from now until `t` (negative: past).
fn days_until(t: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
    let now = openssl::asn1::Asn1Time::days_from_now(0).ok()?;
    now.diff(t).ok().map(|d| i64::from(d.days))
}

fn expiry(subject: &str, cert: &openssl::x509::X509Ref) -> (Status, String) {
    let until = crate::time::of_asn1(cert.not_after())
        .map_or_else(|| cert.not_after().to_string(), crate::time::rfc3339);
    match days_until(cert.not_after()) {
        Some(d) if d < 0 => (Status::Fail, format!("{subject}: expired on {until}")),
        Some(d) if d < SOON_DAYS => (
            Status::Warn,
            format!("{subject}: expires on {until}, in {d} day(s)"),
        ),
        _ => (Status::Ok, format!("{subject}: valid until {until}")),
    }
}

fn signing(settings: &Settings, add: &mut Add<'_>) {
    let Some(source) = &settings.signing else {
        add(
            "signing",
            Status::Warn,
            "no [signing]: profiles are unsigned (devices show them as unverified)".into(),
        );
        return;
    };
    match crate::sign::Signer::load(source, false) {
        Err(e) => add("signing", Status::Fail, e.to_string()),
        Ok(signer) => {
            let (status, detail) = expiry(&signer.subject(), signer.certificate());
            add("signing", status, format!("{detail}; key matches"));
            for w in signer.warnings() {
                add("signing", Status::Warn, w.clone());
            }
        }
    }
}

fn identity(settings: &Settings, add: &mut Add<'_>) {
    use crate::settings::Identity;
    let describe = |identity: &Identity| match identity {
        Identity::Scep(c) => format!(
            "SCEP {}{}",
            c.url,
            if identity.is_per_profile() {
                ", per-profile challenge"
            } else {
                ""
            }
        ),
        Identity::Acme(c) => format!(
            "ACME {}{}",
            c.directory_url,
            if identity.is_per_profile() {
                ", per-profile client identifier"
            } else {
                ""
            }
        ),
    };
    add("identity", Status::Ok, describe(&settings.identity));
    if let Some(f) = &settings.fallback {
        add("identity", Status::Ok, format!("fallback: {}", describe(f)));
    }
}

fn directory(settings: &Settings, add: &mut Add<'_>) {
    let Some(csv) = &settings.directory_users else {
        add("directory", Status::Ok, "no [directory] users".into());
        return;
    };
    let rows = match crate::model::directory::Rows::open(csv) {
        Ok(r) => r,
        Err(e) => return add("directory", Status::Fail, e.to_string()),
    };
    let claims = match crate::model::directory::Rows::open(csv) {
        Ok(r) => crate::model::directory::Claims::read(r),
        Err(e) => return add("directory", Status::Fail, e.to_string()),
    };
    let (mut users, mut bad) = (0, Vec::new());
    for row in rows {
        match claims.check(row) {
            Ok(_) => users += 1,
            Err(e) => bad.push(format!("line {}: {}", e.line, e.message)),
        }
    }
    if bad.is_empty() {
        add(
            "directory",
            Status::Ok,
            format!("{}: {users} user(s)", csv.display()),
        );
    } else {
        let shown: Vec<&str> = bad.iter().take(3).map(String::as_str).collect();
        add(
            "directory",
            Status::Fail,
            format!(
                "{}: {users} user(s), {} bad row(s): {}{}",
                csv.display(),
                bad.len(),
                shown.join("; "),
                if bad.len() > 3 { "; …" } else { "" }
            ),
        );
    }
}

fn portal(settings: &Settings, add: &mut Add<'_>) {
    let Some(portal) = &settings.portal else {
        add(
            "portal",
            Status::Ok,
            "no [portal] (aspen serve needs one)".into(),
        );
        return;
    };
    match crate::tokens::Keys::load(&portal.secret_file) {
        Ok(_) => add(
            "portal",
            Status::Ok,
            format!(
                "{}; key {} readable by its owner only",
                portal.public_url,
                portal.secret_file.display()
            ),
        ),
        Err(e) => add("portal", Status::Fail, e.to_string()),
    }
}

/// With `[oidc]`: the client secret is readable (by its owner only) and
/// the IdP answers — its discovery document and keys are fetched, as
/// `serve` does at start-up.
fn oidc(settings: &Settings, add: &mut Add<'_>) {
    let (Some(oidc), Some(portal)) = (&settings.oidc, &settings.portal) else {
        return;
    };
    let provider = match crate::identity::Provider::new(oidc, &portal.public_url, &settings.file) {
        Ok(p) => p,
        Err(e) => return add("oidc", Status::Fail, e.to_string()),
    };
    let probe = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))
        .and_then(|rt| rt.block_on(provider.probe()));
    match probe {
        Ok(keys) => add(
            "oidc",
            Status::Ok,
            format!(
                "{}: the identity provider answers, {keys} signing key(s); redirect URI to register: {}{}",
                oidc.issuer,
                portal.public_url,
                crate::identity::CALLBACK_PATH
            ),
        ),
        Err(why) => add(
            "oidc",
            Status::Fail,
            format!(
                "{}: the identity provider cannot be used (nobody can sign in): {why}",
                oidc.issuer
            ),
        ),
    }
}

fn store(settings: &Settings, add: &mut Add<'_>) {
    let location = match settings.store_location() {
        Ok(Some(l)) => l,
        Ok(None) => return add("store", Status::Ok, "none configured".into()),
        Err(e) => return add("store", Status::Fail, e.to_string()),
    };
    let probe = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::Error::invalid(format!("starting the runtime: {e}")))
        .and_then(|rt| rt.block_on(crate::store::probe(&location)));
    let location = location.describe();
    match probe {
        Err(e) => add("store", Status::Fail, e.to_string()),
        Ok(p) => match p.version {
            None => add(
                "store",
                Status::Ok,
                format!(
                    "{location}: reachable, no store yet (the first command that records makes it)"
                ),
            ),
            Some(v) if v > p.current => add(
                "store",
                Status::Fail,
                format!(
                    "{location}: schema version {v}, newer than this aspen's {}: upgrade aspen",
                    p.current
                ),
            ),
            Some(v) if v < p.current => add(
                "store",
                Status::Warn,
                format!(
                    "{location}: schema version {v}; this aspen migrates it to {} when it next opens it",
                    p.current
                ),
            ),
            Some(v) => add(
                "store",
                Status::Ok,
                format!("{location}: reachable, schema version {v} (current)"),
            ),
        },
    }
}

fn tls(settings: &Settings, add: &mut Add<'_>) {
    let Some((cert, key)) = &settings.serve.tls else {
        return;
    };
    if let Err(e) =
        crate::serve::http::tls_acceptor(cert, key, settings.serve.tls_key_passphrase.as_ref())
    {
        return add("tls", Status::Fail, e.to_string());
    }
    match crate::x509::read_certificates(cert) {
        Ok(certs) => {
            let subject = crate::x509::name_to_string(certs[0].subject_name());
            let (status, detail) = expiry(&subject, &certs[0]);
            add("tls", status, format!("{detail}; key matches"));
        }
        Err(e) => add("tls", Status::Fail, e.to_string()),
    }
}
