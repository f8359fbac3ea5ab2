use super::Outcome;
use crate::error::{Error, Result};
use crate::lint::target::{self, Platform, Version};
use crate::lint::{self, Enrollment, FileReport, Options, Report, Summary, schema::Schema};
use crate::read;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// Profiles to check (signed or unsigned, XML or binary plist); a folder
    /// means every *.mobileconfig under it; - reads standard input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Apply (user) or skip (device) the User Enrollment rules; detected
    /// from the profile's MDM payload when absent.
    #[arg(long, value_enum)]
    enrollment: Option<Enrollment>,
    /// A checkout of Apple's device-management repository, read instead of
    /// the facts built into aspen (for a newer release of Apple's schema).
    #[arg(long, value_name = "DIR")]
    schema: Option<PathBuf>,
    /// How to print the findings: text, json, or sarif (SARIF 2.1.0, for
    /// CI code scanning).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The same as --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Exit 1 when there are warnings, not only errors (notes never fail).
    #[arg(long)]
    warnings_as_errors: bool,
    /// A platform the profile is for (iOS, iPadOS, macOS, tvOS, visionOS,
    /// watchOS; repeatable): payload types and keys Apple's schema says are
    /// not available there are warnings.
    #[arg(long, value_name = "OS", value_parser = Platform::parse)]
    platform: Vec<Platform>,
    /// The oldest OS version the profile must work on, per platform
    /// (`iOS=17.0,macOS=14.0`; repeatable; names its platform as a target):
    /// removed by then is an error, deprecated by then or introduced later a
    /// warning.
    #[arg(long = "min-os", value_name = "OS=VERSION", value_delimiter = ',', value_parser = target::parse_min_os)]
    min_os: Vec<(Platform, Version)>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
    Sarif,
}

/// Folders deeper than this are not profile repositories.
const MAX_DEPTH: usize = 32;

pub fn run(args: Args) -> Result<Outcome> {
    // A contradiction between values is bad usage like a bad value: clap's
    // error and exit status 2.
    let targets = target::targets(&args.platform, &args.min_os).unwrap_or_else(|e| {
        clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{e}\n")).exit()
    });
    let schema = args.schema.as_deref().map(Schema::load).transpose()?;
    let options = Options {
        enrollment: args.enrollment,
        schema: schema.as_ref(),
        targets,
    };
    let inputs = inputs(&args.paths)?;
    let files = inputs
        .iter()
        .map(|path| FileReport {
            file: crate::fs::input_name(path),
            report: lint_one(path, &options),
        })
        .collect();
    let out = Summary::new(files);
    let format = if args.json { Format::Json } else { args.format };
    let text = match format {
        Format::Text => lint::render(&out),
        Format::Json => json(&out)?,
        Format::Sarif => json(&lint::sarif::log(&out))?,
    };
    super::print(&text)?;
    if out.errors > 0 {
        return Ok(Outcome::Found(Some(format!(
            "{} error(s) in {} file(s)",
            out.errors,
            out.failed_files()
        ))));
    }
    if args.warnings_as_errors && out.warnings > 0 {
        let files = out.files.iter().filter(|f| f.report.warnings() > 0).count();
        return Ok(Outcome::Found(Some(format!(
            "{} warning(s) in {files} file(s), and --warnings-as-errors",
            out.warnings
        ))));
    }
    Ok(Outcome::Clean)
}

fn json(value: &impl serde::Serialize) -> Result<String> {
    let mut t = serde_json::to_string_pretty(value)
        .map_err(|e| Error::invalid(format!("writing JSON: {e}")))?;
    t.push('\n');
    Ok(t)
}

/// Reads and lints one input; an unreadable one is one finding, so the
/// others still get checked.
fn lint_one(path: &Path, options: &Options<'_>) -> Report {
    let name = crate::fs::input_name(path);
    let bytes = match crate::fs::read_input(path, read::MAX_PROFILE_BYTES) {
        Ok(b) => b,
        Err(e) => return Report::unreadable(e.to_string(), None),
    };
    match read::parse_located(&bytes) {
        Ok(doc) => {
            let mut report = lint::lint(&doc, options);
            if doc.format == read::Format::Xml && doc.signed.is_none() {
                lint::locate(&mut report, &bytes);
            }
            report
        }
        Err(e) => Report::unreadable(format!("{name}: {}", e.message), e.position),
    }
}

/// The files to check: each path as given, a folder's `*.mobileconfig`
/// files (recursively, sorted, hidden entries and symbolic links to folders
/// skipped), standard input once at most.
fn inputs(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stdin = false;
    for path in paths {
        if crate::fs::is_stdin(path) {
            if std::mem::replace(&mut stdin, true) {
                return Err(Error::invalid("- (standard input) is given twice"));
            }
            out.push(path.clone());
        } else if path.is_dir() {
            let before = out.len();
            walk(path, 0, &mut out)?;
            if out.len() == before {
                return Err(Error::invalid(format!(
                    "{}: holds no *.mobileconfig file",
                    path.display()
                )));
            }
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid(format!(
            "{}: folders nest deeper than {MAX_DEPTH} levels",
            dir.display()
        )));
    }
    let mut entries: Vec<(PathBuf, std::fs::FileType)> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| {
            let e = e.map_err(|e| Error::io(dir, e))?;
            let ty = e.file_type().map_err(|err| Error::io(e.path(), err))?;
            Ok((e.path(), ty))
        })
        .collect::<Result<_>>()?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, ty) in entries {
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if ty.is_dir() {
            walk(&path, depth + 1, out)?;
        } else if path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("mobileconfig"))
            && path.is_file()
        {
            out.push(path);
        }
    }
    Ok(())
}
