//! Writing results: to stdout, or atomically to a file (a temporary file in
//! the target folder, renamed into place), so a failure never leaves a
//! partial file behind.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

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

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace(path, bytes, true, Access::Shared)
}

/// [`write_atomic`] with the given access.
pub fn write_atomic_as(path: &Path, bytes: &[u8], access: Access) -> Result<()> {
    replace(path, bytes, true, access)
}

/// Like [`write_atomic`] (readers never see a partial file) but without
/// waiting for the disk: for writers of many files, which make them durable
/// all at once afterwards (a flush per file costs milliseconds).
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8], access: Access) -> Result<()> {
    replace(path, bytes, false, access)
}

fn replace(path: &Path, bytes: &[u8], sync: bool, access: Access) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".aspen-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(access.mode()));
    }
    #[cfg(not(unix))]
    let _ = access;
    let mut tmp = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    if sync {
        tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    }
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Writes to `path`, or to stdout when it is absent or `-`.
pub fn write_output(path: Option<&Path>, bytes: &[u8]) -> Result<()> {
    write_output_as(path, bytes, Access::Shared)
}

/// [`write_output`] with the given access for a file.
pub fn write_output_as(path: Option<&Path>, bytes: &[u8], access: Access) -> Result<()> {
    match path {
        Some(p) if p != Path::new("-") => write_atomic_as(p, bytes, access),
        _ => {
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
    }
}
