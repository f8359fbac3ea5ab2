//! The facts of Apple's device-management schema built into aspen, so that
//! `lint` checks every Apple payload type without a checkout of Apple's
//! repository. `facts/apple.tsv` holds them — payload types, key paths,
//! value types, presence, rangelists, ranges, formats, repetition, nested
//! subkeys and `supportedOS` (introduced, deprecated, removed,
//! `userenrollment` modes) — and none of Apple's descriptions, only the
//! names a description gives as the replacement of a deprecated key
//! ([`Replacement`]).
//!
//! (Over 600 lines with its tests; the code is under 540.)
//!
//! The file is derived, never edited: `cargo run --example lint-facts --
//! DIR` writes it from a checkout ([`derive`]), and a test derives it again
//! from `../shared/apple-device-management` and fails if the copy in the
//! repository differs. Apple's licence (MIT-style, which asks that its notice
//! go with substantial portions) is `facts/LICENSE-apple.txt`, also built in
//! ([`LICENSE`]).
//!
//! # Format (one record a line, fields separated by tabs)
//! ```text
//! source   REPOSITORY  COMMIT  RELEASE
//! payload  TYPE  FILE  SOURCE-INDEX  LIST  SUPPORT  [repl=REPLACEMENT]
//! list     ID                        (the key lines below belong to it)
//! key      NAME  TYPE  PRESENCE  [in=A|B] [min=N] [max=N] [format=RE] [rep=MIN..MAX] [sub=LIST] [os=SUPPORT] [repl=REPLACEMENT]
//! ```
//! REPLACEMENT is what Apple's description says to use instead
//! ([`Replacement`]: `decl/CONFIGURATION[/KEY]`, `key/KEY`,
//! `payloadkey/TYPE/KEY`), only when it names one.
//! SUPPORT is `iOS:i=4.0:d=…:r=…:ue=forbidden,macOS:i=10.7,…` (introduced,
//! deprecated, removed, `userenrollment` mode, each only when Apple gives
//! it), `-` when there is none. Text is escaped: `\\`, `\t`, `\n`, and `\p`
//! `\c` `\o` for `|` `,` `:`. Lines starting with `#` are comments.

use super::schema::{Format, Key, Mode, Origin, Os, PayloadDef, Replacement, Schema, Support};
use crate::error::{Error, Result};
use crate::payload::ValueType;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::LazyLock;

/// The facts file built into aspen.
pub const TEXT: &str = include_str!("facts/apple.tsv");

/// Apple's licence for the data the facts are derived from.
pub const LICENSE: &str = include_str!("facts/LICENSE-apple.txt");

/// A repository and commit the facts are derived from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub repository: &'static str,
    pub commit: &'static str,
    /// The Apple OS release the data describes.
    pub release: &'static str,
}

/// What the built-in facts are derived from (`../shared/apple-device-management`,
/// see its SOURCE.txt): Apple's files at several commits on the way to a
/// release, and a few older copies where Apple's newer file could not be
/// obtained. SOURCE.txt says which file comes from which; every commit of
/// it must be here, with the release its data describes. Update these when
/// regenerating from newer data.
pub const SOURCES: &[Source] = &[
    Source {
        repository: "github.com/apple/device-management",
        commit: "b6202ca2fbd31286a52eb160b67a4db7b4fe1f1f",
        release: "iOS 18.1, macOS 15.1",
    },
    Source {
        repository: "github.com/skylar2k/Apple-MDM-Schema",
        commit: "420bab125ce5835ef6bc6e60e72c7555d38be966",
        release: "iOS/macOS 26.4",
    },
    Source {
        repository: "github.com/apple/device-management",
        commit: "0a4527c5ea21825fd23e08273ccdb9e2302458ce",
        release: "iOS/macOS 26.0",
    },
    Source {
        repository: "github.com/apple/device-management",
        commit: "9468f879c31663a83ff7734d3ebf4cf4422e7c6b",
        release: "iOS/macOS 27.0",
    },
    Source {
        repository: "github.com/apple/device-management",
        commit: "97a11a861f4ea9024adc7c86a35f817041414834",
        release: "iOS/macOS 27.0",
    },
    Source {
        repository: "github.com/apple/device-management",
        commit: "61449b07e22d7d659aaa9ae65a29688cff3902a2",
        release: "iOS/macOS 27.0",
    },
    Source {
        repository: "github.com/apple/device-management",
        commit: "255d4a2d841448f71f526e4b5d5f7ad795de86ca",
        release: "iOS/macOS 27.0",
    },
];

static BUILT_IN: LazyLock<Schema> = LazyLock::new(|| {
    // The file is part of aspen's source and a test parses it: failing here
    // is a build defect, not bad input.
    parse(TEXT).unwrap_or_else(|e| panic!("src/lint/facts/apple.tsv: {e}"))
});

/// The built-in facts, parsed once on first use.
pub fn built_in() -> &'static Schema {
    &BUILT_IN
}

/// Derives the facts file from a checkout of Apple's schema (`DIR/mdm/profiles`).
/// `DIR/SOURCE.txt` says which commit each file is from (see
/// [`file_sources`]); without it every file is taken as the first source's.
pub fn derive(dir: &Path) -> Result<String> {
    let note = dir.join("SOURCE.txt");
    let from = if note.is_file() {
        let text = String::from_utf8_lossy(&crate::fs::read_capped(&note, 1 << 20)?).into_owned();
        Some(
            file_sources(&text, SOURCES)
                .map_err(|e| Error::invalid(format!("{}: {e}", note.display())))?,
        )
    } else {
        None
    };
    let unplaced = std::cell::RefCell::new(Vec::new());
    let schema = Schema::load_with(dir, |file| {
        let i = match &from {
            None => 0,
            Some(from) => match from.get(file) {
                Some(&i) => i,
                None => {
                    unplaced.borrow_mut().push(file.to_owned());
                    0
                }
            },
        };
        Some(SOURCES[i].release.to_owned())
    })?;
    let unplaced = unplaced.into_inner();
    if !unplaced.is_empty() {
        return Err(Error::invalid(format!(
            "{}: names no source for mdm/profiles/{}",
            note.display(),
            unplaced.join(", mdm/profiles/")
        )));
    }
    Ok(write(&schema, SOURCES))
}

/// Which source each `mdm/profiles/*.yaml` file is from, as SOURCE.txt
/// says it: a heading line names a source (its full commit, its first seven
/// hex digits, or its repository's owner) and the indented
/// `mdm/profiles/…` lines under it are that source's files. A heading that
/// names no source (e.g. "Removed") takes its files out. Every source
/// must be named somewhere, so data newer than [`SOURCES`] is not mislabelled.
pub fn file_sources(text: &str, sources: &[Source]) -> Result<HashMap<String, usize>, String> {
    let mut map = HashMap::new();
    let mut named = vec![false; sources.len()];
    let mut current: Option<usize> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            current = None;
            if line.trim_end().ends_with(':') {
                current = sources.iter().position(|s| {
                    let owner = s.repository.split('/').nth(1).unwrap_or(s.repository);
                    line.contains(s.commit)
                        || line.contains(&s.commit[..7])
                        || (owner != "apple" && line.contains(owner))
                });
                if let Some(i) = current {
                    named[i] = true;
                }
            }
            continue;
        }
        let Some(file) = line.trim().strip_prefix("mdm/profiles/") else {
            continue;
        };
        let file = file.split_whitespace().next().unwrap_or_default();
        if let (Some(i), true) = (current, file.ends_with(".yaml")) {
            map.insert(file.to_owned(), i);
        }
    }
    if let Some(i) = named.iter().position(|n| !n) {
        return Err(format!(
            "does not name commit {} of {} as the source of any file; update lint::facts::SOURCES for this data",
            sources[i].commit, sources[i].repository
        ));
    }
    Ok(map)
}

/// Writes a schema in the facts format; a payload's `release` is written as
/// the index of the source with that release.
pub fn write(schema: &Schema, sources: &[Source]) -> String {
    let mut out = String::new();
    out.push_str(
        "# aspen lint facts, format 1: the facts of Apple's device-management schema\n\
         # (mdm/profiles/*.yaml: payload types, keys, value types, presence, rangelists,\n\
         # ranges, formats, repetition, subkeys, supportedOS, and the replacement a\n\
         # description names), without Apple's descriptions.\n\
         # Derived with `cargo run --example lint-facts -- DIR`; do not edit by hand.\n\
         # Apple's licence for this data: LICENSE-apple.txt beside this file.\n",
    );
    for s in sources {
        let _ = writeln!(out, "source\t{}\t{}\t{}", s.repository, s.commit, s.release);
    }
    let mut types: Vec<&String> = schema.payloads.keys().collect();
    types.sort();
    for ty in types {
        for d in &schema.payloads[ty] {
            let _ = write!(
                out,
                "payload\t{}\t{}\t{}\t{}\t{}",
                esc(ty),
                esc(&d.file),
                d.release
                    .as_deref()
                    .and_then(|r| sources.iter().position(|s| s.release == r))
                    .map_or("-".to_owned(), |i| i.to_string()),
                d.keys,
                support(&d.supported)
            );
            if let Some(r) = &d.replacement {
                let _ = write!(out, "\trepl={}", esc(&r.encode()));
            }
            out.push('\n');
        }
    }
    for (id, list) in schema.lists.iter().enumerate() {
        let _ = writeln!(out, "list\t{id}");
        for k in list {
            key_line(&mut out, k);
        }
    }
    out
}

fn key_line(out: &mut String, k: &Key) {
    let _ = write!(
        out,
        "key\t{}\t{}\t{}",
        esc(&k.name),
        k.ty.map_or("-", ValueType::name),
        if k.required { "required" } else { "optional" }
    );
    if !k.rangelist.is_empty() {
        let items: Vec<String> = k.rangelist.iter().map(|v| esc(v)).collect();
        let _ = write!(out, "\tin={}", items.join("|"));
    }
    if let Some(m) = k.min {
        let _ = write!(out, "\tmin={m}");
    }
    if let Some(m) = k.max {
        let _ = write!(out, "\tmax={m}");
    }
    if let Some(f) = &k.format {
        let _ = write!(out, "\tformat={}", esc(f.as_str()));
    }
    if k.repetition != (None, None) {
        let n = |v: Option<usize>| v.map(|v| v.to_string()).unwrap_or_default();
        let _ = write!(out, "\trep={}..{}", n(k.repetition.0), n(k.repetition.1));
    }
    if let Some(s) = k.subkeys {
        let _ = write!(out, "\tsub={s}");
    }
    if !k.supported.is_empty() {
        let _ = write!(out, "\tos={}", support(&k.supported));
    }
    if let Some(r) = &k.replacement {
        let _ = write!(out, "\trepl={}", esc(&r.encode()));
    }
    out.push('\n');
}

fn support(entries: &[Support]) -> String {
    if entries.is_empty() {
        return "-".into();
    }
    let mut parts = Vec::new();
    for s in entries {
        let mut p = s.os.name().to_owned();
        for (tag, v) in [
            ("i", &s.introduced),
            ("d", &s.deprecated),
            ("r", &s.removed),
        ] {
            if let Some(v) = v {
                let _ = write!(p, ":{tag}={}", esc(v));
            }
        }
        if let Some(m) = s.userenrollment {
            let _ = write!(p, ":ue={}", m.as_str());
        }
        parts.push(p);
    }
    parts.join(",")
}

/// Parses the facts format.
pub fn parse(text: &str) -> Result<Schema, String> {
    let mut sources: Vec<String> = Vec::new();
    let mut payloads: HashMap<String, Vec<PayloadDef>> = HashMap::new();
    let mut lists: Vec<Vec<Key>> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["source", _repo, _commit, release] => sources.push(unesc(release)),
            ["payload", ty, file, source, list, os, more @ ..] => {
                let replacement = match more {
                    [] => None,
                    [r] => Some(
                        r.strip_prefix("repl=")
                            .map(unesc)
                            .as_deref()
                            .and_then(Replacement::decode)
                            .ok_or_else(|| at(format!("bad payload attribute {r:?}")))?,
                    ),
                    _ => return Err(at("too many payload fields".into())),
                };
                let release = match *source {
                    "-" => None,
                    i => Some(
                        i.parse::<usize>()
                            .ok()
                            .and_then(|i| sources.get(i))
                            .ok_or_else(|| at(format!("unknown source {i}")))?
                            .clone(),
                    ),
                };
                payloads.entry(unesc(ty)).or_default().push(PayloadDef {
                    file: unesc(file),
                    keys: list.parse().map_err(|_| at(format!("bad list {list}")))?,
                    supported: parse_support(os).map_err(at)?,
                    release,
                    replacement,
                });
            }
            ["list", id] => {
                if id.parse::<usize>().ok() != Some(lists.len()) {
                    return Err(at(format!("list {id} out of order")));
                }
                lists.push(Vec::new());
            }
            ["key", name, ty, presence, attrs @ ..] => {
                let key = parse_key(name, ty, presence, attrs).map_err(at)?;
                lists
                    .last_mut()
                    .ok_or_else(|| at("a key before any list".into()))?
                    .push(key);
            }
            _ => return Err(at(format!("unknown record {:?}", fields[0]))),
        }
    }
    let schema = Schema {
        origin: Origin::BuiltIn,
        lists,
        payloads,
    };
    schema.validate()?;
    // Every list reference must resolve.
    let n = schema.lists.len();
    let bad = schema
        .payloads
        .values()
        .flatten()
        .map(|d| d.keys)
        .chain(schema.lists.iter().flatten().filter_map(|k| k.subkeys))
        .find(|&i| i >= n);
    if let Some(i) = bad {
        return Err(format!("list {i} is referenced but not defined"));
    }
    Ok(schema)
}

fn parse_key(name: &str, ty: &str, presence: &str, attrs: &[&str]) -> Result<Key, String> {
    let mut key = Key {
        name: unesc(name),
        ty: match ty {
            "-" => None,
            t => Some(type_named(t).ok_or_else(|| format!("unknown type {t}"))?),
        },
        required: match presence {
            "required" => true,
            "optional" => false,
            p => return Err(format!("unknown presence {p}")),
        },
        rangelist: Vec::new(),
        min: None,
        max: None,
        format: None,
        supported: Vec::new(),
        subkeys: None,
        repetition: (None, None),
        replacement: None,
    };
    for attr in attrs {
        let (tag, value) = attr
            .split_once('=')
            .ok_or_else(|| format!("attribute {attr:?} has no value"))?;
        let number = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("bad number {value}"))
        };
        match tag {
            "in" => key.rangelist = value.split('|').map(unesc).collect(),
            "min" => key.min = Some(number()?),
            "max" => key.max = Some(number()?),
            // Compiled on first use; the derivation kept only valid ones.
            "format" => key.format = Some(Format::unchecked(&unesc(value))),
            "rep" => {
                let (a, b) = value
                    .split_once("..")
                    .ok_or_else(|| format!("bad repetition {value}"))?;
                let n = |s: &str| {
                    (!s.is_empty())
                        .then(|| {
                            s.parse::<usize>()
                                .map_err(|_| format!("bad repetition {s}"))
                        })
                        .transpose()
                };
                key.repetition = (n(a)?, n(b)?);
            }
            "sub" => key.subkeys = Some(value.parse().map_err(|_| format!("bad list {value}"))?),
            "os" => key.supported = parse_support(value)?,
            "repl" => {
                key.replacement = Some(
                    Replacement::decode(&unesc(value))
                        .ok_or_else(|| format!("bad replacement {value}"))?,
                )
            }
            _ => return Err(format!("unknown attribute {tag}")),
        }
    }
    Ok(key)
}

/// The type [`ValueType::name`] calls `name`.
fn type_named(name: &str) -> Option<ValueType> {
    use ValueType as T;
    [
        T::String,
        T::Integer,
        T::Real,
        T::Boolean,
        T::Date,
        T::Data,
        T::Array,
        T::Dictionary,
        T::Any,
    ]
    .into_iter()
    .find(|t| t.name() == name)
}

fn parse_support(text: &str) -> Result<Vec<Support>, String> {
    if text == "-" {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|entry| {
            let mut parts = entry.split(':');
            let os = parts.next().unwrap_or_default();
            let mut s = Support {
                os: Os::parse(os).ok_or_else(|| format!("unknown OS {os:?}"))?,
                introduced: None,
                deprecated: None,
                removed: None,
                userenrollment: None,
            };
            for p in parts {
                match p.split_once('=') {
                    Some(("i", v)) => s.introduced = Some(unesc(v)),
                    Some(("d", v)) => s.deprecated = Some(unesc(v)),
                    Some(("r", v)) => s.removed = Some(unesc(v)),
                    Some(("ue", v)) => s.userenrollment = Some(Mode::parse(v)),
                    _ => return Err(format!("bad supportedOS entry {p:?}")),
                }
            }
            Ok(s)
        })
        .collect()
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '|' => out.push_str("\\p"),
            ',' => out.push_str("\\c"),
            ':' => out.push_str("\\o"),
            c => out.push(c),
        }
    }
    out
}

fn unesc(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('t') => '\t',
            Some('n') => '\n',
            Some('p') => '|',
            Some('c') => ',',
            Some('o') => ':',
            Some(other) => other,
            None => '\\',
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in facts parse, describe Apple's payload types and name
    /// their sources.
    #[test]
    fn built_in_facts_parse() {
        let s = built_in();
        assert!(s.payload_types().len() > 100);
        assert!(s.payload("com.apple.wifi.managed").is_some());
        for src in SOURCES {
            assert!(TEXT.contains(src.commit), "{}", src.commit);
        }
        assert!(LICENSE.contains("Apple"));
    }

    #[test]
    fn escaping_round_trips() {
        for s in [
            "a|b,c:d=e\\f\tg\nh/i",
            "",
            "plain",
            "^([0-9]{6})|([a-z]{9})$",
        ] {
            let e = esc(s);
            assert!(!e.contains(['\t', '\n', '|', ',', ':']), "{e}");
            assert_eq!(unesc(&e), s);
        }
    }

    /// Every field survives writing and parsing.
    #[test]
    fn write_and_parse_agree() {
        let mut schema = built_in().clone();
        schema.lists[0].push(Key {
            name: "Odd|Name,=/".into(),
            ty: None,
            required: true,
            rangelist: vec!["a|b".into(), "1.5".into()],
            min: Some(-1.5),
            max: Some(65535.0),
            format: Format::new("^x|y$"),
            supported: vec![Support {
                os: Os::VisionOs,
                introduced: Some("n/a".into()),
                deprecated: Some("2.0".into()),
                removed: None,
                userenrollment: Some(Mode::Ignored),
            }],
            subkeys: Some(0),
            repetition: (Some(2), None),
            replacement: Some(Replacement::Declarative {
                configuration: "com.apple.configuration.x:y".into(),
                key: Some("K|,".into()),
            }),
        });
        let def = schema.payloads.get_mut("com.apple.mdm").unwrap();
        def[0].replacement = Some(Replacement::PayloadKey {
            payload: "com.apple.SoftwareUpdate".into(),
            key: "a-key".into(),
        });
        let sources: Vec<Source> = SOURCES.to_vec();
        let back = parse(&write(&schema, &sources)).unwrap();
        assert_eq!(back, schema);
    }

    #[test]
    fn broken_facts_are_errors() {
        for (bad, why) in [
            ("list\t1\n", "out of order"),
            ("key\tA\tstring\toptional\n", "before any list"),
            ("list\t0\nkey\tA\tstrong\toptional\n", "unknown type"),
            ("bogus\n", "unknown record"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
