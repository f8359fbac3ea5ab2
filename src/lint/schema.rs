//! `--schema DIR`: Apple's device-management schema (`mdm/profiles/*.yaml`
//! of github.com/apple/device-management), loaded at run time, checks every
//! payload and key it describes: unknown keys, types, `rangelist`, `range`,
//! `format`, `presence`, `repetition` and the iOS `userenrollment` modes.
//! Nothing of Apple's files is built into aspen.

use super::yaml::{Doc, NodeId};
use super::{Payload, Sink, a, rules, type_name};
use crate::error::{Error, Result};
use crate::payload::ValueType;
use plist::{Dictionary, Value};
use regex::Regex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A schema file bigger than this is not one of Apple's.
const MAX_FILE_BYTES: u64 = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Allowed,
    Forbidden,
    Ignored,
    Other,
}

#[derive(Debug)]
struct Key {
    name: String,
    ty: Option<ValueType>,
    required: bool,
    rangelist: Vec<String>,
    min: Option<f64>,
    max: Option<f64>,
    format: Option<Regex>,
    /// `userenrollment` mode on iOS.
    ue: Option<Mode>,
    subkeys: Option<usize>,
    /// Item count bounds, when this key describes an array's items.
    repetition: (Option<usize>, Option<usize>),
}

#[derive(Debug)]
struct PayloadDef {
    file: String,
    keys: usize,
    ue: Option<Mode>,
}

/// See [`Schema::user_enrollment_facts`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UserEnrollmentFacts {
    pub forbidden_payloads: Vec<String>,
    pub forbidden_keys: Vec<(String, String)>,
    pub ignored_keys: Vec<(String, String)>,
}

/// Apple's schema, loaded.
#[derive(Debug)]
pub struct Schema {
    pub dir: PathBuf,
    /// Key lists; subkeys refer to them by index, so recursive definitions
    /// are cycles of indices.
    lists: Vec<Vec<Key>>,
    payloads: HashMap<String, Vec<PayloadDef>>,
    top_level: usize,
    common: usize,
}

impl Schema {
    /// Loads `DIR/mdm/profiles/*.yaml` (or `DIR/*.yaml` when DIR is that folder).
    pub fn load(dir: &Path) -> Result<Schema> {
        let profiles = [dir.join("mdm").join("profiles"), dir.to_owned()]
            .into_iter()
            .find(|d| d.join("TopLevel.yaml").is_file())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{}: holds neither mdm/profiles/TopLevel.yaml nor TopLevel.yaml; give a checkout of Apple's device-management repository",
                    dir.display()
                ))
            })?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&profiles)
            .map_err(|e| Error::io(&profiles, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        let mut schema = Schema {
            dir: dir.to_owned(),
            lists: Vec::new(),
            payloads: HashMap::new(),
            top_level: usize::MAX,
            common: usize::MAX,
        };
        for path in &files {
            let text = crate::read::read_capped(path, MAX_FILE_BYTES)?;
            let text = String::from_utf8(text)
                .map_err(|_| Error::invalid(format!("{}: is not UTF-8", path.display())))?;
            let doc = Doc::parse(&text)
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
            schema
                .add(&doc, path)
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        }
        if schema.top_level == usize::MAX || schema.common == usize::MAX {
            return Err(Error::invalid(format!(
                "{}: TopLevel.yaml or CommonPayloadKeys.yaml is missing",
                profiles.display()
            )));
        }
        Ok(schema)
    }

    fn add(&mut self, doc: &Doc, path: &Path) -> Result<(), String> {
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
        let ue = mode(doc, doc.path(root, &["payload", "supportedOS"]));
        match payload_type.as_str() {
            "TopLevel" => self.top_level = keys,
            "CommonPayloadKeys" => self.common = keys,
            _ => self
                .payloads
                .entry(payload_type)
                .or_default()
                .push(PayloadDef {
                    file: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    keys,
                    ue,
                }),
        }
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
                format: text("format").and_then(|f| Regex::new(f).ok()),
                ue: mode(doc, doc.get(item, "supportedOS")),
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

    /// Payload types the schema describes.
    pub fn payload_types(&self) -> usize {
        self.payloads.len()
    }

    /// What the schema says about User Enrollment on iOS, at the level the
    /// built-in lists work: payload types forbidden, and (payload type, key)
    /// pairs forbidden or ignored among a payload's own keys (`TopLevel` for
    /// the profile's), leaving out keys of payloads that are forbidden whole.
    pub fn user_enrollment_facts(&self) -> UserEnrollmentFacts {
        let mut facts = UserEnrollmentFacts::default();
        let keys = |ty: &str, list: usize, facts: &mut UserEnrollmentFacts| {
            for k in &self.lists[list] {
                match k.ue {
                    Some(Mode::Forbidden) => facts.forbidden_keys.push((ty.into(), k.name.clone())),
                    Some(Mode::Ignored) => facts.ignored_keys.push((ty.into(), k.name.clone())),
                    _ => {}
                }
            }
        };
        keys("TopLevel", self.top_level, &mut facts);
        for (ty, defs) in &self.payloads {
            if defs.iter().any(|d| d.ue == Some(Mode::Forbidden)) {
                facts.forbidden_payloads.push(ty.clone());
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

    /// Checks a profile's top level and every payload.
    pub fn check(&self, root: &Dictionary, payloads: &[Payload<'_>], ue: bool, sink: &mut Sink) {
        let encrypted = root.contains_key(crate::encrypt::ENCRYPTED_KEY);
        let mut top = Checker {
            schema: self,
            ue,
            payload: None,
            sink,
        };
        // Each payload is checked against its own type below, not against
        // TopLevel's generic description of PayloadContent.
        top.dict(
            root,
            &[self.top_level],
            "",
            &|k| k == "PayloadContent" && encrypted,
            true,
        );
        for p in payloads {
            let Some(ty) = p.payload_type() else { continue };
            let Some(defs) = self.payloads.get(ty) else {
                sink.at(
                    rules::UNKNOWN_PAYLOAD,
                    p,
                    "",
                    format!(
                        "{ty} is not a payload type in Apple's schema ({})",
                        self.dir.display()
                    ),
                );
                continue;
            };
            if ue && defs.iter().any(|d| d.ue == Some(Mode::Forbidden)) {
                sink.at(
                    rules::UE_FORBIDDEN_PAYLOAD,
                    p,
                    "",
                    format!(
                        "{ty} is forbidden under User Enrollment on iOS ({}: userenrollment forbidden)",
                        defs[0].file
                    ),
                );
                continue;
            }
            let mut lists: Vec<usize> = defs.iter().map(|d| d.keys).collect();
            lists.push(self.common);
            // A type described by several files (com.apple.MCX): a key is
            // known if any describes it, and presence cannot be required.
            let single = defs.len() == 1;
            let mut checker = Checker {
                schema: self,
                ue,
                payload: Some(p),
                sink,
            };
            checker.dict(p.dict, &lists, &p.path(""), &|_| false, single);
        }
    }
}

/// The iOS `userenrollment` mode under a `supportedOS` node.
fn mode(doc: &Doc, supported: Option<NodeId>) -> Option<Mode> {
    let m = doc.path(supported?, &["iOS", "userenrollment", "mode"])?;
    Some(match doc.str(m)? {
        "allowed" => Mode::Allowed,
        "forbidden" => Mode::Forbidden,
        "ignored" => Mode::Ignored,
        _ => Mode::Other,
    })
}

struct Checker<'a, 's> {
    schema: &'a Schema,
    ue: bool,
    payload: Option<&'a Payload<'a>>,
    sink: &'s mut Sink,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl<'a> Checker<'a, '_> {
    fn find(&self, lists: &[usize], name: &str) -> Option<&'a Key> {
        let schema: &'a Schema = self.schema;
        let keys = || lists.iter().flat_map(|&l| &schema.lists[l]);
        keys()
            .find(|k| k.name == name)
            .or_else(|| keys().find(|k| k.name == "ANY"))
    }

    fn report(&mut self, rule: super::Rule, path: String, message: String) {
        self.sink.nested(rule, self.payload, path, message);
    }

    fn dict(
        &mut self,
        dict: &Dictionary,
        lists: &[usize],
        path: &str,
        exempt: &dyn Fn(&str) -> bool,
        presence: bool,
    ) {
        for (key, value) in dict {
            let here = join(path, key);
            match self.find(lists, key) {
                None => self.report(
                    rules::UNKNOWN_KEY,
                    here,
                    "is not a key Apple's schema defines here; the device ignores it".into(),
                ),
                // TopLevel describes PayloadContent generically; payloads are
                // checked one by one against their own types.
                Some(spec)
                    if path.is_empty() && key == "PayloadContent" && self.payload.is_none() =>
                {
                    if let Some(t) = spec.ty
                        && !t.accepts(value)
                    {
                        self.report(
                            rules::WRONG_TYPE,
                            here,
                            format!("must be {}, not {}", a(t.name()), a(type_name(value))),
                        );
                    }
                }
                Some(spec) => self.value(value, spec, here),
            }
        }
        if presence {
            let schema: &'a Schema = self.schema;
            let keys = lists.iter().flat_map(|&l| &schema.lists[l]);
            let missing: Vec<String> = keys
                .filter(|k| k.required && k.name != "ANY")
                .filter(|k| !dict.contains_key(&k.name) && !exempt(&k.name))
                .map(|k| k.name.clone())
                .collect();
            for name in missing {
                self.report(rules::MISSING_KEY, join(path, &name), "is required".into());
            }
        }
    }

    fn value(&mut self, value: &Value, spec: &Key, path: String) {
        if self.ue {
            match spec.ue {
                Some(Mode::Forbidden) => {
                    self.report(
                        rules::UE_FORBIDDEN_KEY,
                        path,
                        "is forbidden under User Enrollment on iOS (Apple's schema): the device refuses the profile".into(),
                    );
                    return;
                }
                Some(Mode::Ignored) => self.report(
                    rules::UE_IGNORED_KEY,
                    path.clone(),
                    "is ignored under User Enrollment on iOS (Apple's schema)".into(),
                ),
                _ => {}
            }
        }
        if let Some(t) = spec.ty
            && !t.accepts(value)
        {
            self.report(
                rules::WRONG_TYPE,
                path,
                format!("must be {}, not {}", a(t.name()), a(type_name(value))),
            );
            return;
        }
        // Secrets (passwords, challenges) are never echoed in findings.
        let secret = crate::payload::is_secret(
            self.payload.and_then(|p| p.payload_type()).unwrap_or(""),
            &spec.name,
        );
        let shown = |v: &Value| {
            if secret {
                crate::inspect::MASK.to_owned()
            } else {
                scalar_text(v).unwrap_or_default()
            }
        };
        if !spec.rangelist.is_empty()
            && let Some(text) = scalar_text(value)
            && !spec.rangelist.contains(&text)
            && !in_range(value, spec)
        {
            self.report(
                rules::NOT_ALLOWED,
                path.clone(),
                format!(
                    "is {}; Apple allows {}",
                    if secret { crate::inspect::MASK } else { &text },
                    spec.rangelist.join(", ")
                ),
            );
        } else if spec.rangelist.is_empty()
            && (spec.min.is_some() || spec.max.is_some())
            && !in_range(value, spec)
        {
            self.report(
                rules::OUT_OF_RANGE,
                path.clone(),
                format!(
                    "is {}; Apple allows {} to {}",
                    shown(value),
                    spec.min.map_or("-∞".into(), |m| m.to_string()),
                    spec.max.map_or("∞".into(), |m| m.to_string())
                ),
            );
        }
        if let (Some(re), Some(s)) = (&spec.format, value.as_string())
            && !re.is_match(s)
        {
            self.report(
                rules::BAD_FORMAT,
                path.clone(),
                format!(
                    "{} does not match Apple's format {}",
                    if secret {
                        crate::inspect::MASK.to_owned()
                    } else {
                        format!("{s:?}")
                    },
                    re.as_str()
                ),
            );
        }
        let Some(list) = spec.subkeys else { return };
        match value {
            Value::Dictionary(d) => {
                let list = self.unwrap_item(list, &spec.name);
                self.dict(d, &[list], &path, &|_| false, true);
            }
            Value::Array(items) => {
                let schema: &'a Schema = self.schema;
                let Some(item) = schema.lists[list].first() else {
                    return;
                };
                let (min, max) = item.repetition;
                if min.is_some_and(|m| items.len() < m) || max.is_some_and(|m| items.len() > m) {
                    self.report(
                        rules::OUT_OF_RANGE,
                        path.clone(),
                        format!(
                            "has {} items; Apple requires {}",
                            items.len(),
                            match (min, max) {
                                (Some(a), Some(b)) if a == b => format!("exactly {a}"),
                                (a, b) => format!(
                                    "{} to {}",
                                    a.unwrap_or(0),
                                    b.map_or("any number".into(), |b| b.to_string())
                                ),
                            }
                        ),
                    );
                }
                for (i, v) in items.iter().enumerate() {
                    self.value(v, item, format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }

    /// Apple's files describe some dictionaries (TopLevel `ConsentText`)
    /// through a single `<Name>Item` dictionary key holding the real keys;
    /// look through it.
    fn unwrap_item(&self, list: usize, name: &str) -> usize {
        match self.schema.lists[list].as_slice() {
            [only]
                if only.name == format!("{name}Item") && only.ty == Some(ValueType::Dictionary) =>
            {
                only.subkeys.unwrap_or(list)
            }
            _ => list,
        }
    }
}

/// A scalar as Apple's YAML writes it (`1`, `true`, `Configuration`).
fn scalar_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Real(r) => r.to_string(),
        Value::Boolean(b) => b.to_string(),
        _ => return None,
    })
}

fn in_range(value: &Value, spec: &Key) -> bool {
    if spec.min.is_none() && spec.max.is_none() {
        return false;
    }
    let n = match value {
        Value::Integer(i) => i
            .as_signed()
            .map(|i| i as f64)
            .or(i.as_unsigned().map(|u| u as f64)),
        Value::Real(r) => Some(*r),
        _ => None,
    };
    n.is_some_and(|n| spec.min.is_none_or(|m| n >= m) && spec.max.is_none_or(|m| n <= m))
}
