//! Writing results: to stdout, or to a file (`-o FILE`) atomically — a
//! temporary file in the target's folder, renamed into place — so a failure
//! never leaves a partial file behind.
//!
//! What `-o` does with what is already there:
//! - a regular file (or nothing): replaced atomically;
//! - a symlink: followed, and the file it points to is replaced atomically
//!   (the link stays a link; a dangling link gets its target created), as
//!   `cp` writes through links;
//! - anything else that exists (`/dev/null`, `/dev/stdout`, a FIFO, a
//!   terminal): written through, never renamed over — replacing a device
//!   node with a file would break it for everyone (seen as root with
//!   `-o /dev/null`).
//!
//! A command that must record something once its output exists (a
//! profile's per-profile secret, its audit row) [`stage`]s the output, then
//! records, then [`Staged::commit`]s: nothing is recorded unless its bytes
//! were written in full, and a file appears under its name only once it is
//! recorded. Standard output and devices cannot be held back: they are
//! written at `stage`, and the caller says so if recording then fails.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Who may read a file aspen writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Mode 0644.
    Shared,
    /// Mode 0600: the file holds a secret (a profile carrying a SCEP
    /// challenge or an ACME client identifier). It is created so, never
    /// loosened afterwards, and replaces a readable file of the same name.
    Private,
}

impl Access {
    /// `Private` when `secret`, else `Shared`.
    pub fn holding_secret(secret: bool) -> Access {
        if secret {
            Access::Private
        } else {
            Access::Shared
        }
    }

    #[cfg(unix)]
    fn mode(self) -> u32 {
        match self {
            Access::Shared => 0o644,
            Access::Private => 0o600,
        }
    }
}

/// The prefix of aspen's temporary files (`.aspen-XXXXXX.tmp`): a run that
/// was killed may leave some; later runs into the same folder remove them.
pub const TEMP_PREFIX: &str = ".aspen-";
pub const TEMP_SUFFIX: &str = ".tmp";

/// Output written but not yet in place.
#[must_use = "a staged file appears only when committed"]
pub struct Staged {
    pending: Option<(tempfile::NamedTempFile, PathBuf)>,
}

impl Staged {
    /// Puts the file in place (nothing to do for stdout and devices).
    pub fn commit(self) -> Result<()> {
        if let Some((tmp, path)) = self.pending {
            tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        }
        Ok(())
    }

    /// Whether the bytes are already out (stdout, a device): then they
    /// cannot be taken back if what follows fails.
    pub fn is_out(&self) -> bool {
        self.pending.is_none()
    }
}

/// Where `-o PATH` really writes: see the module's rules.
enum Target {
    /// Replace this regular file (or create it) atomically.
    Replace(PathBuf),
    /// Write through what exists there.
    Through(PathBuf),
}

/// Follows symlinks (at most 40, as the kernel does) to the path to write.
fn target(path: &Path) -> Result<Target> {
    let mut at = path.to_path_buf();
    for _ in 0..40 {
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Target::Replace(at));
            }
            Err(e) => return Err(Error::io(&at, e)),
        };
        let ty = meta.file_type();
        if ty.is_symlink() {
            let link = std::fs::read_link(&at).map_err(|e| Error::io(&at, e))?;
            at = match at.parent() {
                Some(dir) if link.is_relative() => dir.join(link),
                _ => link,
            };
        } else if ty.is_file() {
            return Ok(Target::Replace(at));
        } else if ty.is_dir() {
            return Err(Error::invalid(format!(
                "{}: is a folder; give a file name",
                at.display()
            )));
        } else {
            return Ok(Target::Through(at));
        }
    }
    Err(Error::invalid(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// Writes `bytes` to `path` (never stdout) by the module's rules, held back
/// until [`Staged::commit`] when it is a file. `sync` waits for the disk.
pub fn stage_file(path: &Path, bytes: &[u8], access: Access, sync: bool) -> Result<Staged> {
    match target(path)? {
        Target::Through(dev) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(&dev)
                .map_err(|e| Error::io(&dev, e))?;
            f.write_all(bytes)
                .and_then(|()| f.flush())
                .map_err(|e| Error::io(&dev, e))?;
            Ok(Staged { pending: None })
        }
        Target::Replace(file) => {
            let dir = match file.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            if !dir.is_dir() {
                return Err(Error::invalid(format!(
                    "{}: no such folder (to write {})",
                    dir.display(),
                    path.display()
                )));
            }
            let mut builder = tempfile::Builder::new();
            builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                builder.permissions(std::fs::Permissions::from_mode(access.mode()));
            }
            #[cfg(not(unix))]
            let _ = access;
            let mut tmp = builder.tempfile_in(dir).map_err(|e| Error::io(&file, e))?;
            tmp.write_all(bytes).map_err(|e| Error::io(&file, e))?;
            if sync {
                tmp.as_file().sync_all().map_err(|e| Error::io(&file, e))?;
            }
            Ok(Staged {
                pending: Some((tmp, file)),
            })
        }
    }
}

/// [`stage_file`] for `-o PATH`, or stdout when `path` is absent or `-`.
pub fn stage(path: Option<&Path>, bytes: &[u8], access: Access) -> Result<Staged> {
    match path {
        Some(p) if p != Path::new("-") => stage_file(p, bytes, access, true),
        _ => {
            write_stdout(bytes)?;
            Ok(Staged { pending: None })
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    use std::io::IsTerminal;
    let mut out = std::io::stdout().lock();
    // A signed profile is DER: binary on a terminal garbles it.
    if out.is_terminal() && bytes.first() == Some(&0x30) {
        return Err(Error::invalid(
            "refusing to write a signed (binary) profile to the terminal: give -o FILE or redirect stdout",
        ));
    }
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("<stdout>", e))
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    stage_file(path, bytes, Access::Shared, true)?.commit()
}

/// [`write_atomic`] with the given access.
pub fn write_atomic_as(path: &Path, bytes: &[u8], access: Access) -> Result<()> {
    stage_file(path, bytes, access, true)?.commit()
}

/// Like [`write_atomic`] (readers never see a partial file) but without
/// waiting for the disk: for writers of many files, which make them durable
/// all at once afterwards (a flush per file costs milliseconds).
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8], access: Access) -> Result<()> {
    stage_file(path, bytes, access, false)?.commit()
}

/// Writes to `path`, or to stdout when it is absent or `-`.
pub fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    write_output_as(path, bytes, Access::Shared)
}

/// [`write_output`] with the given access for a file.
pub fn write_output_as(path: Option<&Path>, bytes: &[u8], access: Access) -> Result<()> {
    stage(path, bytes, access)?.commit()
}

/// Removes aspen's temporary files older than `age` from `dir`: what runs
/// that were killed left behind (never a file another run is writing now,
/// which is younger). Returns how many were removed.
pub fn remove_stale_temporaries(dir: &Path, age: std::time::Duration) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)) {
            continue;
        }
        let old = entry
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|elapsed| elapsed >= age);
        if old && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
