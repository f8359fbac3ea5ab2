use crate::error::{Error, Result};
use crate::lint::{self, Enrollment, FileReport, Options, Report, Summary, schema::Schema};
use crate::read;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Profiles to check (signed or unsigned, XML or binary plist).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Apply (user) or skip (device) the User Enrollment rules; detected
    /// from the profile's MDM payload when absent.
    #[arg(long, value_enum)]
    enrollment: Option<Enrollment>,
    /// A checkout of Apple's device-management repository: check every key
    /// its mdm/profiles/*.yaml describe.
    #[arg(long, value_name = "DIR")]
    schema: Option<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let schema = args.schema.as_deref().map(Schema::load).transpose()?;
    let options = Options {
        enrollment: args.enrollment,
        schema: schema.as_ref(),
    };
    let files = args
        .files
        .iter()
        .map(|path| FileReport {
            file: path.display().to_string(),
            report: match read::read_file(path) {
                Ok(doc) => lint::lint(&doc, &options),
                Err(e) => Report::unreadable(e.to_string(), None),
            },
        })
        .collect();
    let out = Summary::new(files);
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&out)
            .map_err(|e| Error::invalid(format!("writing JSON: {e}")))?;
        t.push('\n');
        t
    } else {
        lint::render(&out)
    };
    super::print(&text)?;
    if out.errors > 0 {
        return Err(Error::invalid(format!(
            "{} error(s) in {} file(s)",
            out.errors,
            out.failed_files()
        )));
    }
    Ok(())
}
