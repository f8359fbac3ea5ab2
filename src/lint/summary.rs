//! What `aspen lint` reports for several files: the per-file findings, the
//! totals, and their text form.

use super::{Finding, Report, Severity, rules};
use serde::Serialize;

/// One file's findings.
#[derive(Debug, Serialize)]
pub struct FileReport {
    pub file: String,
    #[serde(flatten)]
    pub report: Report,
}

/// Every file's findings and the totals.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub files: Vec<FileReport>,
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

impl Summary {
    pub fn new(files: Vec<FileReport>) -> Summary {
        Summary {
            errors: files.iter().map(|f| f.report.errors()).sum(),
            warnings: files.iter().map(|f| f.report.warnings()).sum(),
            notes: files.iter().map(|f| f.report.notes()).sum(),
            files,
        }
    }

    /// How many files have at least one error.
    pub fn failed_files(&self) -> usize {
        self.files.iter().filter(|f| f.report.errors() > 0).count()
    }
}

impl Report {
    /// The report for a file that could not be read: one finding, so the
    /// other files still get checked.
    pub fn unreadable(message: String, position: Option<(usize, usize)>) -> Report {
        Report {
            findings: vec![Finding {
                code: rules::UNREADABLE.code,
                severity: Severity::Error,
                path: String::new(),
                payload_type: None,
                payload_identifier: None,
                message,
                line: position.map(|p| p.0),
                column: position.map(|p| p.1),
            }],
            detected: None,
            user_enrollment_rules: false,
            encrypted: false,
        }
    }
}

/// The findings as `aspen lint` prints them: per file, one line per finding,
/// then the totals.
pub fn render(out: &Summary) -> String {
    let mut text = String::new();
    for f in &out.files {
        let mode = match (&f.report.detected, f.report.user_enrollment_rules) {
            _ if f.report.encrypted => "payloads encrypted".to_owned(),
            (Some(d), true) => format!("{}; User Enrollment rules applied", d.describe()),
            (Some(d), false) => d.describe().to_owned(),
            (None, true) => "no MDM payload; User Enrollment rules applied".into(),
            (None, false) => "no MDM payload".into(),
        };
        if f.report.findings.is_empty() {
            text.push_str(&format!("{}: ok ({mode})\n", f.file));
            continue;
        }
        text.push_str(&format!("{}: ({mode})\n", f.file));
        // `line:column` first, as compilers and linters print it, in a
        // column as wide as the widest (absent for binary or signed files).
        let place = |x: &Finding| match (x.line, x.column) {
            (Some(l), Some(c)) => format!("{l}:{c}"),
            (Some(l), None) => l.to_string(),
            _ => String::new(),
        };
        let width = f.report.findings.iter().map(|x| place(x).len()).max();
        for x in &f.report.findings {
            if let Some(w) = width.filter(|&w| w > 0) {
                text.push_str(&format!("  {:<w$}", place(x)));
            }
            let payload = x
                .payload_type
                .as_deref()
                .map(|t| format!(" [{t}]"))
                .unwrap_or_default();
            let path = if x.path.is_empty() { "(file)" } else { &x.path };
            text.push_str(&format!(
                "  {:<7} {} {path}{payload}: {}\n",
                x.severity.as_str(),
                x.code,
                x.message
            ));
        }
    }
    text.push_str(&format!(
        "{} file(s): {} error(s), {} warning(s), {} note(s)\n",
        out.files.len(),
        out.errors,
        out.warnings,
        out.notes
    ));
    text
}
