//! The user directory: a CSV with the header `email,managed_apple_id,groups`
//! (`groups` separated by `;`). Read as a stream so a directory of any size
//! costs constant memory; every row error carries its line number.

use super::{ManagedAppleId, check_email};
use crate::error::{Error, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::{fmt, path::Path};

/// One user of the directory, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub email: String,
    pub managed_apple_id: Option<ManagedAppleId>,
    pub groups: Vec<String>,
    /// Line of the CSV file the user was read from (1 is the header).
    pub line: u64,
}

/// A row that could not be used; the rest of the file still can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    /// The row's raw e-mail field, possibly empty or malformed.
    pub email: String,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

const COLUMNS: [&str; 3] = ["email", "managed_apple_id", "groups"];

/// A streaming reader over the rows of a directory CSV (RFC 4180 fields:
/// commas, double quotes, `""` inside quotes; one record per line).
///
/// Lines are counted here rather than by the `csv` crate, whose record
/// positions skip blank lines and so would report the wrong line.
pub struct Rows {
    input: Box<dyn BufRead + Send>,
    /// Lines consumed so far.
    line: u64,
    columns: [usize; 3],
    buf: Vec<u8>,
}

impl Rows {
    /// Opens `path` and checks its header (extra columns are ignored).
    pub fn open(path: &Path) -> Result<Rows> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        Rows::from_reader(Box::new(BufReader::new(file)))
            .map_err(|m| Error::invalid(format!("{}: {m}", path.display())))
    }

    pub fn from_reader(input: Box<dyn BufRead + Send>) -> Result<Rows, String> {
        let mut rows = Rows {
            input,
            line: 0,
            columns: [0; 3],
            buf: Vec::new(),
        };
        let header = match rows.next_record() {
            Some((_, Ok(fields))) => fields,
            Some((line, Err(e))) => return Err(format!("line {line}: {e}")),
            None => {
                return Err("is empty: expected the header email,managed_apple_id,groups".into());
            }
        };
        for (slot, name) in rows.columns.iter_mut().zip(COLUMNS) {
            *slot = header
                .iter()
                .position(|h| {
                    h.trim()
                        .trim_start_matches('\u{feff}')
                        .eq_ignore_ascii_case(name)
                })
                .ok_or_else(|| {
                    format!(
                        "line 1: the header has no {name:?} column (expected {})",
                        COLUMNS.join(",")
                    )
                })?;
        }
        Ok(rows)
    }

    /// The next non-blank record and its line. One line is one record: a
    /// quote left open is an error for that line alone, so one stray `"`
    /// can never swallow the rows after it. Lines are capped at
    /// [`MAX_LINE`] bytes so a file without newlines cannot exhaust memory.
    fn next_record(&mut self) -> Option<(u64, Result<Vec<String>, String>)> {
        loop {
            self.buf.clear();
            let read = (&mut self.input)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut self.buf);
            match read {
                Ok(0) => return None,
                Ok(_) => self.line += 1,
                Err(e) => return Some((self.line + 1, Err(format!("cannot read: {e}")))),
            }
            let line = self.line;
            if self.buf.len() > MAX_LINE {
                // Skip the rest of the over-long line.
                loop {
                    let chunk = match self.input.fill_buf() {
                        Ok(c) if !c.is_empty() => c,
                        _ => break,
                    };
                    let (used, done) = match chunk.iter().position(|&b| b == b'\n') {
                        Some(i) => (i + 1, true),
                        None => (chunk.len(), false),
                    };
                    self.input.consume(used);
                    if done {
                        break;
                    }
                }
                return Some((line, Err(format!("is longer than {MAX_LINE} bytes"))));
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return Some((line, Err("is not valid UTF-8".into())));
            };
            if text.trim().is_empty() {
                continue;
            }
            return Some((line, split_fields(text)));
        }
    }
}

/// The longest line a directory may have.
const MAX_LINE: usize = 64 * 1024;

/// Splits one CSV record into fields.
fn split_fields(record: &str) -> Result<Vec<String>, String> {
    let record = record.trim_end_matches(['\r', '\n']);
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = record.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("has a quoted field that is not closed on its line".into());
    }
    fields.push(field);
    Ok(fields)
}

impl Iterator for Rows {
    type Item = Result<User, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (line, record) = self.next_record()?;
        let fields = match record {
            Ok(f) => f,
            Err(message) => {
                return Some(Err(RowError {
                    line,
                    email: String::new(),
                    message,
                }));
            }
        };
        let field = |i: usize| fields.get(self.columns[i]).map_or("", |f| f.trim());
        Some(
            parse_user(field(0), field(1), field(2), line).map_err(|message| RowError {
                line,
                email: field(0).to_owned(),
                message,
            }),
        )
    }
}

fn parse_user(email: &str, apple_id: &str, groups: &str, line: u64) -> Result<User, String> {
    if email.is_empty() {
        return Err("email is missing".into());
    }
    check_email(email).map_err(|why| format!("email {email:?} {why}"))?;
    let managed_apple_id = match apple_id {
        "" => None,
        id => Some(
            ManagedAppleId::parse(id).map_err(|why| format!("managed_apple_id {id:?} {why}"))?,
        ),
    };
    let groups = groups
        .split(';')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|g| {
            if g.chars().any(char::is_control) {
                Err(format!("group {g:?} contains control characters"))
            } else {
                Ok(g.to_owned())
            }
        })
        .collect::<Result<_, _>>()?;
    Ok(User {
        email: email.to_owned(),
        managed_apple_id,
        groups,
        line,
    })
}

/// Finds one user by e-mail (case-insensitive). Rows that fail to parse are
/// skipped unless they are the user asked for, whose error is returned.
pub fn find_user(path: &Path, email: &str) -> Result<User> {
    for row in Rows::open(path)? {
        match row {
            Ok(user) if user.email.eq_ignore_ascii_case(email) => return Ok(user),
            Ok(_) => {}
            Err(e) if e.email.eq_ignore_ascii_case(email) => {
                return Err(Error::invalid(format!("{}: {e}", path.display())));
            }
            Err(_) => {}
        }
    }
    Err(Error::invalid(format!(
        "{}: no user with email {email:?}",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(csv: &'static str) -> Vec<Result<User, RowError>> {
        Rows::from_reader(Box::new(csv.as_bytes()))
            .unwrap()
            .collect()
    }

    #[test]
    fn reads_users_with_groups_and_lines() {
        let got = rows("email,managed_apple_id,groups\na@x.com,a@x.com,Staff; BYOD\n\nb@x.com,,\n");
        let a = got[0].as_ref().unwrap();
        assert_eq!(a.groups, ["Staff", "BYOD"]);
        assert_eq!(a.line, 2);
        let b = got[1].as_ref().unwrap();
        assert_eq!(b.managed_apple_id, None);
        assert!(b.groups.is_empty());
        assert_eq!(b.line, 4);
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn bad_rows_carry_their_line_and_do_not_stop_the_stream() {
        let got = rows(
            "groups,email,managed_apple_id\nStaff,a@x.com,\nStaff,,\nStaff,c@x.com,not-an-id\nStaff,d@x.com,\n",
        );
        assert!(got[0].is_ok());
        let e = got[1].as_ref().unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "email is missing"));
        let e = got[2].as_ref().unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("not-an-id"), "{}", e.message);
        assert_eq!(got[3].as_ref().unwrap().email, "d@x.com");
    }

    #[test]
    fn header_must_name_the_columns() {
        let err = Rows::from_reader(Box::new("mail,groups\n".as_bytes()))
            .err()
            .unwrap();
        assert!(err.contains("\"email\""), "{err}");
    }

    #[test]
    fn quoted_fields_and_crlf_keep_line_numbers() {
        let got = rows(
            "email,managed_apple_id,groups\r\n\r\n\"a@x.com\",,\"Staff;Sales\"\r\nb@x.com,,\"Say \"\"hi\"\"\"\r\n",
        );
        let a = got[0].as_ref().unwrap();
        assert_eq!(
            (a.line, a.groups.clone()),
            (3, vec!["Staff".to_owned(), "Sales".to_owned()])
        );
        let b = got[1].as_ref().unwrap();
        assert_eq!(
            (b.line, b.groups.clone()),
            (4, vec!["Say \"hi\"".to_owned()])
        );
    }

    #[test]
    fn a_stray_quote_costs_only_its_own_line() {
        let got = rows(
            "email,managed_apple_id,groups\na@x.com,,Staff\nbo\"b@x.com,,Staff\nc@x.com,,\"Staff\nd@x.com,,Staff\n",
        );
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].as_ref().unwrap().email, "a@x.com");
        let e = got[1].as_ref().unwrap_err();
        assert_eq!(e.line, 3);
        let e = got[2].as_ref().unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.contains("not closed"), "{}", e.message);
        assert_eq!(got[3].as_ref().unwrap().line, 5);
    }

    #[test]
    fn an_over_long_line_is_one_bad_row() {
        let long = format!(
            "email,managed_apple_id,groups\n{}@x.com,,\nb@x.com,,\n",
            "a".repeat(MAX_LINE)
        );
        let got: Vec<_> = Rows::from_reader(Box::new(std::io::Cursor::new(long)))
            .unwrap()
            .collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].as_ref().unwrap_err().message.contains("longer than"));
        assert_eq!(got[1].as_ref().unwrap().line, 3);
    }

    #[test]
    fn invalid_utf8_is_a_bad_row_not_the_end() {
        let bytes: &'static [u8] = b"email,managed_apple_id,groups\n\xff@x.com,,\nb@x.com,,\n";
        let got: Vec<_> = Rows::from_reader(Box::new(bytes)).unwrap().collect();
        assert_eq!(got[0].as_ref().unwrap_err().line, 2);
        assert_eq!(got[1].as_ref().unwrap().email, "b@x.com");
    }

    #[test]
    fn hostile_email_is_a_bad_row() {
        let got = rows("email,managed_apple_id,groups\n../../x@evil,,Staff\n");
        assert!(got[0].is_err());
    }
}
