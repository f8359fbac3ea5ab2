use super::Outcome;
use crate::error::{Error, Result};
use crate::read;
use crate::verify::{self, Options};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The signed profile (.mobileconfig, CMS DER); `-` reads stdin.
    file: PathBuf,
    /// Trusted root certificate(s) (PEM); checks the chain from the signer
    /// to one of them, with the file's certificates as intermediates. Repeatable.
    #[arg(long, value_name = "PEM")]
    ca: Vec<PathBuf>,
    /// Accept a signing certificate outside its validity period.
    #[arg(long)]
    allow_expired: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<Outcome> {
    let mut trusted = Vec::new();
    for path in &args.ca {
        trusted.extend(crate::x509::read_certificates(path)?);
    }
    let doc = read::read_file(&args.file)?;
    let report = verify::verify(
        &doc,
        &Options {
            trusted,
            allow_expired: args.allow_expired,
        },
    );
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::invalid(format!("writing JSON: {e}")))?;
        super::print(&format!("{text}\n"))?;
    } else {
        super::print(&verify::render(&report, !args.ca.is_empty()))?;
    }
    Ok(match report.error {
        None => Outcome::Clean,
        Some(why) => Outcome::Found(Some(format!(
            "{}: {why}",
            crate::fs::input_name(&args.file)
        ))),
    })
}
