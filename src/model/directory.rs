//! The user directory: a CSV with the header `email,managed_apple_id,groups`
//! (`groups` separated by `;`). Read as a stream so a directory of any size
//! costs constant memory; every row error carries its line number.
//!
//! (Over 600 lines with its tests; the code is under 470.)

use super::{ManagedAppleId, check_email};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::{fmt, path::Path};

/// One user of the directory, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub email: String,
    pub managed_apple_id: Option<ManagedAppleId>,
    pub groups: Vec<String>,
    /// Line of the CSV file the user was read from (1 is the header); 0
    /// for a user only the identity provider knows.
    pub line: u64,
    /// The identity provider's claim `groups` came from, when the user
    /// signed in there (`[oidc] groups_claim`); `None`: from the CSV.
    pub groups_claim: Option<String>,
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
    /// Fields in the header: a row with more is a mistake, never cut short.
    width: usize,
    buf: Vec<u8>,
}

impl Rows {
    /// Opens `path` and checks its header (extra named columns are ignored;
    /// a row with more fields than the header is an error of that row).
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
            width: 0,
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
        rows.width = header.len();
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
        // `dave@x,dave@x,Contractors,Executives`: the groups written with
        // commas would silently lose Executives (and with it a policy).
        if fields.len() > self.width {
            return Some(Err(RowError {
                line,
                email: field(0).to_owned(),
                message: format!(
                    "has {} fields but the header has {}: separate groups with ';' in one field (\"Contractors;Executives\"), and quote a field that holds a comma",
                    fields.len(),
                    self.width
                ),
            }));
        }
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
        groups_claim: None,
    })
}

/// Who a user is, the one rule every entry point follows (resolve, profile
/// for, invite, bulk, serve): each e-mail address and each Managed Apple ID
/// names exactly one user. Rows that would make a name ambiguous are row
/// errors, whatever their order in the file:
/// - an e-mail listed twice, in any case (every row of it: which one is the
///   user? The first row is refused too, so a later row can neither win nor
///   be silently dropped);
/// - a Managed Apple ID given to two users (both rows);
/// - a Managed Apple ID that is another user's e-mail (that row: the e-mail
///   is who the other user is, so the row must not take it over).
///
/// `Claims` is what a first pass over the rows learns: every line each
/// e-mail and Managed Apple ID appears on. [`Index`] builds it from the rows
/// it holds; `aspen bulk`, which streams, reads the file twice. Names are
/// kept as 128 bits of their SHA-256 (a few dozen bytes per user): a
/// collision could only refuse two rows, never let one through.
#[derive(Debug, Default)]
pub struct Claims {
    emails: HashMap<Name, Lines>,
    apple_ids: HashMap<Name, Lines>,
}

type Name = [u8; 16];

/// Why a row seen only by the second of two passes is left out.
const CHANGED: &str =
    "was not in the file when it was first read (it changed while aspen read it): run again";

/// The line a name was first seen on, and any later ones.
#[derive(Debug)]
struct Lines {
    first: u64,
    more: Vec<u64>,
}

impl Lines {
    fn count(&self) -> usize {
        1 + self.more.len()
    }

    /// The lines other than `own`, for messages.
    fn others(&self, own: u64) -> String {
        std::iter::once(self.first)
            .chain(self.more.iter().copied())
            .filter(|&l| l != own)
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn name(text: &str) -> Name {
    let digest = openssl::sha::sha256(key(text).as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

fn claim(map: &mut HashMap<Name, Lines>, text: &str, line: u64) {
    map.entry(name(text))
        .and_modify(|l| l.more.push(line))
        .or_insert(Lines {
            first: line,
            more: Vec::new(),
        });
}

impl Claims {
    /// The claims of every readable row of `rows` (bad rows claim nothing).
    pub fn scan<'a>(rows: impl IntoIterator<Item = &'a User>) -> Claims {
        let mut claims = Claims::default();
        for user in rows {
            claims.add(user);
        }
        claims
    }

    /// The claims of the readable rows of a stream (a first pass over a
    /// file that is then read again).
    pub fn read(rows: impl IntoIterator<Item = Result<User, RowError>>) -> Claims {
        let mut claims = Claims::default();
        for user in rows.into_iter().flatten() {
            claims.add(&user);
        }
        claims
    }

    pub fn add(&mut self, user: &User) {
        claim(&mut self.emails, &user.email, user.line);
        if let Some(id) = &user.managed_apple_id {
            claim(&mut self.apple_ids, id.as_str(), user.line);
        }
    }

    /// Why `user` must be left out, if it must. A user whose row was not
    /// scanned (the file changed between two passes) is left out too.
    pub fn problem(&self, user: &User) -> Option<String> {
        let Some(emails) = self.emails.get(&name(&user.email)) else {
            return Some(CHANGED.into());
        };
        if emails.count() > 1 {
            return Some(format!(
                "email {:?} is also listed on line {}: none of its rows is used",
                user.email,
                emails.others(user.line)
            ));
        }
        let id = user.managed_apple_id.as_ref()?;
        let id_text = key(id.as_str());
        match self.apple_ids.get(&name(&id_text)) {
            Some(ids) if ids.count() > 1 => {
                return Some(format!(
                    "managed_apple_id {id_text:?} is also given on line {}: a Managed Apple ID belongs to one user",
                    ids.others(user.line)
                ));
            }
            Some(_) => {}
            None => return Some(CHANGED.into()),
        }
        if id_text != key(&user.email)
            && let Some(lines) = self.emails.get(&name(&id_text))
        {
            return Some(format!(
                "managed_apple_id {id_text:?} is the email of the user on line {}: a Managed Apple ID cannot name another user",
                lines.others(user.line)
            ));
        }
        None
    }

    /// A row as the rule sees it: a readable row that breaks the rule
    /// becomes a row error.
    pub fn check(&self, row: Result<User, RowError>) -> Result<User, RowError> {
        let user = row?;
        match self.problem(&user) {
            Some(message) => Err(RowError {
                line: user.line,
                email: user.email,
                message,
            }),
            None => Ok(user),
        }
    }
}

/// The directory indexed by who a user is, by the rule of [`Claims`]. The
/// portal and the CLI read users through this one rule, so they agree on
/// who a user is.
#[derive(Debug, Default)]
pub struct Index {
    /// Lower-case e-mail → user.
    by_email: HashMap<String, Arc<User>>,
    /// Lower-case Managed Apple ID → user.
    by_apple_id: HashMap<String, Arc<User>>,
}

impl Index {
    /// Reads and indexes the directory at `path`; the rows left out, with
    /// their line numbers, in file order.
    pub fn load(path: &Path) -> Result<(Index, Vec<RowError>)> {
        Ok(Index::build(Rows::open(path)?))
    }

    /// Indexes `rows`; the rows left out (unreadable or ambiguous), in line
    /// order.
    pub fn build(rows: impl IntoIterator<Item = Result<User, RowError>>) -> (Index, Vec<RowError>) {
        let mut errors = Vec::new();
        let mut users = Vec::new();
        for row in rows {
            match row {
                Ok(user) => users.push(user),
                Err(e) => errors.push(e),
            }
        }
        let claims = Claims::scan(&users);
        let mut index = Index::default();
        for user in users {
            match claims.check(Ok(user)) {
                Err(e) => errors.push(e),
                Ok(user) => {
                    let user = Arc::new(user);
                    if let Some(id) = &user.managed_apple_id {
                        index.by_apple_id.insert(key(id.as_str()), user.clone());
                    }
                    index.by_email.insert(key(&user.email), user);
                }
            }
        }
        errors.sort_by_key(|e| e.line);
        (index, errors)
    }

    /// The user with this e-mail (case-insensitive). Sessions, codes,
    /// access tokens and a proxy's header name users by e-mail.
    pub fn by_email(&self, email: &str) -> Option<&Arc<User>> {
        self.by_email.get(&key(email))
    }

    /// The user a device names in Apple's `user-identifier`: by Managed
    /// Apple ID, else by e-mail (case-insensitive). Never ambiguous: no
    /// Managed Apple ID in the index is another user's e-mail.
    pub fn by_identifier(&self, identifier: &str) -> Option<&Arc<User>> {
        let k = key(identifier);
        self.by_apple_id.get(&k).or_else(|| self.by_email.get(&k))
    }

    /// How many users can sign in.
    pub fn len(&self) -> usize {
        self.by_email.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_email.is_empty()
    }
}

fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// Finds one user by e-mail (case-insensitive), by the rule of [`Index`]:
/// a row left out of the index is an error naming its line.
pub fn find_user(path: &Path, email: &str) -> Result<User> {
    let (index, errors) = Index::load(path)?;
    if let Some(user) = index.by_email(email) {
        return Ok(User::clone(user));
    }
    if let Some(e) = errors.iter().find(|e| e.email.eq_ignore_ascii_case(email)) {
        return Err(Error::invalid(format!("{}: {e}", path.display())));
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

    /// Issue 20's silent wrong answer: groups written with commas. The row
    /// is an error naming its line and the fix; a quoted comma is fine.
    #[test]
    fn a_row_wider_than_the_header_is_an_error() {
        let csv = "email,managed_apple_id,groups\n\
                   dave@contoso.com,dave@contoso.com,Contractors,Executives\n\
                   erin@contoso.com,,\"Visitors, EU\"\n";
        let got: Vec<_> = Rows::from_reader(Box::new(csv.as_bytes()))
            .unwrap()
            .collect();
        let err = got[0].as_ref().unwrap_err();
        assert_eq!(err.line, 2);
        assert!(
            err.message.contains("has 4 fields but the header has 3"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("\"Contractors;Executives\""),
            "{}",
            err.message
        );
        assert_eq!(got[1].as_ref().unwrap().groups, ["Visitors, EU"]);
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

    fn index(csv: &'static str) -> (Index, Vec<RowError>) {
        Index::build(Rows::from_reader(Box::new(csv.as_bytes())).unwrap())
    }

    #[test]
    fn a_managed_apple_id_cannot_take_over_another_users_email() {
        // mallory comes first and claims alice's e-mail as her Apple ID.
        let (index, errors) = index(
            "email,managed_apple_id,groups\nmallory@contoso.com,alice@contoso.com,Staff\nalice@contoso.com,alice@appleid.contoso.com,Staff\n",
        );
        assert_eq!(index.by_email("alice@contoso.com").unwrap().line, 3);
        assert_eq!(
            index.by_identifier("ALICE@contoso.com").unwrap().email,
            "alice@contoso.com"
        );
        assert_eq!(
            index
                .by_identifier("alice@appleid.contoso.com")
                .unwrap()
                .email,
            "alice@contoso.com"
        );
        assert!(index.by_email("mallory@contoso.com").is_none());
        assert_eq!(errors.len(), 1);
        assert_eq!(
            (errors[0].line, errors[0].email.as_str()),
            (2, "mallory@contoso.com")
        );
        assert!(errors[0].message.contains("line 3"), "{}", errors[0]);
    }

    #[test]
    fn duplicate_emails_and_shared_apple_ids_leave_every_row_out() {
        let (index, errors) = index(
            "email,managed_apple_id,groups\na@x.com,,Staff\nb@x.com,shared@x.com,\nA@x.com,,Sales\nc@x.com,shared@x.com,\nd@x.com,d@x.com,\n",
        );
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        assert!(errors[0].message.contains("line 4"), "{}", errors[0]);
        assert!(errors[1].message.contains("line 5"), "{}", errors[1]);
        assert_eq!(index.len(), 1);
        assert!(index.by_identifier("shared@x.com").is_none());
        assert!(index.by_email("a@x.com").is_none());
        // An Apple ID equal to the user's own e-mail is the usual case.
        assert_eq!(index.by_identifier("d@x.com").unwrap().line, 6);
    }

    #[test]
    fn identifiers_resolve_by_apple_id_first_then_email() {
        let (index, errors) = index(
            "email,managed_apple_id,groups\nalice@contoso.com,alice@appleid.contoso.com,\nbob@contoso.com,,\n",
        );
        assert!(errors.is_empty());
        assert_eq!(index.by_identifier("bob@contoso.com").unwrap().line, 3);
        // Sessions and codes name users by e-mail only.
        assert!(index.by_email("alice@appleid.contoso.com").is_none());
    }

    #[test]
    fn find_user_follows_the_index_rule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.csv");
        std::fs::write(
            &path,
            "email,managed_apple_id,groups\nmallory@contoso.com,alice@contoso.com,Staff\nalice@contoso.com,,Staff\n",
        )
        .unwrap();
        assert_eq!(find_user(&path, "Alice@contoso.com").unwrap().line, 3);
        let err = find_user(&path, "mallory@contoso.com")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("line 3"), "{err}");
    }
}
