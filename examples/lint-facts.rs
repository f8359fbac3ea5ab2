//! Derives `src/lint/facts/apple.tsv`, the facts of Apple's device-management
//! schema that `aspen lint` has built in, from a checkout of Apple's data:
//!
//! ```sh
//! cargo run --example lint-facts -- ../shared/apple-device-management
//! ```
//!
//! It reads `DIR/mdm/profiles/*.yaml` with the same loader as
//! `lint --schema DIR` and writes the facts (no descriptions) over the file
//! in the repository, or to `-o FILE`. `tests/lint.rs` runs the same
//! derivation and fails if the copy in the repository differs.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let mut dir = None;
    let mut out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lint/facts/apple.tsv");
    while let Some(a) = args.next() {
        if a == "-o" {
            match args.next() {
                Some(f) => out = f.into(),
                None => return usage(),
            }
        } else if dir.is_none() {
            dir = Some(PathBuf::from(a));
        } else {
            return usage();
        }
    }
    let Some(dir) = dir else { return usage() };
    let text = match aspen::lint::facts::derive(&dir) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("lint-facts: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = aspen::output::write_atomic(&out, text.as_bytes()) {
        eprintln!("lint-facts: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("lint-facts: wrote {} ({} bytes)", out.display(), text.len());
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: cargo run --example lint-facts -- DIR [-o FILE]");
    ExitCode::from(2)
}
