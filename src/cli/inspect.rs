use crate::error::{Error, Result};
use crate::inspect;
use crate::read;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The profile: signed or unsigned, XML or binary plist; `-` reads stdin.
    file: PathBuf,
    /// Show secrets (SCEP challenge, passwords, PKCS#12 data) instead of masking them.
    #[arg(long)]
    show_secrets: bool,
    /// Print stable JSON instead of a tree.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let doc = read::read_file(&args.file)?;
    let view = inspect::inspect(&doc, args.show_secrets);
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&view)
            .map_err(|e| Error::invalid(format!("writing JSON: {e}")))?;
        text.push('\n');
        text
    } else {
        inspect::render(&view)
    };
    super::print(&text)
}
