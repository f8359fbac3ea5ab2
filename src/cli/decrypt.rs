use crate::encrypt::{self, Identity};
use crate::error::{Error, Result};
use crate::output::write_output;
use crate::read;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The encrypted profile (signed or not); `-` reads stdin.
    file: PathBuf,
    /// The device identity certificate the payloads were encrypted for (PEM).
    #[arg(long, value_name = "PEM")]
    cert: PathBuf,
    /// Its private key (PEM, unencrypted).
    #[arg(long, value_name = "PEM")]
    key: PathBuf,
    /// Output file for the decrypted, unsigned profile; stdout when absent or `-`.
    #[arg(
        short = 'o',
        long = "out",
        visible_alias = "output",
        value_name = "FILE"
    )]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let identity = Identity::load(&args.cert, &args.key)?;
    let doc = read::read_file(&args.file)?;
    let fail =
        |why: String| Error::invalid(format!("{}: {why}", crate::fs::input_name(&args.file)));
    let root = doc
        .dictionary()
        .ok_or_else(|| fail("is not a configuration profile".into()))?;
    let plain = encrypt::decrypt_profile(root, &identity).map_err(fail)?;
    let mut out = Vec::new();
    plist::Value::Dictionary(plain)
        .to_writer_xml(&mut out)
        .map_err(|e| fail(format!("writing the plist: {e}")))?;
    out.push(b'\n');
    write_output(args.output.as_deref(), &out)
}
