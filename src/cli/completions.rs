//! `aspen completions SHELL`: the shell's completion script, generated from
//! the same definitions as the parser, so it never falls behind a flag.

use crate::error::Result;
use clap::CommandFactory;

#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut super::Cli::command(), "aspen", &mut script);
    crate::output::write_output(None, &script)
}
