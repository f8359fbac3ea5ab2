//! `aspen man`: manual pages (roff), generated from the parser's own
//! definitions: `aspen(1)` on stdout, or one page per command into a folder.

use crate::error::{Error, Result};
use clap::CommandFactory;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Write aspen.1 and one page per command (aspen-sign.1, aspen-profile-device.1, …)
    /// into this folder instead of printing aspen.1.
    #[arg(short = 'o', long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let mut cmd = super::Cli::command().disable_help_subcommand(true);
    cmd.build();
    match args.out {
        None => crate::output::write_output(None, &render(&cmd)?),
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let written = write_pages(&cmd, &dir)?;
            super::note(format!(
                "wrote {written} manual page(s) to {}",
                dir.display()
            ));
            Ok(())
        }
    }
}

/// One command's page.
fn render(cmd: &clap::Command) -> Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut page)
        .map_err(|e| Error::io("<manual page>", e))?;
    Ok(page)
}

/// `cmd`'s page and those of all its subcommands, each written atomically;
/// how many.
fn write_pages(cmd: &clap::Command, dir: &Path) -> Result<usize> {
    let mut written = 0;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written += write_pages(sub, dir)?;
    }
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    crate::output::write_atomic(&dir.join(format!("{name}.1")), &render(cmd)?)?;
    Ok(written + 1)
}
