//! Apple's device-management schema as lint sees it: for every payload type
//! its keys, their types, presence, `rangelist`, `range`, `format`,
//! `repetition`, nested `subkeys` and `supportedOS` (introduced, deprecated,
//! removed, `userenrollment` mode) — the facts of Apple's
//! `mdm/profiles/*.yaml`, without their descriptions (but for the
//! replacement one names, [`Replacement`]).
//!
//! (Over 600 lines: the schema's one type and the loader of Apple's YAML
//! into it, with their tests; the format is one thing.)
//!
//! Two sources give the same [`Schema`]: the facts built into aspen
//! ([`super::facts`], derived from a release of Apple's files) and, with
//! `--schema DIR`, a checkout of Apple's repository read at run time
//! ([`Schema::load`]). [`super::check`] checks profiles against either.

use super::yaml::{Doc, NodeId};
use crate::error::{Error, Result};
use crate::payload::ValueType;
use regex::Regex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A schema file bigger than this is not one of Apple's.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// A `userenrollment` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Allowed,
    Forbidden,
    Ignored,
    Required,
    Other,
}

impl Mode {
    pub fn parse(s: &str) -> Mode {
        match s {
            "allowed" => Mode::Allowed,
            "forbidden" => Mode::Forbidden,
            "ignored" => Mode::Ignored,
            "required" => Mode::Required,
            _ => Mode::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Allowed => "allowed",
            Mode::Forbidden => "forbidden",
            Mode::Ignored => "ignored",
            Mode::Required => "required",
            Mode::Other => "other",
        }
    }
}

/// The operating systems of Apple's `supportedOS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Os {
    Ios,
    MacOs,
    TvOs,
    VisionOs,
    WatchOs,
}

impl Os {
    pub const ALL: [Os; 5] = [Os::Ios, Os::MacOs, Os::TvOs, Os::VisionOs, Os::WatchOs];

    /// Apple's spelling (`iOS`, `macOS`, …).
    pub fn name(self) -> &'static str {
        match self {
            Os::Ios => "iOS",
            Os::MacOs => "macOS",
            Os::TvOs => "tvOS",
            Os::VisionOs => "visionOS",
            Os::WatchOs => "watchOS",
        }
    }

    pub fn parse(s: &str) -> Option<Os> {
        Os::ALL.into_iter().find(|o| o.name() == s)
    }
}

/// One OS entry of a `supportedOS`, as Apple wrote it (not inherited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    pub os: Os,
    pub introduced: Option<String>,
    pub deprecated: Option<String>,
    pub removed: Option<String>,
    pub userenrollment: Option<Mode>,
}

/// A key's `format`: a regular expression, compiled on first use (most
/// runs never meet most formats, and compiling them all would slow every
/// start), compared by its text.
#[derive(Debug, Clone)]
pub struct Format {
    source: String,
    compiled: std::sync::OnceLock<Option<Regex>>,
}

impl Format {
    /// A format, if `source` is a valid regular expression.
    pub fn new(source: &str) -> Option<Format> {
        let f = Format::unchecked(source);
        f.regex().is_some().then_some(f)
    }

    /// A format whose source was checked when it was derived.
    pub fn unchecked(source: &str) -> Format {
        Format {
            source: source.to_owned(),
            compiled: std::sync::OnceLock::new(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn regex(&self) -> Option<&Regex> {
        self.compiled
            .get_or_init(|| Regex::new(&self.source).ok())
            .as_ref()
    }

    /// Whether `s` matches (a format that does not compile matches all).
    pub fn is_match(&self, s: &str) -> bool {
        self.regex().is_none_or(|re| re.is_match(s))
    }
}

impl PartialEq for Format {
    fn eq(&self, other: &Format) -> bool {
        self.source == other.source
    }
}

/// One key definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub ty: Option<ValueType>,
    pub required: bool,
    pub rangelist: Vec<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub format: Option<Format>,
    pub supported: Vec<Support>,
    /// The list of this key's subkeys (dictionary keys or array items).
    pub subkeys: Option<usize>,
    /// Item count bounds, when this key describes an array's items.
    pub repetition: (Option<usize>, Option<usize>),
    /// What Apple's description says to use instead, when it names it in a
    /// form [`Replacement::find`] knows.
    pub replacement: Option<Replacement>,
}

impl Key {
    /// The iOS `userenrollment` mode Apple wrote on this key.
    pub fn ue(&self) -> Option<Mode> {
        ios_mode(&self.supported)
    }
}

fn ios_mode(supported: &[Support]) -> Option<Mode> {
    supported
        .iter()
        .find(|s| s.os == Os::Ios)
        .and_then(|s| s.userenrollment)
}

/// Where a payload type's definition came from.
#[derive(Debug, Clone, PartialEq)]
pub struct PayloadDef {
    /// Apple's file name (`com.apple.wifi.managed.yaml`).
    pub file: String,
    pub keys: usize,
    pub supported: Vec<Support>,
    /// The release of Apple's data the file is from (`iOS/macOS 26.4`), when
    /// known.
    pub release: Option<String>,
    /// What Apple's description of the payload type says to use instead.
    pub replacement: Option<Replacement>,
}

/// What Apple says to use instead of a deprecated or removed key or payload
/// type, read from its description (`content`) — Apple's files have no field
/// for it. Only sentences of a few fixed shapes are read, and only the names
/// Apple puts in backquotes are kept: nothing is guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// "Deprecated: use the declarative management `CONFIGURATION`
    /// configuration." (or "Removed: …", or "use the `KEY` key in the
    /// declarative management `CONFIGURATION` configuration").
    Declarative {
        configuration: String,
        key: Option<String>,
    },
    /// "Use `KEY` instead.", "Use the `KEY` key in the `DICT` dictionary
    /// instead." (`DICT.KEY`): a key of the same payload type.
    Key(String),
    /// "Use the `TYPE` payload key `KEY` instead."
    PayloadKey { payload: String, key: String },
}

impl Replacement {
    /// The replacement Apple's description `text` names, if it names one in
    /// a shape this knows.
    pub fn find(text: &str) -> Option<Replacement> {
        static SHAPES: std::sync::LazyLock<[Regex; 5]> = std::sync::LazyLock::new(|| {
            [
                r"(?i)\b(?:deprecated|removed): use the `([^`]+)` key in the declarative management `([^`]+)` configuration\b",
                r"(?i)\b(?:deprecated|removed): use the declarative management `([^`]+)` configuration\b",
                r"(?i)\buse the `([^`]+)` payload key `([^`]+)` instead\b",
                r"(?i)\buse the `([^`]+)` key in the `([^`]+)` dictionary instead\b",
                r"(?i)\buse `([^`]+)` instead\b",
            ]
            .map(|re| Regex::new(re).expect("a valid pattern"))
        });
        let [declarative_key, declarative, payload_key, nested_key, key] = &*SHAPES;
        let group = |c: &regex::Captures<'_>, i: usize| c[i].to_owned();
        if let Some(c) = declarative_key.captures(text) {
            return Some(Replacement::Declarative {
                configuration: group(&c, 2),
                key: Some(group(&c, 1)),
            });
        }
        if let Some(c) = declarative.captures(text) {
            return Some(Replacement::Declarative {
                configuration: group(&c, 1),
                key: None,
            });
        }
        if let Some(c) = payload_key.captures(text) {
            return Some(Replacement::PayloadKey {
                payload: group(&c, 1),
                key: group(&c, 2),
            });
        }
        if let Some(c) = nested_key.captures(text) {
            return Some(Replacement::Key(format!("{}.{}", &c[2], &c[1])));
        }
        key.captures(text).map(|c| Replacement::Key(group(&c, 1)))
    }

    /// The facts file's form: `decl/CONFIGURATION[/KEY]`, `key/KEY`,
    /// `payloadkey/TYPE/KEY`.
    pub fn encode(&self) -> String {
        match self {
            Replacement::Declarative {
                configuration,
                key: None,
            } => format!("decl/{configuration}"),
            Replacement::Declarative {
                configuration,
                key: Some(k),
            } => format!("decl/{configuration}/{k}"),
            Replacement::Key(k) => format!("key/{k}"),
            Replacement::PayloadKey { payload, key } => format!("payloadkey/{payload}/{key}"),
        }
    }

    pub fn decode(text: &str) -> Option<Replacement> {
        let (kind, rest) = text.split_once('/')?;
        Some(match kind {
            "decl" => match rest.split_once('/') {
                Some((c, k)) => Replacement::Declarative {
                    configuration: c.into(),
                    key: Some(k.into()),
                },
                None => Replacement::Declarative {
                    configuration: rest.into(),
                    key: None,
                },
            },
            "key" => Replacement::Key(rest.into()),
            "payloadkey" => {
                let (p, k) = rest.split_once('/')?;
                Replacement::PayloadKey {
                    payload: p.into(),
                    key: k.into(),
                }
            }
            _ => return None,
        })
    }
}

impl std::fmt::Display for Replacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Replacement::Declarative {
                configuration,
                key: None,
            } => write!(f, "the declarative configuration {configuration}"),
            Replacement::Declarative {
                configuration,
                key: Some(k),
            } => write!(f, "{k} in the declarative configuration {configuration}"),
            Replacement::Key(k) => f.write_str(k),
            Replacement::PayloadKey { payload, key } => write!(f, "{key} of {payload}"),
        }
    }
}

impl PayloadDef {
    pub fn ue(&self) -> Option<Mode> {
        ios_mode(&self.supported)
    }
}

/// Where the schema came from, for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// The facts built into aspen.
    BuiltIn,
    /// `--schema DIR`.
    Dir(PathBuf),
}

/// See [`Schema::user_enrollment_facts`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UserEnrollmentFacts {
    pub forbidden_payloads: Vec<String>,
    pub forbidden_keys: Vec<(String, String)>,
    pub ignored_keys: Vec<(String, String)>,
}

/// Apple's schema, loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub origin: Origin,
    /// Key lists; subkeys refer to them by index, so recursive definitions
    /// are cycles of indices.
    pub lists: Vec<Vec<Key>>,
    /// Payload types (TopLevel and CommonPayloadKeys included) and their
    /// definitions; `com.apple.MCX` has several files.
    pub payloads: HashMap<String, Vec<PayloadDef>>,
}

pub const TOP_LEVEL: &str = "TopLevel";
pub const COMMON: &str = "CommonPayloadKeys";

impl Schema {
    /// Loads `DIR/mdm/profiles/*.yaml` (or `DIR/*.yaml` when DIR is that folder).
    pub fn load(dir: &Path) -> Result<Schema> {
        Schema::load_with(dir, |_| None)
    }

    /// [`Schema::load`], with the release each file is from.
    pub fn load_with(dir: &Path, release: impl Fn(&str) -> Option<String>) -> Result<Schema> {
        let profiles = profiles_dir(dir)?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&profiles)
            .map_err(|e| Error::io(&profiles, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let mut schema = Schema {
            origin: Origin::Dir(dir.to_owned()),
            lists: Vec::new(),
            payloads: HashMap::new(),
        };
        for path in &files {
            let text = crate::fs::read_capped(path, MAX_FILE_BYTES)?;
            let text = String::from_utf8(text)
                .map_err(|_| Error::invalid(format!("{}: is not UTF-8", path.display())))?;
            let doc = Doc::parse(&text)
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let release = release(&file);
            schema
                .add(&doc, file, release)
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        }
        schema
            .validate()
            .map_err(|e| Error::invalid(format!("{}: {e}", profiles.display())))?;
        Ok(schema)
    }

    /// Every schema has TopLevel and CommonPayloadKeys, each once.
    pub fn validate(&self) -> Result<(), String> {
        for name in [TOP_LEVEL, COMMON] {
            if self.payloads.get(name).map(Vec::len) != Some(1) {
                return Err(format!("{name}.yaml is missing"));
            }
        }
        Ok(())
    }

    fn add(&mut self, doc: &Doc, file: String, release: Option<String>) -> Result<(), String> {
        let root = doc.root();
        let payload_type = doc
            .path(root, &["payload", "payloadtype"])
            .and_then(|n| doc.str(n))
            .ok_or("has no payload.payloadtype")?
            .to_owned();
        let mut memo = HashMap::new();
        let keys = match doc.get(root, "payloadkeys") {
            Some(list) => self.list(doc, list, &mut memo),
            None => {
                self.lists.push(Vec::new());
                self.lists.len() - 1
            }
        };
        let supported = supported(doc, doc.path(root, &["payload", "supportedOS"]));
        // Apple describes a payload type in `payload.content` and the file's
        // `description` (com.apple.SoftwareUpdate: "Removed: use …").
        let replacement = [
            doc.path(root, &["payload", "content"]),
            doc.get(root, "description"),
        ]
        .into_iter()
        .flatten()
        .filter_map(|n| doc.str(n))
        .find_map(Replacement::find);
        self.payloads
            .entry(payload_type)
            .or_default()
            .push(PayloadDef {
                file,
                keys,
                supported,
                release,
                replacement,
            });
        Ok(())
    }

    /// Converts a YAML list of key definitions; `memo` maps YAML nodes to
    /// list indices so an alias (even one inside its own anchor) is reused.
    fn list(&mut self, doc: &Doc, node: NodeId, memo: &mut HashMap<NodeId, usize>) -> usize {
        if let Some(&id) = memo.get(&node) {
            return id;
        }
        self.lists.push(Vec::new());
        let id = self.lists.len() - 1;
        memo.insert(node, id);
        let mut keys = Vec::new();
        for &item in doc.items(node) {
            let text = |k: &str| doc.get(item, k).and_then(|n| doc.str(n));
            let Some(name) = text("key") else { continue };
            let number = |path: &[&str]| {
                doc.path(item, path)
                    .and_then(|n| doc.str(n))
                    .and_then(|s| s.parse::<f64>().ok())
            };
            let subkeys = doc.get(item, "subkeys").map(|n| self.list(doc, n, memo));
            keys.push(Key {
                name: name.to_owned(),
                ty: text("type").and_then(ValueType::parse),
                required: text("presence") == Some("required"),
                rangelist: doc
                    .get(item, "rangelist")
                    .map(|n| {
                        doc.items(n)
                            .iter()
                            .filter_map(|&i| doc.str(i).map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                min: number(&["range", "min"]),
                max: number(&["range", "max"]),
                format: text("format").and_then(Format::new),
                supported: supported(doc, doc.get(item, "supportedOS")),
                subkeys,
                repetition: (
                    number(&["repetition", "min"]).map(|n| n as usize),
                    number(&["repetition", "max"]).map(|n| n as usize),
                ),
                replacement: text("content").and_then(Replacement::find),
            });
        }
        self.lists[id] = keys;
        id
    }

    /// The profile's own keys (TopLevel).
    pub fn top_level(&self) -> usize {
        self.payloads[TOP_LEVEL][0].keys
    }

    /// The keys of every payload (CommonPayloadKeys).
    pub fn common(&self) -> usize {
        self.payloads[COMMON][0].keys
    }

    pub fn top_level_def(&self) -> &PayloadDef {
        &self.payloads[TOP_LEVEL][0]
    }

    /// The definitions of a payload type (not TopLevel or CommonPayloadKeys).
    pub fn payload(&self, ty: &str) -> Option<&[PayloadDef]> {
        if ty == TOP_LEVEL || ty == COMMON {
            return None;
        }
        self.payloads.get(ty).map(Vec::as_slice)
    }

    /// The release most of the schema's files are from, when known.
    pub fn main_release(&self) -> Option<&str> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for d in self.payloads.values().flatten() {
            if let Some(r) = &d.release {
                *counts.entry(r).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|&(r, n)| (n, std::cmp::Reverse(r)))
            .map(|(r, _)| r)
    }

    /// Payload types the schema describes, sorted (not TopLevel or
    /// CommonPayloadKeys).
    pub fn payload_types(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .payloads
            .keys()
            .map(String::as_str)
            .filter(|t| *t != TOP_LEVEL && *t != COMMON)
            .collect();
        v.sort_unstable();
        v
    }

    /// What the schema says about User Enrollment on iOS, at the level of a
    /// payload's own keys: payload types forbidden, and (payload type, key)
    /// pairs forbidden or ignored among a payload's own keys (`TopLevel` for
    /// the profile's), leaving out keys of payloads that are forbidden whole.
    pub fn user_enrollment_facts(&self) -> UserEnrollmentFacts {
        let mut facts = UserEnrollmentFacts::default();
        let keys = |ty: &str, list: usize, facts: &mut UserEnrollmentFacts| {
            for k in &self.lists[list] {
                match k.ue() {
                    Some(Mode::Forbidden) => facts.forbidden_keys.push((ty.into(), k.name.clone())),
                    Some(Mode::Ignored) => facts.ignored_keys.push((ty.into(), k.name.clone())),
                    _ => {}
                }
            }
        };
        keys(TOP_LEVEL, self.top_level(), &mut facts);
        for ty in self.payload_types() {
            let defs = &self.payloads[ty];
            if defs.iter().any(|d| d.ue() == Some(Mode::Forbidden)) {
                facts.forbidden_payloads.push(ty.to_owned());
                continue;
            }
            for d in defs {
                keys(ty, d.keys, &mut facts);
            }
        }
        facts.forbidden_payloads.sort();
        facts.forbidden_keys.sort();
        facts.ignored_keys.sort();
        facts
    }

    /// Every key path of the schema, as Apple's names join them
    /// (`EAPClientConfiguration.AcceptEAPTypes.EAPType`), with the iOS
    /// `userenrollment` mode in effect there: a key without its own mode
    /// takes its parent's, the payload's keys take the payload's, and a key
    /// not on iOS (`introduced: n/a` there, own or inherited) has none.
    /// Recursion stops at a list already on the path. Each entry is
    /// (Apple's file, key path, mode); the payload itself has an empty path.
    pub fn effective_ios_modes(&self) -> Vec<(String, String, Option<Mode>)> {
        let mut out = Vec::new();
        for defs in self.payloads.values() {
            for d in defs {
                let on_ios = ios_introduced(&d.supported).is_none_or(|v| v != "n/a");
                let mode = if on_ios { d.ue() } else { None };
                out.push((d.file.clone(), String::new(), mode));
                let mut path = Vec::new();
                self.walk_modes(&d.file, d.keys, "", mode, on_ios, &mut path, &mut out);
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_modes(
        &self,
        file: &str,
        list: usize,
        prefix: &str,
        mode: Option<Mode>,
        on_ios: bool,
        path: &mut Vec<usize>,
        out: &mut Vec<(String, String, Option<Mode>)>,
    ) {
        if path.contains(&list) {
            return;
        }
        path.push(list);
        for k in &self.lists[list] {
            let name = if prefix.is_empty() {
                k.name.clone()
            } else {
                format!("{prefix}.{}", k.name)
            };
            let on = on_ios && ios_introduced(&k.supported).is_none_or(|v| v != "n/a");
            let m = if on { k.ue().or(mode) } else { None };
            out.push((file.to_owned(), name.clone(), m));
            if let Some(sub) = k.subkeys {
                self.walk_modes(file, sub, &name, m, on, path, out);
            }
        }
        path.pop();
    }
}

fn ios_introduced(supported: &[Support]) -> Option<&str> {
    supported
        .iter()
        .find(|s| s.os == Os::Ios)
        .and_then(|s| s.introduced.as_deref())
}

/// `DIR/mdm/profiles`, or DIR itself when it holds TopLevel.yaml.
fn profiles_dir(dir: &Path) -> Result<PathBuf> {
    [dir.join("mdm").join("profiles"), dir.to_owned()]
        .into_iter()
        .find(|d| d.join("TopLevel.yaml").is_file())
        .ok_or_else(|| {
            Error::invalid(format!(
                "{}: holds neither mdm/profiles/TopLevel.yaml nor TopLevel.yaml; give a checkout of Apple's device-management repository",
                dir.display()
            ))
        })
}

/// The entries of a `supportedOS` node, in [`Os`] order.
fn supported(doc: &Doc, node: Option<NodeId>) -> Vec<Support> {
    let Some(node) = node else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for os in Os::ALL {
        let Some(entry) = doc.get(node, os.name()) else {
            continue;
        };
        let text = |k: &str| {
            doc.get(entry, k)
                .and_then(|n| doc.str(n))
                .map(str::to_owned)
        };
        out.push(Support {
            os,
            introduced: text("introduced"),
            deprecated: text("deprecated"),
            removed: text("removed"),
            userenrollment: doc
                .path(entry, &["userenrollment", "mode"])
                .and_then(|m| doc.str(m))
                .map(Mode::parse),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the shapes of sentence Apple uses are read, and only names in
    /// backquotes are kept.
    #[test]
    fn replacements_come_from_apples_sentences_only() {
        let decl = |c: &str, k: Option<&str>| Replacement::Declarative {
            configuration: c.into(),
            key: k.map(Into::into),
        };
        let cases = [
            (
                "If `false`, …\n\nDeprecated: use the declarative management `com.apple.configuration.siri.settings` configuration.",
                Some(decl("com.apple.configuration.siri.settings", None)),
            ),
            (
                "Removed: use the declarative management `com.apple.configuration.softwareupdate.settings` configuration.",
                Some(decl(
                    "com.apple.configuration.softwareupdate.settings",
                    None,
                )),
            ),
            (
                "Deprecated: use the `Privacy` key in the declarative management `com.apple.configuration.app.settings` configuration.",
                Some(decl(
                    "com.apple.configuration.app.settings",
                    Some("Privacy"),
                )),
            ),
            (
                "Use `AllowList` instead.",
                Some(Replacement::Key("AllowList".into())),
            ),
            (
                "Don't use this. Use the `AuthenticationMethod` key in the `PlatformSSO` dictionary instead.",
                Some(Replacement::Key("PlatformSSO.AuthenticationMethod".into())),
            ),
            (
                "Deprecated in macOS 10.14. Use the `com.apple.SoftwareUpdate` payload key `restrict-software-update-require-admin-to-install` instead.",
                Some(Replacement::PayloadKey {
                    payload: "com.apple.SoftwareUpdate".into(),
                    key: "restrict-software-update-require-admin-to-install".into(),
                }),
            ),
            // Not one of the shapes: nothing.
            (
                "This property is deprecated in iOS 13.4 and later; use the `VPNUUID` property of the `Mail` or `ExchangeActiveSync` payload instead.",
                None,
            ),
            ("Use `allowDictation` in Restrictions instead.", None),
            ("Deprecated. Use Cellular instead.", None),
            (
                "Replaced with allowWallpaperModification in macOS 10.13.",
                None,
            ),
        ];
        for (text, want) in cases {
            let got = Replacement::find(text);
            assert_eq!(got, want, "{text}");
            if let Some(r) = got {
                assert_eq!(Replacement::decode(&r.encode()), Some(r));
            }
        }
        assert_eq!(
            decl("com.apple.configuration.app.settings", Some("Privacy")).to_string(),
            "Privacy in the declarative configuration com.apple.configuration.app.settings"
        );
        assert_eq!(Replacement::decode("bogus/x"), None);
    }
}
