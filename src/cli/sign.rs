use crate::error::{Error, Result};
use crate::output::write_output;
use crate::sign::{KeySource, Passphrase};
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("identity").required(true).args(["cert", "pkcs12"]))]
pub struct Args {
    /// The unsigned profile (.mobileconfig, XML or binary plist); `-` reads stdin.
    input: PathBuf,
    /// Output file; stdout when absent or `-`.
    #[arg(
        short = 'o',
        long = "out",
        visible_alias = "output",
        value_name = "FILE"
    )]
    output: Option<PathBuf>,
    /// Signer certificate (PEM).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Signer private key (PEM, optionally encrypted).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Intermediate certificate(s) to include (PEM); repeatable.
    #[arg(long, requires = "cert")]
    chain: Vec<PathBuf>,
    /// Signer certificate, key and chain as PKCS#12.
    #[arg(long, conflicts_with_all = ["cert", "key", "chain"])]
    pkcs12: Option<PathBuf>,
    /// Environment variable holding the key or PKCS#12 passphrase.
    #[arg(long, value_name = "VAR", conflicts_with = "passphrase_file")]
    passphrase_env: Option<String>,
    /// File holding the key or PKCS#12 passphrase.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Sign even if the signing certificate has expired.
    #[arg(long)]
    allow_expired: bool,
    /// Print a JSON summary (file, PayloadUUID, SHA-256, signer) on stdout;
    /// the signed profile goes to -o FILE.
    #[arg(long, requires = "output")]
    json: bool,
}

/// `--json`: what `sign` wrote.
#[derive(serde::Serialize)]
struct Summary {
    file: String,
    payload_uuid: Option<String>,
    payload_identifier: Option<String>,
    sha256: String,
    signer: String,
}

pub fn run(args: Args) -> Result<()> {
    let passphrase = match (args.passphrase_env, args.passphrase_file) {
        (Some(var), _) => Some(Passphrase::Env(var)),
        (None, Some(file)) => Some(Passphrase::File(file)),
        (None, None) => None,
    };
    let source = match (args.pkcs12, args.cert, args.key) {
        (Some(path), _, _) => KeySource::Pkcs12 { path, passphrase },
        (None, Some(certificate), Some(key)) => KeySource::Pem {
            certificate,
            key,
            chain: args.chain,
            passphrase,
        },
        _ => return Err(Error::invalid("give --cert and --key, or --pkcs12")),
    };
    let (content, top) = read_profile(&args.input)?;
    let signer = super::load_signer(&source, args.allow_expired)?;
    let signed = signer.sign(&content)?;
    write_output(args.output.as_deref(), &signed)?;
    if args.json {
        let text = |key: &str| {
            top.get(key)
                .and_then(plist::Value::as_string)
                .map(str::to_owned)
        };
        super::printer::json(&Summary {
            file: args
                .output
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            payload_uuid: text("PayloadUUID"),
            payload_identifier: text("PayloadIdentifier"),
            sha256: crate::audit::sha256_hex(&signed),
            signer: signer.subject(),
        })?;
    }
    Ok(())
}

/// Reads the profile to sign (through [`crate::read`], size-capped and
/// bounded) and checks it is one: a plist dictionary whose `PayloadType` is
/// `Configuration`. The bytes are signed unchanged.
fn read_profile(path: &std::path::Path) -> Result<(Vec<u8>, plist::Dictionary)> {
    let bytes = crate::fs::read_input(path, crate::read::MAX_PROFILE_BYTES)?;
    let fail = |why: &str| Error::invalid(format!("{}: {why}", crate::fs::input_name(path)));
    if bytes.first() == Some(&0x30) {
        return Err(fail(
            "looks like a signed (DER) profile already; sign the unsigned plist",
        ));
    }
    let (value, _, _) = crate::read::parse_plist(&bytes).map_err(|e| {
        fail(&format!(
            "is not a property list ({})",
            e.trim_start_matches("is ")
        ))
    })?;
    let top = value.into_dictionary().unwrap_or_default();
    let payload_type = top.get("PayloadType").and_then(plist::Value::as_string);
    if payload_type != Some(crate::profile::TOP_LEVEL_TYPE) {
        return Err(fail(
            "is not a configuration profile (top-level PayloadType is not \"Configuration\")",
        ));
    }
    Ok((bytes, top))
}
