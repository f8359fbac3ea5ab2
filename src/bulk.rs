//! Bulk generation: one profile per directory user, built and signed in
//! parallel, plus `manifest.csv`.
//!
//! Who a user is follows the directory's one rule
//! ([`crate::model::directory::Claims`], from a first pass over the file):
//! a duplicate address or a takeover row is a bad row wherever it stands.
//!
//! The pipeline keeps memory flat whatever the directory's size (but for
//! those claims, a 16-byte hash per name):
//! - the calling thread reads the CSV as a stream, resolves each user's
//!   policy and file name, and hands out chunks of users;
//! - `jobs` workers build, sign and write the profiles (each file written
//!   atomically: a temporary file renamed into place);
//! - a collector puts the outcomes back in CSV order, writes the manifest
//!   rows and reports progress.
//!
//! At most [`WINDOW_PER_JOB`] × `jobs` chunks are in flight: the reader waits
//! for the collector to hand a slot back before it reads on, so neither the
//! queue nor the re-ordering buffer can grow.
//!
//! With per-profile secrets every user's profile is built afresh, and a
//! worker records the secrets of its chunk in the store (one transaction)
//! before it writes any of the chunk's files. Files carrying a secret are
//! created 0600.
//!
//! Profiles are not flushed to disk one by one: a flush costs milliseconds,
//! a thousand times the work of building and signing one. Each is still
//! atomic (never seen half-written, never left half-written by an error);
//! after a power cut, compare the files with `manifest.csv`'s SHA-256 or
//! simply run again. The manifest is written last, flushed, and renamed into
//! place.

pub mod file_name;

use crate::audit::{Record, Source};
use crate::error::{Error, Result};
use crate::issue::{Issuer, Order, Seal, Shared};
use crate::model::directory::{Claims, RowError, User};
use crate::model::policy::{Choice, Policy};
use crate::model::resolution::{Decision, resolve};
use crate::model::{Channel, Enrollment};
use crate::output::{TEMP_SUFFIX, stage_file};
use crate::secret::IssuedSecret;
use crate::settings::{IdentityUse, Settings};
use crate::sign::Signer;
use crate::tokens::Keys;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel, sync_channel};

/// The manifest's file name inside the output folder.
pub const MANIFEST: &str = "manifest.csv";

/// The manifest's header row.
pub const MANIFEST_HEADER: &str = "user,managed_apple_id,policy,kind,ownership,file,sha256";

/// Users per chunk handed to a worker: enough to make the hand-over cost
/// negligible, few enough to keep all workers busy to the end.
const CHUNK: usize = 64;

/// Chunks in flight per worker.
const WINDOW_PER_JOB: usize = 4;

/// What a bulk run needs besides the users.
pub struct Options<'a> {
    pub settings: &'a Settings,
    /// `None` writes unsigned profiles.
    pub signer: Option<&'a Signer>,
    /// The answer for every user under a user-choice policy; without it they
    /// wait for their own.
    pub choice: Option<Choice>,
    pub out_dir: &'a Path,
    /// What a first pass over the directory learnt about who each user is
    /// (the directory's one rule): a row that breaks it is a bad row.
    pub claims: &'a Claims,
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Where each chunk's per-profile secrets and audit rows are recorded
    /// (required when the settings ask for per-profile secrets; without a
    /// store nothing is recorded).
    pub recording: Option<Recording<'a>>,
}

/// Where a run records what it issues.
pub struct Recording<'a> {
    /// The key of the secrets' lookup hash (per-profile secrets only).
    pub keys: Option<&'a Keys>,
    /// Records one chunk's secrets and audit rows, all or none; called from
    /// the workers, after the chunk's files are written and before they are
    /// put in place.
    pub record: &'a (dyn Fn(Vec<IssuedSecret>, Vec<Record>) -> Result<()> + Sync),
}

/// A profile written: one manifest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub line: u64,
    pub email: String,
    pub enrollment: Enrollment,
    pub policy: String,
    /// File name inside the output folder.
    pub file: String,
    /// Of the file's bytes, signed or not.
    pub sha256: [u8; 32],
}

impl Written {
    /// The SHA-256 in lower-case hex, as `sha256sum` prints it.
    pub fn sha256_hex(&self) -> String {
        crate::hex::lower(&self.sha256)
    }
}

/// What happened to one row of the directory, reported in CSV order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Written(Written),
    /// Under a user-choice policy, without `--choice`: no file, the user
    /// answers on the portal.
    Waiting {
        line: u64,
        email: String,
        policy: String,
    },
    /// A bad row, or a user who cannot enroll: no file.
    Failed(RowError),
}

/// Counts over a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub written: u64,
    pub waiting: u64,
    pub failed: u64,
}

/// One user whose profile a worker builds.
struct Task<'p> {
    line: u64,
    email: String,
    policy: &'p Policy,
    enrollment: Enrollment,
    file: String,
}

enum Item<'p> {
    Build(Task<'p>),
    Done(Outcome),
}

/// A chunk of rows, numbered in CSV order.
type Chunk<'p> = (u64, Vec<Item<'p>>);

/// Writes one profile per user of `rows` into `opts.out_dir`, and
/// `manifest.csv`; `report` sees every outcome, in CSV order. Per-row
/// problems are outcomes; I/O and signing errors stop the run.
pub fn run<I>(opts: &Options, rows: I, mut report: impl FnMut(&Outcome)) -> Result<Summary>
where
    I: Iterator<Item = Result<User, RowError>> + Send,
{
    let keys = opts.recording.as_ref().and_then(|r| r.keys);
    if opts.settings.identity.is_per_profile() && keys.is_none() {
        return Err(Error::invalid(
            "internal: per-profile secrets without a place to record them",
        ));
    }
    let dir = opts.out_dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let manifest_path = dir.join(MANIFEST);
    // The manifest lists users: private while it is being written (a run
    // killed now leaves a private partial list, which a later run removes),
    // readable once complete.
    let mut builder = tempfile::Builder::new();
    builder.prefix(".aspen-manifest-").suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut manifest = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io(&manifest_path, e))?;
    let jobs = opts.jobs.max(1);
    let window = WINDOW_PER_JOB * jobs;

    let (work_tx, work_rx) = channel::<Chunk>();
    let work_rx = Mutex::new(work_rx);
    let summary = std::thread::scope(|scope| -> Result<Summary> {
        let (done_tx, done_rx) = channel::<Result<(u64, Vec<Outcome>)>>();
        let (slot_tx, slot_rx) = sync_channel::<()>(window);
        for _ in 0..window {
            slot_tx.send(()).expect("the slot channel holds the window");
        }
        for _ in 0..jobs {
            let (work_rx, done_tx) = (&work_rx, done_tx.clone());
            scope.spawn(move || work(opts, work_rx, done_tx));
        }
        drop(done_tx);
        scope.spawn(move || read(opts, rows, work_tx, slot_rx));

        let mut out = BufWriter::with_capacity(64 << 10, manifest.as_file_mut());
        writeln!(out, "{MANIFEST_HEADER}").map_err(|e| Error::io(&manifest_path, e))?;
        let mut summary = Summary::default();
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        for done in done_rx {
            let (seq, outcomes) = done?;
            pending.insert(seq, outcomes);
            while let Some(outcomes) = pending.remove(&next) {
                for outcome in outcomes {
                    match &outcome {
                        Outcome::Written(w) => {
                            summary.written += 1;
                            write_row(&mut out, w).map_err(|e| Error::io(&manifest_path, e))?;
                        }
                        Outcome::Waiting { .. } => summary.waiting += 1,
                        Outcome::Failed(_) => summary.failed += 1,
                    }
                    report(&outcome);
                }
                next += 1;
                // The reader may have stopped already; then nobody needs it.
                let _ = slot_tx.send(());
            }
        }
        out.flush().map_err(|e| Error::io(&manifest_path, e))?;
        Ok(summary)
    })?;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        manifest
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(&manifest_path, e))?;
    }
    manifest
        .as_file()
        .sync_all()
        .map_err(|e| Error::io(&manifest_path, e))?;
    manifest
        .persist(&manifest_path)
        .map_err(|e| Error::io(&manifest_path, e.error))?;
    // The renames, the manifest's included, are entries of the folder.
    #[cfg(unix)]
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))?;
    Ok(summary)
}

/// The reader: resolves every row and hands chunks to the workers.
fn read<'p, I>(opts: &Options<'p>, rows: I, work: Sender<Chunk<'p>>, slots: Receiver<()>)
where
    I: Iterator<Item = Result<User, RowError>>,
{
    // File names → the line that claimed them: two users whose names
    // sanitise alike (and hash collisions) are reported, never written over
    // each other.
    let mut claimed = Claimed::default();
    let mut rows = rows.peekable();
    let mut seq = 0;
    while rows.peek().is_some() {
        if slots.recv().is_err() {
            return; // the collector stopped: an error is on its way
        }
        let chunk: Vec<Item> = rows
            .by_ref()
            .take(CHUNK)
            .map(|row| plan(opts, row, &mut claimed))
            .collect();
        if work.send((seq, chunk)).is_err() {
            return;
        }
        seq += 1;
    }
}

/// The file names earlier rows claimed, with their lines.
#[derive(Default)]
struct Claimed {
    files: HashMap<String, u64>,
}

/// Decides what to do with one row.
fn plan<'p>(opts: &Options<'p>, row: Result<User, RowError>, claimed: &mut Claimed) -> Item<'p> {
    let user = match opts.claims.check(row) {
        Ok(user) => user,
        Err(e) => return Item::Done(Outcome::Failed(e)),
    };
    let failed = |message: String| {
        Item::Done(Outcome::Failed(RowError {
            line: user.line,
            email: user.email.clone(),
            message,
        }))
    };
    let resolution = resolve(&opts.settings.policies, &user, opts.choice);
    let policy = match &resolution.decision {
        Decision::Enroll { policy, .. } => *policy,
        Decision::NeedsChoice { policy } => {
            return Item::Done(Outcome::Waiting {
                line: user.line,
                email: user.email.clone(),
                policy: policy.name.clone(),
            });
        }
        other => return failed(other.explain(&user)),
    };
    let enrollment = match resolution.enrollment(&user, Channel::Profile) {
        Ok(e) => e,
        Err(why) => return failed(why),
    };
    let file = file_name::for_email(&user.email);
    if let Some(first) = claimed.files.get(&file) {
        return failed(format!(
            "user {} gets the same file name as the user on line {first}",
            user.email
        ));
    }
    claimed.files.insert(file.clone(), user.line);
    Item::Build(Task {
        line: user.line,
        email: user.email,
        policy,
        enrollment,
        file,
    })
}

/// A worker: issues, writes and records the profiles of each chunk it
/// takes.
fn work(opts: &Options, tasks: &Mutex<Receiver<Chunk>>, done: Sender<Result<(u64, Vec<Outcome>)>>) {
    let mut session = match opts.signer.map(Signer::session).transpose() {
        Ok(s) => s,
        Err(e) => {
            let _ = done.send(Err(e));
            return;
        }
    };
    // Unsigned bytes of profiles that are the same for every user of a kind.
    let mut shared = Shared::default();
    loop {
        // Hold the lock only to take the next chunk.
        let next = tasks.lock().map(|rx| rx.recv());
        let Ok(Ok((seq, items))) = next else { return };
        let outcomes =
            issue_chunk(opts, items, session.as_mut(), &mut shared).map(|outcomes| (seq, outcomes));
        if done.send(outcomes).is_err() {
            return;
        }
    }
}

/// Issues the profiles of one chunk by the one issue path, writes each to a
/// temporary file, records the chunk's secrets and audit rows (one
/// transaction), and only then puts the files in place: a run killed at any
/// moment leaves no profile under its name that is not recorded.
fn issue_chunk(
    opts: &Options,
    items: Vec<Item>,
    mut session: Option<&mut crate::sign::Session<'_>>,
    shared: &mut Shared,
) -> Result<Vec<Outcome>> {
    let issuer = Issuer {
        settings: opts.settings,
        keys: opts.recording.as_ref().and_then(|r| r.keys),
    };
    let mut secrets = Vec::new();
    let mut records = Vec::new();
    let mut staged = Vec::with_capacity(items.len());
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let task = match item {
            Item::Done(outcome) => {
                outcomes.push(outcome);
                continue;
            }
            Item::Build(task) => task,
        };
        let order = Order {
            enrollment: &task.enrollment,
            identity: IdentityUse::Primary,
            user: Some(&task.email),
            policy: Some(&task.policy.name),
            source: Source::Cli,
            client: None,
            device: None,
        };
        let seal = match session.as_deref_mut() {
            Some(s) => Seal::Session(s),
            None => Seal::None,
        };
        let issued = issuer.issue_shared(&order, seal, None, Some(shared))?;
        let path = opts.out_dir.join(&task.file);
        staged.push(stage_file(&path, &issued.bytes, issued.access, false)?);
        secrets.extend(issued.secret);
        records.push(issued.record);
        outcomes.push(Outcome::Written(Written {
            line: task.line,
            email: task.email,
            sha256: issued.sha256,
            enrollment: task.enrollment,
            policy: task.policy.name.clone(),
            file: task.file,
        }));
    }
    if let Some(recording) = &opts.recording
        && !records.is_empty()
    {
        (recording.record)(secrets, records)?;
    }
    for file in staged {
        file.commit()?;
    }
    Ok(outcomes)
}

/// One manifest row (RFC 4180).
fn write_row(out: &mut impl Write, w: &Written) -> std::io::Result<()> {
    let kind = w.enrollment.kind();
    let fields = [
        w.email.as_str(),
        w.enrollment.managed_apple_id().map_or("", |id| id.as_str()),
        w.policy.as_str(),
        kind.slug(),
        kind.ownership().as_str(),
        w.file.as_str(),
        &w.sha256_hex(),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        write_csv_field(out, field)?;
    }
    out.write_all(b"\n")
}

/// One field, quoted as RFC 4180 needs, and defused as OWASP advises
/// against CSV formula injection: a cell a spreadsheet would read as a
/// formula (starting `=`, `+`, `-`, `@`, tab or carriage return) gets a
/// leading `'`. Quotes alone do not stop it. (E-mail addresses and policy
/// names come from the directory and the settings: not aspen's to trust.)
fn write_csv_field(out: &mut impl Write, field: &str) -> std::io::Result<()> {
    let defused;
    let field = if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        defused = format!("'{field}");
        defused.as_str()
    } else {
        field
    };
    if field.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", field.replace('"', "\"\""))
    } else {
        out.write_all(field.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EnrollmentKind, Ownership};

    /// OWASP's CSV injection advice: a cell that starts like a formula is
    /// prefixed with `'` (then quoted if it needs quoting anyway).
    #[test]
    fn cells_that_look_like_formulas_are_defused() {
        for (cell, written) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "\"'\rx\""),
            ("a=b", "a=b"),
        ] {
            let mut out = Vec::new();
            write_csv_field(&mut out, cell).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), written, "{cell:?}");
        }
    }

    #[test]
    fn manifest_rows_quote_what_csv_needs_quoted() {
        let w = Written {
            line: 2,
            email: "a@contoso.com".into(),
            enrollment: Enrollment::new(EnrollmentKind::Device(Ownership::Personal), None).unwrap(),
            policy: "BYOD, \"staff\"".into(),
            file: "a@contoso.com.mobileconfig".into(),
            sha256: [0xab; 32],
        };
        let mut out = Vec::new();
        write_row(&mut out, &w).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "a@contoso.com,,\"BYOD, \"\"staff\"\"\",device-personal,personal,a@contoso.com.mobileconfig,{}\n",
                "ab".repeat(32)
            )
        );
    }
}
