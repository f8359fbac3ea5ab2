//! Reading profiles from strangers: the only way outside bytes enter aspen's
//! `verify`, `inspect`, `lint` and `decrypt`.
//!
//! (Over 600 lines with its tests; the code is under 500.)
//!
//! A profile is a plist (XML or binary), possibly wrapped in CMS SignedData
//! (DER). Everything here is bounded: the input size, the plist's nesting
//! depth, the number of values and the bytes they expand to (a binary plist
//! may reference one object many times, so a small file can describe a huge
//! tree), and the CMS nesting. Errors say what is wrong, never panic.

mod ber;
mod bplist;
pub mod cms;
pub mod csr;
mod xml_shape;

use crate::error::{Error, Result};
use crate::fs::{input_name, read_input, size};
use plist::stream::Event;
use plist::{Dictionary, Value};
use std::io::Cursor;
use std::path::Path;

/// Profiles bigger than this are not enrollment or settings profiles.
pub const MAX_PROFILE_BYTES: u64 = 16 << 20;
/// Real profiles nest a handful of levels; 64 leaves room and keeps every
/// recursive walk over a [`Value`] (including its `Drop`) far from the stack's end.
pub const MAX_DEPTH: usize = 64;
/// At most this many plist values (keys included) in one profile.
const MAX_VALUES: usize = 1_000_000;
/// At most this many bytes of strings and data once binary-plist references
/// are expanded.
const MAX_EXPANDED_BYTES: usize = 64 << 20;

/// Bounds on what one parse may build. A binary plist is measured against
/// them before anything is built (see [`bplist`]): a shared object costs
/// what it expands to, each time it is referenced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Values (keys included; a collection counts its start and end).
    pub values: usize,
    /// Bytes of strings and data, expanded.
    pub expanded_bytes: usize,
    /// Collections open at once.
    pub depth: usize,
}

impl Limits {
    /// Any profile, however large a real one gets.
    pub const PROFILE: Limits = Limits {
        values: MAX_VALUES,
        expanded_bytes: MAX_EXPANDED_BYTES,
        depth: MAX_DEPTH,
    };
    /// A device's `MachineInfo` (Apple: other/machineinfo.yaml): one
    /// dictionary of about fifteen strings, booleans and one data value
    /// (`PAIRING_TOKEN`), nothing nested. It comes from anyone on the
    /// network before they have signed in, so it gets no more room than that.
    pub const MACHINE_INFO: Limits = Limits {
        values: 256,
        expanded_bytes: 32 << 10,
        depth: 2,
    };
}

thread_local! {
    /// Values built on this thread, for tests that prove a refused input
    /// cost nothing.
    static VALUES_BUILT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many plist values this thread has built so far.
pub fn values_built_on_this_thread() -> u64 {
    VALUES_BUILT.with(std::cell::Cell::get)
}

/// How the plist was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Xml,
    Binary,
}

/// A profile read from outside.
#[derive(Debug)]
pub struct Document {
    /// The plist's root value (a dictionary for any real profile).
    pub value: Value,
    pub format: Format,
    /// Present when the file is CMS SignedData: its raw DER and parts.
    pub signed: Option<Signed>,
    /// Dictionary keys written twice, by full path as lint reports it
    /// (`PayloadContent[1].PayloadContent`): the plist reader keeps the last
    /// value, a device may not.
    pub duplicate_keys: Vec<String>,
}

/// The CMS wrapper of a signed profile, as found (not yet verified).
#[derive(Debug)]
pub struct Signed {
    pub der: Vec<u8>,
    pub data: cms::SignedData,
}

impl Document {
    /// The root dictionary, or `None` when the root is something else.
    pub fn dictionary(&self) -> Option<&Dictionary> {
        self.value.as_dictionary()
    }
}

/// Reads and parses the profile at `path` ([`STDIN`] reads standard input).
pub fn read_file(path: &Path) -> Result<Document> {
    let bytes = read_input(path, MAX_PROFILE_BYTES)?;
    parse(&bytes).map_err(|why| Error::invalid(format!("{}: {why}", input_name(path))))
}

/// Why bytes are not a profile, and where in an XML plist, when that is
/// known: line and column (1-based; the column counts characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub position: Option<(usize, usize)>,
}

impl From<String> for ParseError {
    fn from(message: String) -> ParseError {
        ParseError {
            message,
            position: None,
        }
    }
}

impl From<&str> for ParseError {
    fn from(message: &str) -> ParseError {
        message.to_owned().into()
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parses profile bytes: CMS-signed (DER) or a bare plist (XML or binary).
pub fn parse(bytes: &[u8]) -> Result<Document, String> {
    parse_located(bytes).map_err(|e| e.message)
}

/// [`parse`], with the line and column of an error in an unsigned XML
/// plist (those of a signed profile's content are in the message only).
pub fn parse_located(bytes: &[u8]) -> Result<Document, ParseError> {
    precheck(bytes)?;
    if bytes[0] == 0x30 {
        let data = cms::signed_data(bytes)
            .map_err(|e| format!("is not a readable signed profile: {e}"))?;
        let (value, format, duplicate_keys) = parse_plist(&data.content)
            .map_err(|e| format!("is signed, but the signed content is not a profile: {e}"))?;
        return Ok(Document {
            value,
            format,
            signed: Some(Signed {
                der: bytes.to_vec(),
                data,
            }),
            duplicate_keys,
        });
    }
    let (value, format, duplicate_keys) = parse_plist_located(bytes)?;
    Ok(Document {
        value,
        format,
        signed: None,
        duplicate_keys,
    })
}

/// The plist in `bytes`, CMS-signed or bare, within the same limits as
/// [`parse`] but without reading the signature at all (its signers and
/// certificates): for bodies whose signature nobody checks, such as the
/// `MachineInfo` a device posts.
pub fn parse_content(bytes: &[u8], limits: &Limits) -> Result<Value, String> {
    precheck(bytes).map_err(|e| e.message)?;
    let content;
    let plist = if bytes[0] == 0x30 {
        content =
            cms::signed_content(bytes).map_err(|e| format!("is not readable signed data: {e}"))?;
        &content[..]
    } else {
        bytes
    };
    parse_plist_within(plist, limits)
        .map(|(value, _, _)| value)
        .map_err(|e| e.message)
}

/// A CMS SignedData (DER) and the plist it signs, within `limits`: for a
/// body that must be signed (a device's `MachineInfo` during Automated
/// Device Enrollment), whose signature the caller then checks with
/// [`crate::verify`]. A bare plist is refused before it is read.
pub fn parse_signed_within(bytes: &[u8], limits: &Limits) -> Result<Document, String> {
    precheck(bytes).map_err(|e| e.message)?;
    if bytes[0] != 0x30 {
        return Err("is not signed (no CMS SignedData)".into());
    }
    let data = cms::signed_data(bytes).map_err(|e| format!("is not readable signed data: {e}"))?;
    let (value, format, duplicate_keys) = parse_plist_within(&data.content, limits)
        .map_err(|e| format!("is signed, but its content is not a plist: {e}"))?;
    Ok(Document {
        value,
        format,
        signed: Some(Signed {
            der: bytes.to_vec(),
            data,
        }),
        duplicate_keys,
    })
}

/// What no profile can be: too large, empty, or PEM text.
fn precheck(bytes: &[u8]) -> Result<(), ParseError> {
    if bytes.len() as u64 > MAX_PROFILE_BYTES {
        return Err(format!(
            "is larger than {} MiB; that is not a profile",
            MAX_PROFILE_BYTES >> 20
        )
        .into());
    }
    if bytes.is_empty() {
        return Err("is empty".into());
    }
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        return Err(
            "is PEM text; a signed profile is DER (convert with `openssl cms -in FILE -inform PEM -outform DER -out FILE.der`)"
                .into(),
        );
    }
    Ok(())
}

/// Parses a plist (XML or binary; not the old ASCII form, which devices do
/// not accept for profiles) within the limits above.
pub fn parse_plist(bytes: &[u8]) -> Result<(Value, Format, Vec<String>), String> {
    parse_plist_located(bytes).map_err(|e| e.message)
}

fn parse_plist_located(bytes: &[u8]) -> Result<(Value, Format, Vec<String>), ParseError> {
    parse_plist_within(bytes, &Limits::PROFILE)
}

fn parse_plist_within(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Value, Format, Vec<String>), ParseError> {
    if bytes.starts_with(b"bplist") {
        if !bytes.starts_with(b"bplist00") {
            return Err("is a binary plist of an unsupported version".into());
        }
        // Charged before anything is built: what the references expand to.
        bplist::measure(bytes, limits)?;
        let events = plist::stream::BinaryReader::new(Cursor::new(bytes));
        build(events, None, limits).map(|(v, d)| (v, Format::Binary, d))
    } else {
        if let Err(e) = std::str::from_utf8(bytes) {
            let (line, column) = line_column(bytes, e.valid_up_to());
            return Err(ParseError {
                message: format!(
                    "is not UTF-8 text (invalid byte at line {line}, column {column}), a binary plist or a signed (DER) profile"
                ),
                position: Some((line, column)),
            });
        }
        let events = plist::stream::XmlReader::new(Cursor::new(bytes));
        let built = build(events, Some(bytes), limits);
        // The reader cannot tell <key> from <string>: a key where a value
        // belongs (or the reverse) is refused here, as Apple's parser does.
        // The first mistake in the file is the one reported.
        let text = std::str::from_utf8(bytes).unwrap_or_default();
        let misplaced = xml_shape::misplaced(text).map(|m| {
            let (line, column) = line_column(bytes, m.offset);
            ParseError {
                message: format!(
                    "is not a valid plist: {} at line {line}, column {column}",
                    m.what
                ),
                position: Some((line, column)),
            }
        });
        match (built, misplaced) {
            (Ok(_), Some(m)) => Err(m),
            (Err(e), Some(m)) if e.position.is_none_or(|p| m.position.is_some_and(|q| q < p)) => {
                Err(m)
            }
            (built, _) => built.map(|(v, d)| (v, Format::Xml, d)),
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `text`.
pub fn line_column(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}

/// A plist parser error in words, with its position. The plist crate gives a
/// byte offset (`UnknownXmlElement (offset 75)`), just past the element it
/// refused; for XML that becomes the line and column where that element
/// starts.
fn plist_error(e: &plist::Error, xml: Option<&[u8]>) -> ParseError {
    let text = e.to_string();
    let (kind, offset) = match text.rsplit_once(" (offset ") {
        Some((kind, rest)) => (kind, rest.trim_end_matches(')').parse::<usize>().ok()),
        None => (text.as_str(), None),
    };
    let what = words(kind);
    match (xml, offset) {
        (Some(xml), Some(offset)) => {
            let mut at = offset.min(xml.len());
            if at > 0
                && xml[at - 1] == b'>'
                && let Some(open) = xml[..at - 1].iter().rposition(|&b| b == b'<')
            {
                at = open;
            }
            let (line, column) = line_column(xml, at);
            ParseError {
                message: format!("is not a valid plist: {what} at line {line}, column {column}"),
                position: Some((line, column)),
            }
        }
        (None, Some(offset)) => format!("is not a valid plist: {what} at byte {offset}").into(),
        (_, None) => format!("is not a valid plist: {what}").into(),
    }
}

/// `UnknownXmlElement` → `unknown XML element`.
fn words(kind: &str) -> String {
    if !kind.chars().all(|c| c.is_ascii_alphanumeric()) {
        return kind.to_owned();
    }
    let mut out = String::new();
    for (i, c) in kind.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out.split(' ')
        .map(|w| match w {
            "xml" => "XML",
            "utf8" => "UTF-8",
            "eof" => "end of file",
            w => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

enum Open {
    Array(Vec<Value>),
    /// A dictionary and, when a key was read, the key awaiting its value.
    Dict(Dictionary, Option<String>),
}

/// Builds a [`Value`] from plist events, enforcing depth, count and size
/// limits; `xml` is the text of an XML plist, for error positions.
fn build<I>(
    events: I,
    xml: Option<&[u8]>,
    limits: &Limits,
) -> Result<(Value, Vec<String>), ParseError>
where
    I: Iterator<Item = std::result::Result<Event<'static>, plist::Error>>,
{
    let mut values = 0usize;
    let built = build_counted(events, xml, limits, &mut values);
    VALUES_BUILT.with(|n| n.set(n.get() + values as u64));
    built
}

fn build_counted<I>(
    events: I,
    xml: Option<&[u8]>,
    limits: &Limits,
    values: &mut usize,
) -> Result<(Value, Vec<String>), ParseError>
where
    I: Iterator<Item = std::result::Result<Event<'static>, plist::Error>>,
{
    let mut stack: Vec<Open> = Vec::new();
    let mut duplicates = Vec::new();
    let mut expanded = 0usize;
    let mut root = None;
    for event in events {
        let event = event.map_err(|e| plist_error(&e, xml))?;
        *values += 1;
        if *values > limits.values {
            return Err(format!("holds more than {} values", limits.values).into());
        }
        let value = match event {
            Event::StartArray(_) | Event::StartDictionary(_) => {
                if stack.len() >= limits.depth {
                    return Err(format!("nests deeper than {} levels", limits.depth).into());
                }
                stack.push(match event {
                    Event::StartArray(_) => Open::Array(Vec::new()),
                    _ => Open::Dict(Dictionary::new(), None),
                });
                continue;
            }
            Event::EndCollection => match stack.pop() {
                Some(Open::Array(items)) => Value::Array(items),
                Some(Open::Dict(dict, None)) => Value::Dictionary(dict),
                Some(Open::Dict(_, Some(key))) => {
                    return Err(format!("dictionary key {key:?} has no value").into());
                }
                None => return Err("is not a valid plist: unbalanced collection".into()),
            },
            Event::Boolean(b) => Value::Boolean(b),
            Event::Data(d) => {
                expanded += d.len();
                Value::Data(d.into_owned())
            }
            Event::Date(d) => Value::Date(d),
            Event::Integer(i) => Value::Integer(i),
            Event::Real(r) => Value::Real(r),
            Event::String(s) => {
                expanded += s.len();
                Value::String(s.into_owned())
            }
            Event::Uid(u) => Value::Uid(u),
            _ => return Err("is not a valid plist: unknown element".into()),
        };
        if matches!(stack.last(), Some(Open::Dict(dict, Some(key))) if dict.contains_key(key)) {
            // Each path repeats its enclosing keys, so it counts against
            // the budget too: long keys and many duplicates stay bounded.
            let path = path_of(&stack);
            expanded += path.len();
            duplicates.push(path);
        }
        if expanded > limits.expanded_bytes {
            return Err(format!(
                "expands to more than {} of text and data",
                size(limits.expanded_bytes as u64)
            )
            .into());
        }
        match stack.last_mut() {
            None => {
                root = Some(value);
                break;
            }
            Some(Open::Array(items)) => items.push(value),
            Some(Open::Dict(_, key @ None)) => match value {
                Value::String(s) => *key = Some(s),
                _ => return Err("is not a valid plist: a dictionary key is not a string".into()),
            },
            Some(Open::Dict(dict, key @ Some(_))) => {
                dict.insert(key.take().unwrap_or_default(), value);
            }
        }
    }
    let root = root.ok_or("is not a valid plist: it ends early")?;
    Ok((root, duplicates))
}

/// The path of the value being read, in lint's notation
/// (`PayloadContent[1].PayloadContent`): each open array contributes the
/// index of the item under construction, each open dictionary the key
/// awaiting its value.
fn path_of(stack: &[Open]) -> String {
    let mut path = String::new();
    for open in stack {
        match open {
            Open::Array(items) => path.push_str(&format!("[{}]", items.len())),
            Open::Dict(_, Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            // Not on a path: an enclosing dictionary holds the key of the
            // collection open inside it, and the innermost one the duplicate.
            Open::Dict(_, None) => {}
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(body: &str) -> Vec<u8> {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">{body}</plist>")
            .into_bytes()
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "<array>".repeat(10_000), "</array>".repeat(10_000));
        let err = parse(&xml(&deep)).unwrap_err();
        assert!(err.contains("nests deeper than 64"), "{err}");
        let ok = format!("{}{}", "<array>".repeat(10), "</array>".repeat(10));
        assert!(parse(&xml(&ok)).is_ok());
    }

    #[test]
    fn content_of_signed_bytes_needs_no_certificates() {
        use openssl::cms::{CMSOptions, CmsContentInfo};
        let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/certs");
        let pem = |name: &str| std::fs::read(certs.join(name)).unwrap();
        let cert = openssl::x509::X509::from_pem(&pem("signer.pem")).unwrap();
        let key = openssl::pkey::PKey::private_key_from_pem(&pem("signer.key")).unwrap();
        let plist = xml("<dict><key>PRODUCT</key><string>iPhone15,2</string></dict>");
        let der = CmsContentInfo::sign(
            Some(&cert),
            Some(&key),
            None,
            Some(&plist),
            CMSOptions::BINARY,
        )
        .unwrap()
        .to_der()
        .unwrap();
        let full = parse(&der).unwrap();
        assert_eq!(full.signed.unwrap().data.certificates.len(), 1);
        let limits = Limits::MACHINE_INFO;
        assert_eq!(parse_content(&der, &limits).unwrap(), full.value);
        assert_eq!(parse_content(&plist, &limits).unwrap(), full.value);
        let err = parse_content(&der[..der.len() / 2], &limits).unwrap_err();
        assert!(err.starts_with("is not readable signed data"), "{err}");
        assert_eq!(parse_content(b"", &limits).unwrap_err(), "is empty");
    }

    #[test]
    fn duplicate_keys_are_recorded() {
        let doc = parse(&xml(
            "<dict><key>A</key><string>1</string><key>A</key><string>2</string></dict>",
        ))
        .unwrap();
        assert_eq!(doc.duplicate_keys, ["A"]);
    }

    /// A duplicate is named by its full path, as lint findings are.
    #[test]
    fn duplicate_keys_are_recorded_with_their_path() {
        let doc = parse(&xml("<dict><key>PayloadContent</key><array>\
             <dict/>\
             <dict><key>X</key><array><string>a</string>\
               <dict><key>K</key><true/><key>K</key><false/></dict></array>\
             <key>PayloadContent</key><dict/><key>PayloadContent</key><dict/></dict>\
             </array></dict>"))
        .unwrap();
        assert_eq!(
            doc.duplicate_keys,
            [
                "PayloadContent[1].X[1].K",
                "PayloadContent[1].PayloadContent"
            ]
        );
    }

    /// A 1 MiB key around a dictionary with 100 duplicate keys would give
    /// 100 MiB of paths from a 1 MiB file: refused like any expansion.
    #[test]
    fn duplicate_paths_count_against_the_expansion_budget() {
        let key = "k".repeat(1 << 20);
        let dups = "<key>a</key><true/>".repeat(101);
        let err = parse(&xml(&format!(
            "<dict><key>{key}</key><dict>{dups}</dict></dict>"
        )))
        .unwrap_err();
        assert!(err.contains("expands to more than 64 MiB"), "{err}");
        let dups = "<key>a</key><true/>".repeat(30);
        let doc = parse(&xml(&format!(
            "<dict><key>{key}</key><dict>{dups}</dict></dict>"
        )))
        .unwrap();
        assert_eq!(doc.duplicate_keys.len(), 29);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"\xff\xfe\x00garbage"[..],
            b"bplist00",
            b"bplist00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            b"\x30\x80",
            b"\x30\x03\x06\x01",
            b"-----BEGIN PKCS7-----",
            b"<plist><dict><key>a</key></dict></plist>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    /// A binary plist whose objects reference each other in a cycle, and one
    /// that references a shared array so often it would expand to 2^40 values.
    #[test]
    fn binary_cycles_and_reference_bombs_are_refused() {
        // Object 0: array [ref 0] — refers to itself.
        let cycle = bplist(&[vec![0xA1, 0x00]], 0);
        let err = parse(&cycle).unwrap_err();
        assert!(err.contains("valid plist"), "{err}");
        // Objects 0..40: each an array holding object i+1 twice; 40 is a string.
        let mut objects: Vec<Vec<u8>> = (0..40u8).map(|i| vec![0xA2, i + 1, i + 1]).collect();
        objects.push(vec![0x51, b'x']);
        let err = parse(&bplist(&objects, 0)).unwrap_err();
        assert!(
            err.contains("nests deeper") || err.contains("more than"),
            "{err}"
        );
    }

    /// The attack of the second attack run: 724 bytes, each of 40 arrays
    /// holding 14 references to the next, which a reader walking references
    /// expands to 14^40 values. Refused by measuring the object table,
    /// before a single value is built, under a profile's limits and under
    /// a MachineInfo's.
    #[test]
    fn a_reference_bomb_is_refused_before_any_value_is_built() {
        let mut objects: Vec<Vec<u8>> = (0..40u8)
            .map(|i| [vec![0xAE], vec![i + 1; 14]].concat())
            .collect();
        objects.push(vec![0x51, b'x']);
        let bomb = bplist(&objects, 0);
        assert!(bomb.len() < 800, "{}", bomb.len());
        for limits in [Limits::PROFILE, Limits::MACHINE_INFO] {
            let before = values_built_on_this_thread();
            let err = parse_content(&bomb, &limits).unwrap_err();
            assert!(
                err.contains("values once its shared objects are expanded")
                    || err.contains("nests deeper"),
                "{err}"
            );
            assert_eq!(values_built_on_this_thread(), before);
        }
        // Shallow and small enough for a profile, but not a MachineInfo:
        // 20 references to one array of 14 strings, 322 values.
        let objects = vec![
            [vec![0xAF, 0x10, 20], vec![1; 20]].concat(),
            [vec![0xAE], vec![2; 14]].concat(),
            vec![0x51, b'x'],
        ];
        let small = bplist(&objects, 0);
        let before = values_built_on_this_thread();
        let err = parse_content(&small, &Limits::MACHINE_INFO).unwrap_err();
        assert!(err.contains("more than 256 values"), "{err}");
        assert_eq!(values_built_on_this_thread(), before);
        let (value, _, _) = parse_plist(&small).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 20);
        assert_eq!(values_built_on_this_thread(), before + 322);
    }

    /// Encodes `objects` (already serialized, 1-byte references) as bplist00.
    fn bplist(objects: &[Vec<u8>], root: u64) -> Vec<u8> {
        let mut out = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        for o in objects {
            offsets.push(out.len() as u8);
            out.extend_from_slice(o);
        }
        let table = out.len() as u64;
        out.extend_from_slice(&offsets);
        out.extend_from_slice(&[0; 6]);
        out.push(1); // offset size
        out.push(1); // ref size
        out.extend_from_slice(&(objects.len() as u64).to_be_bytes());
        out.extend_from_slice(&root.to_be_bytes());
        out.extend_from_slice(&table.to_be_bytes());
        out
    }
}
