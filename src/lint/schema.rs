//! Apple's device-management schema as lint sees it: for every payload type
//! its keys, their types, presence, `rangelist`, `range`, `format`,
//! `repetition`, nested `subkeys` and `supportedOS` (introduced, deprecated,
//! removed, `userenrollment` mode) — the facts of Apple's
//! `mdm/profiles/*.yaml`, without their descriptions.
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
        self.payloads
            .entry(payload_type)
            .or_default()
            .push(PayloadDef {
                file,
                keys,
                supported,
                release,
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
