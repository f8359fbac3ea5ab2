//! `aspen bulk`: one profile per directory user, and `manifest.csv`.

use super::note;
use super::resolve::users_csv;
use crate::audit;
use crate::bulk::{self, Options, Outcome, Written};
use crate::error::{Error, Result};
use crate::model::directory::{Claims, Rows};
use crate::model::policy::Choice;
use crate::settings::Settings;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::Config,
    /// The user directory (CSV: email,managed_apple_id,groups); overrides
    /// `[directory] users` in the settings.
    #[arg(long, value_name = "CSV")]
    users: Option<PathBuf>,
    /// Folder to write the profiles and manifest.csv into (created if
    /// missing; files of the same users are replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The answer for every user under a user-choice policy; without it those
    /// users wait for their own choice and get no file.
    #[arg(long, value_enum)]
    choice: Option<Choice>,
    /// Profiles built and signed at once (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Write unsigned profiles even if the settings configure signing.
    #[arg(long)]
    unsigned: bool,
    /// Sign even if the signing certificate has expired.
    #[arg(long)]
    allow_expired: bool,
    #[command(flatten)]
    placeholders: super::Placeholders,
    /// Print a JSON summary on stdout: counts, the users waiting for their
    /// choice and the rows that failed (the notes stay on stderr).
    #[arg(long)]
    json: bool,
}

/// `--json`: what a run did, for scripts.
#[derive(serde::Serialize)]
struct Report {
    /// RFC 3339 UTC.
    started: String,
    finished: String,
    out_dir: String,
    manifest: String,
    signed: bool,
    written: u64,
    waiting: Vec<WaitingRow>,
    failed: Vec<FailedRow>,
}

#[derive(serde::Serialize)]
struct WaitingRow {
    line: u64,
    user: String,
    policy: String,
}

#[derive(serde::Serialize)]
struct FailedRow {
    line: u64,
    error: String,
}

pub fn run(args: Args) -> Result<()> {
    let started = crate::time::unix_seconds(std::time::SystemTime::now());
    let settings = args.config.load()?;
    args.placeholders.check(&settings)?;
    let csv = users_csv(&settings, args.users)?;
    // Who a user is follows the directory's one rule (model::directory::
    // Claims): a first pass learns every e-mail and Managed Apple ID, the
    // second streams the rows through it, so a duplicate or a takeover is
    // refused whichever row comes first.
    let claims = Claims::read(Rows::open(&csv)?);
    let rows = Rows::open(&csv)?;
    let signer = super::profile::signer(&settings, args.unsigned, args.allow_expired)?;
    let jobs = match args.jobs {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let bar = progress_bar(&csv);
    let mut waiting = Vec::new();
    let mut failed = Vec::new();
    let stored = match settings.store_location()? {
        Some(location) => Some(super::Stored::open(&location)?),
        None => None,
    };
    let recorder = stored.as_ref().map(super::Stored::recorder);
    let mut audit_error = None;
    // Per-profile secrets: each chunk's are committed before its files are
    // written (the settings guarantee a store and the portal key).
    let keys = match (&stored, settings.identity.is_per_profile()) {
        (Some(_), true) => Some(super::secret_keys(&settings)?),
        _ => None,
    };
    let record = |secrets: Vec<crate::secret::IssuedSecret>| -> Result<()> {
        let stored = stored
            .as_ref()
            .ok_or_else(|| Error::invalid("internal: per-profile secrets without a store"))?;
        stored.run(stored.store.add_secrets(secrets, audit::now()))
    };
    let options = Options {
        settings: &settings,
        signer: signer.as_ref(),
        choice: args.choice,
        out_dir: &args.out,
        claims: &claims,
        jobs,
        secrets: keys.as_ref().map(|keys| bulk::SecretSink {
            keys,
            record: &record,
        }),
    };
    let summary = bulk::run(&options, rows, |outcome| {
        bar.inc(1);
        match outcome {
            Outcome::Written(w) => {
                if let Some(r) = &recorder
                    && audit_error.is_none()
                    && let Err(e) = r.queue_blocking(issued(&settings, w))
                {
                    audit_error = Some(e);
                }
            }
            Outcome::Waiting {
                line,
                email,
                policy,
            } => waiting.push(WaitingRow {
                line: *line,
                user: email.clone(),
                policy: policy.clone(),
            }),
            Outcome::Failed(e) => {
                bar.suspend(|| {
                    eprintln!(
                        "aspen: {}:{}: {}; skipped",
                        csv.display(),
                        e.line,
                        e.message
                    )
                });
                if args.json {
                    failed.push(FailedRow {
                        line: e.line,
                        error: e.message.clone(),
                    });
                }
            }
        }
    });
    bar.finish_and_clear();
    let summary = summary?;
    if let (Some(stored), Some(recorder)) = (&stored, recorder) {
        stored.run(recorder.finish())?;
    }
    if let Some(e) = audit_error {
        return Err(e);
    }

    note(format!(
        "wrote {} {} profile{} and {} to {}",
        summary.written,
        if signer.is_some() {
            "signed"
        } else {
            "unsigned"
        },
        if summary.written == 1 { "" } else { "s" },
        bulk::MANIFEST,
        args.out.display()
    ));
    if !waiting.is_empty() {
        note(format!(
            "{} user{} under a user-choice policy wait{} for their own choice (collected by the portal, or give --choice); no file written:",
            waiting.len(),
            if waiting.len() == 1 { "" } else { "s" },
            if waiting.len() == 1 { "s" } else { "" },
        ));
        for w in &waiting {
            eprintln!("  line {}: {} (policy {:?})", w.line, w.user, w.policy);
        }
    }
    if args.json {
        let report = Report {
            started: crate::time::rfc3339(started),
            finished: crate::time::rfc3339(crate::time::unix_seconds(std::time::SystemTime::now())),
            out_dir: args.out.display().to_string(),
            manifest: args.out.join(bulk::MANIFEST).display().to_string(),
            signed: signer.is_some(),
            written: summary.written,
            waiting,
            failed,
        };
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::invalid(format!("writing JSON: {e}")))?;
        super::print(&format!("{text}\n"))?;
    }
    if summary.failed > 0 {
        return Err(Error::invalid(format!(
            "{} row{} of {} failed (reported above with their line numbers) and got no profile",
            summary.failed,
            if summary.failed == 1 { "" } else { "s" },
            csv.display()
        )));
    }
    Ok(())
}

/// The audit record of a profile bulk wrote.
fn issued(settings: &Settings, w: &Written) -> audit::Record {
    crate::profile::issued_record(
        settings,
        &w.enrollment,
        &w.sha256_hex(),
        audit::Source::Cli,
        Some(&w.email),
        Some(&w.policy),
    )
}

/// A progress bar on a terminal; a hidden one otherwise (logs and pipes get
/// only the summary).
fn progress_bar(csv: &Path) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    // The row count, for the bar's length: one cheap pass over the file
    // (quoted fields spanning lines make it an estimate, which is fine here).
    let rows = std::fs::File::open(csv)
        .map(|f| {
            std::io::BufReader::new(f)
                .split(b'\n')
                .count()
                .saturating_sub(1)
        })
        .unwrap_or(0);
    let bar = ProgressBar::new(rows as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {bar:40} {human_pos}/{human_len} users  eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}
