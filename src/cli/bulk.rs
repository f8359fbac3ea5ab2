//! `aspen bulk`: one profile per directory user, and `manifest.csv`.

use super::note;
use super::resolve::users_csv;
use crate::audit;
use crate::bulk::{self, Options, Outcome};
use crate::error::{Error, Result};
use crate::model::directory::{Claims, Rows};
use crate::model::policy::Choice;
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
    #[arg(short = 'o', long, value_name = "DIR")]
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
    /// List the users waiting for their choice, one line each (otherwise
    /// one summary line).
    #[arg(short, long)]
    verbose: bool,
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

pub fn run(args: Args) -> Result<super::Outcome> {
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
    // Each chunk's secrets and audit rows are committed before its files
    // are put in place (the settings guarantee a store and the portal key
    // for per-profile secrets).
    let keys = match (&stored, settings.identity.is_per_profile()) {
        (Some(_), true) => Some(super::secret_keys(&settings)?),
        _ => None,
    };
    let record =
        |secrets: Vec<crate::secret::IssuedSecret>, rows: Vec<audit::Record>| -> Result<()> {
            let Some(stored) = stored.as_ref() else {
                return Ok(());
            };
            let now = audit::now();
            if !secrets.is_empty() {
                stored.run(stored.store.add_secrets(secrets, now))?;
            }
            stored.run(stored.store.append(rows, now))
        };
    // What runs killed before left behind: their temporary files (an hour
    // old at least, so never a file a run going on now is writing).
    let stale = crate::output::remove_stale_temporaries(
        &args.out,
        std::time::Duration::from_secs(60 * 60),
    )?;
    if stale > 0 {
        note(format!(
            "removed {stale} temporary file{} that an interrupted run left in {}",
            if stale == 1 { "" } else { "s" },
            args.out.display()
        ));
    }
    let options = Options {
        settings: &settings,
        signer: signer.as_ref(),
        choice: args.choice,
        out_dir: &args.out,
        claims: &claims,
        jobs,
        recording: stored.as_ref().map(|_| bulk::Recording {
            keys: keys.as_ref(),
            record: &record,
        }),
    };
    let summary = bulk::run(&options, rows, |outcome| {
        bar.inc(1);
        match outcome {
            Outcome::Written(_) => {}
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
            "{} user{} under a user-choice policy wait{} for their own choice (collected by the portal, or give --choice); no file written{}",
            waiting.len(),
            if waiting.len() == 1 { "" } else { "s" },
            if waiting.len() == 1 { "s" } else { "" },
            if args.verbose {
                ":"
            } else {
                " (-v lists them, --json too)"
            },
        ));
        if args.verbose {
            for w in &waiting {
                eprintln!("  line {}: {} (policy {:?})", w.line, w.user, w.policy);
            }
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
        return Ok(super::Outcome::Found(Some(format!(
            "{} row{} of {} failed (reported above with their line numbers) and got no profile",
            summary.failed,
            if summary.failed == 1 { "" } else { "s" },
            csv.display()
        ))));
    }
    Ok(super::Outcome::Clean)
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
