//! The command line: one file per subcommand, each a thin layer over the
//! library. Errors are printed once, here, and mapped to the exit status,
//! the same for every command:
//!
//! - **0**: all is well;
//! - **1**: a check found something (`lint` findings, `verify` of a bad
//!   signature, `resolve` of a user who cannot enroll, `bulk` rows that got
//!   no profile, `scep-verify` refusing a request, `check` finding a
//!   problem);
//! - **2**: aspen could not do its job (a missing file, bad settings, the
//!   store down, bad usage).
//!
//! A reader that closes the pipe ends a command quietly ([`printer`]).

mod ade;
mod bulk;
mod check;
mod completions;
mod decrypt;
mod init;
mod inspect;
mod invite;
mod issued;
mod lint;
mod man;
mod printer;
mod profile;
mod resolve;
mod revoke;
mod scep_verify;
mod serve;
mod sign;
mod verify;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "aspen",
    version,
    about = "Apple enrollment profiles from one settings file: built, signed, checked and served.",
    after_help = EXIT_STATUS
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented aspen.toml to start from.
    Init(init::Args),
    /// Generate an enrollment profile.
    #[command(subcommand)]
    Profile(profile::Command),
    /// Sign an existing profile (CMS SignedData, DER).
    Sign(sign::Args),
    /// Serve the enrollment portal and Apple's account-driven enrollment.
    Serve(serve::Args),
    /// Check everything serve and profile would use, one item a line,
    /// without issuing or recording anything.
    Check(check::Args),
    /// Print a sign-in link and a one-time code for a user; list or revoke
    /// the codes still usable.
    Invite(invite::Args),
    /// End the identity secrets of a profile (or of a user's profiles) not
    /// yet used, so a lost or re-issued profile cannot enroll.
    Revoke(revoke::Args),
    /// List recorded choices and issued profiles (the audit store).
    Issued(issued::Args),
    /// Explain which enrollment policy applies to a directory user, and why.
    Resolve(resolve::Args),
    /// Automated Device Enrollment: the ADE profile to define with Apple.
    #[command(subcommand)]
    Ade(ade::Command),
    /// Write one profile per directory user, and manifest.csv.
    Bulk(bulk::Args),
    /// Check a signed profile's signature (and, with --ca, its chain).
    Verify(verify::Args),
    /// Show what a profile holds: payloads, enrollment kind, signer.
    Inspect(inspect::Args),
    /// Check profiles against Apple's rules, including User Enrollment.
    Lint(lint::Args),
    /// Check a SCEP certificate request's per-profile challenge, once (for
    /// micromdm/scep's -csrverifierexec): exit 0 accepted, 1 refused, 2 error.
    ScepVerify(scep_verify::Args),
    /// Decrypt a profile's encrypted payloads with the device identity.
    Decrypt(decrypt::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::Args),
    /// Print the manual page (roff), or write every command's page to a folder.
    Man(man::Args),
}

/// The contract, as `--help` and the man page state it.
const EXIT_STATUS: &str = "Exit status: 0 when all is well; 1 when a check found something (lint findings, a bad signature, a refused request, a user who cannot enroll, bulk rows without a profile); 2 when aspen could not do its job (a missing file, bad settings, the store down, bad usage). A closed output pipe ends a command quietly.";

/// What a command that ran to its end has to say (an error is exit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Clean,
    /// Exit 1: a check found something; the message (when the command has
    /// not said it already) says what.
    Found(Option<String>),
}

/// A command that checks nothing: done is clean.
fn clean(done: crate::Result<()>) -> crate::Result<Outcome> {
    done.map(|()| Outcome::Clean)
}

/// Parses the arguments (bad usage is clap's exit 2), runs the command,
/// prints any error once and returns the exit status of the contract above.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::ScepVerify(args) => scep_verify::run_outcome(args),
        Command::Init(args) => clean(init::run(args)),
        Command::Profile(cmd) => clean(profile::run(cmd)),
        Command::Sign(args) => clean(sign::run(args)),
        Command::Serve(args) => clean(serve::run(args)),
        Command::Check(args) => check::run(args),
        Command::Invite(args) => clean(invite::run(args)),
        Command::Revoke(args) => clean(revoke::run(args)),
        Command::Issued(args) => clean(issued::run(args)),
        Command::Resolve(args) => resolve::run(args),
        Command::Ade(cmd) => clean(ade::run(cmd)),
        Command::Bulk(args) => bulk::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Inspect(args) => clean(inspect::run(args)),
        Command::Lint(args) => lint::run(args),
        Command::Decrypt(args) => clean(decrypt::run(args)),
        Command::Completions(args) => clean(completions::run(args)),
        Command::Man(args) => clean(man::run(args)),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Found(what)) => {
            if let Some(what) = what {
                printer::error(what);
            }
            ExitCode::from(1)
        }
        // A reader that went away (`aspen … | head`) is not worth a message.
        Err(e) if printer::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            printer::error(named_missing(e));
            ExitCode::from(2)
        }
    }
}

/// The settings this command loaded: a file they name that turns out to be
/// missing, whichever part of the command reads it, is reported at its
/// settings key and line.
static LOADED: std::sync::OnceLock<(std::path::PathBuf, Vec<crate::settings::files::NamedFile>)> =
    std::sync::OnceLock::new();

fn named_missing(e: crate::Error) -> crate::Error {
    match LOADED.get() {
        Some((file, files)) => crate::settings::files::name_missing(file, files, e),
        None => e,
    }
}

/// `-c/--config`: the settings file every command that needs one takes.
#[derive(clap::Args)]
pub struct Config {
    /// Settings file.
    #[arg(
        short = 'c',
        long = "config",
        default_value = "aspen.toml",
        env = "ASPEN_CONFIG"
    )]
    path: std::path::PathBuf,
}

impl Config {
    /// The settings file: `-c myorg` names a folder holding `aspen.toml`
    /// (what `aspen init myorg` makes) as well as a file.
    pub fn file(&self) -> std::path::PathBuf {
        if self.path.is_dir() {
            self.path.join("aspen.toml")
        } else {
            self.path.clone()
        }
    }

    /// Loads the settings; a file that is not there gets the way to make one.
    pub fn load(&self) -> crate::Result<crate::settings::Settings> {
        let path = self.file();
        let loaded = crate::settings::Settings::load(&path);
        if let Ok(settings) = &loaded {
            let _ = LOADED.set((settings.file.clone(), settings.files.clone()));
        }
        let settings = loaded.map_err(|e| match e {
            crate::Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                let dir = path.parent().unwrap_or(std::path::Path::new(""));
                let init = if dir.as_os_str().is_empty() {
                    "aspen init".to_owned()
                } else {
                    format!("aspen init {}", dir.display())
                };
                let hint = if path.file_name() == Some("aspen.toml".as_ref()) {
                    format!("run `{init}` to write a commented one")
                } else {
                    format!("run `{init}` to write a commented aspen.toml there")
                };
                crate::Error::invalid(format!(
                    "{}: no such settings file; {hint}, or name another with -c FILE",
                    path.display()
                ))
            }
            other => other,
        })?;
        for w in &settings.warnings {
            warn(w);
        }
        Ok(settings)
    }
}

/// The store the settings name, with a small runtime to drive it from a
/// command (one worker: enough for the audit writer `bulk` runs beside its
/// own threads).
pub struct Stored {
    runtime: tokio::runtime::Runtime,
    pub store: std::sync::Arc<dyn crate::store::Store>,
}

impl Stored {
    /// Opens (creating when needed) the store at `location`.
    pub fn open(location: &crate::store::Location) -> crate::Result<Stored> {
        let runtime = runtime()?;
        let store = runtime.block_on(crate::store::open(location))?;
        Ok(Stored { runtime, store })
    }

    /// The store at `location` if it exists (listing must not create one).
    pub fn open_existing(location: &crate::store::Location) -> crate::Result<Option<Stored>> {
        let runtime = runtime()?;
        let store = runtime.block_on(crate::store::open_existing(location))?;
        Ok(store.map(|store| Stored { runtime, store }))
    }

    /// Runs `f` (a store call) to completion.
    pub fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// Starts the audit writer on this store's runtime.
    pub fn recorder(&self) -> crate::store::Recorder {
        let _inside = self.runtime.enter();
        crate::store::Recorder::start(self.store.clone())
    }
}

/// The key of the per-profile secrets' lookup hash: the portal's HMAC key
/// (`[portal] secret_file`), shared by `profile`, `bulk`, `serve` and
/// `scep-verify` so they all compute the same lookup.
pub fn secret_keys(settings: &crate::settings::Settings) -> crate::Result<crate::tokens::Keys> {
    crate::tokens::Keys::load(&settings.require_portal()?.secret_file)
}

fn runtime() -> crate::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| crate::Error::invalid(format!("starting the runtime: {e}")))
}

/// `--allow-placeholders`: use settings that still hold what `aspen init`
/// wrote as stand-ins (`profile`, `bulk`, `serve`).
#[derive(clap::Args)]
pub struct Placeholders {
    /// Use the settings even if they still hold placeholders `aspen init`
    /// wrote (example.com hosts, the all-zero push topic, change-me).
    #[arg(long)]
    allow_placeholders: bool,
}

impl Placeholders {
    /// Refuses settings with placeholders, naming each key and line;
    /// with `--allow-placeholders`, warns once and goes on.
    pub fn check(&self, settings: &crate::settings::Settings) -> crate::Result<()> {
        if !self.allow_placeholders {
            return settings.refuse_placeholders();
        }
        if !settings.placeholders.is_empty() {
            warn(format!(
                "{}: using placeholders (--allow-placeholders): {}",
                settings.file.display(),
                settings.describe_placeholders()
            ));
        }
        Ok(())
    }
}

use printer::{note, out as print, warn};

/// Loads the signing identity and warns of what is allowed but risky (see
/// [`crate::sign::Signer::warnings`]).
fn load_signer(
    source: &crate::sign::KeySource,
    allow_expired: bool,
) -> crate::Result<crate::sign::Signer> {
    let signer = crate::sign::Signer::load(source, allow_expired)?;
    for w in signer.warnings() {
        warn(w);
    }
    Ok(signer)
}
