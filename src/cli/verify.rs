use crate::error::{Error, Result};
use crate::read;
use crate::verify::{self, CertInfo, Options, Report};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The signed profile (.mobileconfig, CMS DER).
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

pub fn run(args: Args) -> Result<()> {
    let mut trusted = Vec::new();
    for path in &args.ca {
        let bytes = read::read_capped(path, 1 << 20)?;
        let certs = openssl::x509::X509::stack_from_pem(&bytes)
            .ok()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                Error::invalid(format!("{}: holds no PEM certificate", path.display()))
            })?;
        trusted.extend(certs);
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
        super::print(&render(&report, !args.ca.is_empty()))?;
    }
    match report.error {
        None => Ok(()),
        Some(why) => Err(Error::invalid(format!("{}: {why}", args.file.display()))),
    }
}

fn cert_line(c: &CertInfo) -> String {
    format!(
        "{}  (issuer {}; valid {} to {})",
        c.subject, c.issuer, c.not_before, c.not_after
    )
}

fn render(r: &Report, chain_checked: bool) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: &str| out.push_str(&format!("{k:<12}{v}\n"));
    line(
        "signature:",
        if r.signature_matches {
            "matches the content"
        } else {
            "FAILED"
        },
    );
    for s in &r.signers {
        match &s.certificate {
            Some(c) => {
                line("signer:", &c.subject);
                line("issuer:", &c.issuer);
                line(
                    "validity:",
                    &format!(
                        "{} to {} ({})",
                        c.not_before,
                        c.not_after,
                        s.validity.unwrap_or("unknown")
                    ),
                );
            }
            None => line("signer:", "(certificate not in the file)"),
        }
        line(
            "algorithms:",
            &format!(
                "{} digest, {} signature",
                s.digest_algorithm, s.signature_algorithm
            ),
        );
        if let Some(t) = &s.signing_time {
            line("signed at:", t);
        }
    }
    line(
        "carries:",
        &format!("{} certificate(s)", r.certificates.len()),
    );
    for c in &r.certificates {
        line("", &format!("- {}", cert_line(c)));
    }
    match &r.chain {
        Some(chain) => {
            let names: Vec<&str> = chain.iter().map(|c| c.subject.as_str()).collect();
            line("chain:", &format!("trusted: {}", names.join(" → ")));
        }
        None if chain_checked => line("chain:", "not trusted"),
        None => line("chain:", "not checked (give --ca ROOT.pem)"),
    }
    line(
        "result:",
        match &r.error {
            None => "OK",
            Some(_) => "FAILED",
        },
    );
    out
}
