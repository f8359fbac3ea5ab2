use super::note;
use crate::error::{Error, Result};
use crate::output::write_atomic;
use std::path::PathBuf;

/// The settings file `aspen init` writes: every key, commented.
pub const TEMPLATE: &str = include_str!("init_template.toml");

#[derive(clap::Args)]
pub struct Args {
    /// Folder to write aspen.toml into.
    #[arg(default_value = ".")]
    dir: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.dir).map_err(|e| Error::io(&args.dir, e))?;
    let path = args.dir.join("aspen.toml");
    if path.exists() {
        return Err(Error::invalid(format!(
            "{}: already exists; not overwriting it",
            path.display()
        )));
    }
    // The portal's HMAC key, next to the settings (portal.secret_file).
    let secret = args.dir.join("portal.secret");
    if !secret.exists() {
        crate::serve::tokens::write_secret(&secret)?;
    }
    write_atomic(&path, TEMPLATE.as_bytes())?;
    note(format!(
        "wrote {}: edit [organization], [mdm] and [identity], then run `aspen profile device -c {}`",
        path.display(),
        path.display()
    ));
    Ok(())
}
