//! Reading files whose size aspen does not control: settings, keys,
//! certificates, CSV, profiles — or standard input. Every read is capped,
//! whatever the file claims its size is (it may be a pipe or `/dev/zero`),
//! and past the cap the error names the file. A leaf: it imports nothing of
//! aspen's but the error type.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;
use zeroize::Zeroizing;

/// The file name that means standard input wherever aspen reads a profile
/// (`sign`, `inspect`, `verify`, `lint`, `decrypt`), as Unix tools do.
pub const STDIN: &str = "-";

/// Whether `path` is [`STDIN`].
pub fn is_stdin(path: &Path) -> bool {
    path == Path::new(STDIN)
}

/// How errors name an input: its path, or `<stdin>` for [`STDIN`].
pub fn input_name(path: &Path) -> String {
    if is_stdin(path) {
        "<stdin>".into()
    } else {
        path.display().to_string()
    }
}

/// Reads at most `max` bytes from `path`, whatever the file claims its size
/// is (it may be a pipe or `/dev/zero`); more is an error naming the file.
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    read_capped_into(file, &path.display().to_string(), max, &mut bytes)?;
    Ok(bytes)
}

/// [`read_capped`], or standard input when `path` is [`STDIN`]: the one way
/// a command reads the file it was given to work on. Standard input is
/// capped the same way (it may be endless).
pub fn read_input(path: &Path, max: u64) -> Result<Vec<u8>> {
    if !is_stdin(path) {
        return read_capped(path, max);
    }
    let mut bytes = Vec::new();
    read_capped_into(std::io::stdin().lock(), &input_name(path), max, &mut bytes)?;
    Ok(bytes)
}

/// [`read_capped`] for private keys, passphrases and secrets: the buffer is
/// allocated once, at the cap, so reading never reallocates and leaves a
/// copy behind, and it is zeroed when dropped.
pub fn read_capped_secret(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>> {
    let room = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
    let mut bytes = Zeroizing::new(Vec::with_capacity(room));
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_capped_into(file, &path.display().to_string(), max, &mut bytes)?;
    Ok(bytes)
}

/// Reads `source` (called `name` in errors) into `bytes`, failing past `max`.
fn read_capped_into(source: impl Read, name: &str, max: u64, bytes: &mut Vec<u8>) -> Result<()> {
    source
        .take(max.saturating_add(1))
        .read_to_end(bytes)
        .map_err(|e| Error::io(name, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::invalid(format!(
            "{name}: is larger than {}, the most aspen reads from such a file",
            size(max)
        )));
    }
    Ok(())
}

/// `16 MiB`, `64 KiB`, `100 bytes`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}
