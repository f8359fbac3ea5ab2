//! Checks a profile against Apple's schema — the built-in facts, or
//! `--schema DIR`: every key of the top level and of each payload, its
//! type, `rangelist`, `range`, `format`, `presence` and `repetition`, to any
//! depth, and what [`super::user_enrollment`] says about it.
//!
//! (Over 600 lines: one recursive walk of a profile against one schema, with
//! its tests; split, the recursion would be spread over files that each make
//! sense only with the others.)
//!
//! Real profiles carry more than Apple's schema describes, and lint must not
//! cry wolf over it: `PayloadEnabled` (written by Profile Manager, Apple
//! Configurator and most profile editors, absent from the schema) is
//! accepted; a key the schema does not know is a warning only when it looks
//! like a misspelling of one it does ([`super::spelling`]), otherwise a note
//! that it is not in Apple's schema as of the data's release and was not
//! checked; a payload type the schema does not know is custom preferences
//! (`com.microsoft.Outlook`), noted as not checked, unless it too looks like
//! a misspelling.

use super::schema::{Key, Origin, PayloadDef, Schema};
use super::target::{self, Effective, Target};
use super::{Payload, Sink, a, rules, spelling, type_name, user_enrollment};
use crate::payload::ValueType;
use plist::{Dictionary, Value};

/// Keys that common profile editors write everywhere though Apple's schema
/// lacks them; devices accept them.
const TOLERATED_KEYS: &[&str] = &["PayloadEnabled"];

/// Payload types whose keys Apple describes as another type's too. Apple:
/// com.apple.vpn.managed.applayer — "The fields in this payload are the same
/// as the VPN payload, with the addition of" the per-app keys.
const ALSO_DESCRIBED_BY: &[(&str, &str)] =
    &[("com.apple.vpn.managed.applayer", "com.apple.vpn.managed")];

/// Keys Apple's schema marks `presence: required` that real profiles from
/// Apple's own Profile Manager leave out, so a missing one is a note
/// ([`rules::ACCEPTED_MISSING`]), not an error: (payload type, the key whose
/// dictionary holds it — empty for the payload's own keys —, key, what
/// leaves it out). Found on published profiles; keep this list to such
/// evidence.
const ACCEPTED_MISSING: &[(&str, &str, &str, &str)] = &[
    // Apple: com.apple.screensaver `moduleName` presence required; Profile
    // Manager exports idle-time-only Screen Saver payloads (`idleTime`,
    // `askForPassword`) without it.
    (
        "com.apple.screensaver",
        "",
        "moduleName",
        "Profile Manager writes Screen Saver payloads that set only the idle time or password without it",
    ),
    // Apple: com.apple.dock `tile-data` (in `static-apps`, `static-others`,
    // `persistent-apps`, `persistent-others` items) `label` and `file-type`
    // presence required; Profile Manager exports tiles whose `tile-data`
    // carries only some of its keys (`file-data` with the app's URL, or
    // `label` and `url`).
    (
        "com.apple.dock",
        "tile-data",
        "label",
        "Profile Manager writes Dock tiles whose tile-data carries only some of its keys",
    ),
    (
        "com.apple.dock",
        "tile-data",
        "file-type",
        "Profile Manager writes Dock tiles whose tile-data carries only some of its keys",
    ),
];

/// Apple: com.apple.ManagedClient.preferences `PayloadContent` — "keys are
/// application preference domain identifiers", each holding `Forced` or
/// `Set-Once` settings of the app's own.
const MANAGED_PREFERENCES: &str = "com.apple.ManagedClient.preferences";

/// Checks a profile's top level and every payload.
pub fn check(
    schema: &Schema,
    root: &Dictionary,
    payloads: &[Payload<'_>],
    ue: bool,
    targets: &[Target],
    sink: &mut Sink,
) {
    let encrypted = root.contains_key(crate::encrypt::ENCRYPTED_KEY);
    let top = schema.top_level_def();
    let mut checker = Checker {
        schema,
        ue,
        payload: None,
        def: top,
        removed: false,
        targets,
        support: Effective::default().with(&top.supported),
        sink,
    };
    // Each payload is checked against its own type below, not against
    // TopLevel's generic description of PayloadContent.
    checker.dict(
        root,
        &[schema.top_level()],
        "",
        &|k| k == "PayloadContent" && encrypted,
        true,
    );
    for p in payloads {
        let Some(ty) = p.payload_type() else { continue };
        let Some(defs) = schema.payload(ty) else {
            unknown_payload(schema, p, ty, sink);
            continue;
        };
        if ue && user_enrollment::payload_forbidden(p, ty, defs, sink) {
            continue;
        }
        let mut lists: Vec<usize> = defs.iter().map(|d| d.keys).collect();
        let also = ALSO_DESCRIBED_BY
            .iter()
            .filter(|(t, _)| *t == ty)
            .filter_map(|(_, other)| schema.payload(other))
            .flatten();
        lists.extend(also.map(|d| d.keys));
        // A type described by several files (com.apple.MCX): a key is
        // known if any describes it, and presence cannot be required.
        let single = lists.len() == 1;
        lists.push(schema.common());
        // Apple marks a whole payload type removed on its `supportedOS`
        // (com.apple.SoftwareUpdate in macOS 27.0): one note for the
        // payload, not one for each of its keys.
        let gone = removed_in(&defs[0], &[]);
        // With --platform/--min-os: the payload type against the targets
        // (its keys inherit these facts and are judged on their own ones).
        let support = Effective::default().with(&defs[0].supported);
        let mut removed_for_target = false;
        for (rule, message) in target::judge(
            targets,
            &Effective::default(),
            &support,
            defs[0].replacement.as_ref(),
        ) {
            removed_for_target |= rule.code == rules::REMOVED_FOR_TARGET.code;
            sink.at(rule, p, "", format!("this payload type {message}"));
        }
        if let Some(when) = &gone
            && !removed_for_target
        {
            sink.at(
                rules::REMOVED_KEY,
                p,
                "",
                format!(
                    "Apple's schema says this payload type was removed in {when}: devices from then on ignore it"
                ),
            );
        }
        let mut checker = Checker {
            schema,
            ue,
            payload: Some(p),
            def: &defs[0],
            removed: gone.is_some(),
            targets,
            support,
            sink,
        };
        checker.dict(p.dict, &lists, &p.path(""), &|_| false, single);
        if ty == MANAGED_PREFERENCES {
            custom_domains(p, sink);
        }
    }
}

/// `as of iOS/macOS 26.4`, or `in DIR` for `--schema DIR`.
fn as_of(schema: &Schema, def: &PayloadDef) -> String {
    match (&schema.origin, &def.release) {
        (Origin::Dir(dir), _) => format!("in {}", dir.display()),
        (Origin::BuiltIn, Some(r)) => format!("as of {r}"),
        (Origin::BuiltIn, None) => "built into aspen".into(),
    }
}

/// A payload type the schema does not describe: a misspelled Apple type
/// (a warning), or custom preferences / a newer type (a note).
fn unknown_payload(schema: &Schema, p: &Payload<'_>, ty: &str, sink: &mut Sink) {
    // The payload types are those of the release most files are from.
    let as_of = match (&schema.origin, schema.main_release()) {
        (Origin::BuiltIn, Some(r)) => format!("as of {r}"),
        _ => as_of(schema, schema.top_level_def()),
    };
    let types = schema.payload_types();
    if let Some(near) = spelling::near(ty, types.iter().copied()) {
        sink.at(
            rules::UNKNOWN_PAYLOAD,
            p,
            "",
            format!(
                "{ty} is not a payload type in Apple's schema ({as_of}); did you mean {near}? Its keys were not checked"
            ),
        );
    } else {
        sink.at(
            rules::CUSTOM_PREFERENCES,
            p,
            "",
            format!(
                "{ty} is not a payload type in Apple's schema ({as_of}): custom preferences (or a newer type), not checked"
            ),
        );
    }
}

/// Notes each preference domain of a managed-preferences payload as not
/// checked (its settings are the app's own).
fn custom_domains(p: &Payload<'_>, sink: &mut Sink) {
    let Some(domains) = p.dict.get("PayloadContent").and_then(Value::as_dictionary) else {
        return;
    };
    for domain in domains.keys() {
        sink.nested(
            rules::CUSTOM_PREFERENCES,
            Some(p),
            p.path(&format!("PayloadContent.{domain}")),
            format!("custom preferences for {domain}: the app's own settings, not checked"),
        );
    }
}

struct Checker<'a, 's> {
    schema: &'a Schema,
    ue: bool,
    payload: Option<&'a Payload<'a>>,
    /// The payload's definition (TopLevel for the profile's keys), for the
    /// release its facts are from.
    def: &'a PayloadDef,
    /// The payload type as a whole is removed (noted once, not per key).
    removed: bool,
    /// `--platform`/`--min-os`, and Apple's `supportedOS` in effect where
    /// the checker is (the payload's, updated by each enclosing key's).
    targets: &'a [Target],
    support: Effective<'a>,
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
    fn keys<'l>(&self, lists: &'l [usize]) -> impl Iterator<Item = &'a Key> + use<'a, 'l> {
        let schema: &'a Schema = self.schema;
        lists.iter().flat_map(move |&l| schema.lists[l].iter())
    }

    /// The definition of `name` among `lists` (or their `ANY`). When
    /// several files define it (com.apple.MCX, com.apple.extensiblesso and
    /// its Kerberos variant), the one `value` fits is taken: a value any of
    /// Apple's definitions allows is not an error.
    fn find(&self, lists: &[usize], name: &str, value: &Value) -> Option<&'a Key> {
        let mut named = self.keys(lists).filter(|k| k.name == name);
        let Some(first) = named.next() else {
            return self.keys(lists).find(|k| k.name == "ANY");
        };
        Some(
            std::iter::once(first)
                .chain(named)
                .find(|k| fits(value, k))
                .unwrap_or(first),
        )
    }

    fn report(&mut self, rule: super::Rule, path: String, message: String) {
        self.sink.nested(rule, self.payload, path, message);
    }

    /// Keys aspen's own frame rules know though this schema may not
    /// (`IsEncrypted`, which Apple's encryption scheme sets and newer
    /// TopLevel files omit; the keys of the payload types aspen writes).
    fn known_to_aspen(&self, top: bool, key: &str) -> bool {
        if TOLERATED_KEYS.contains(&key) {
            return true;
        }
        if top {
            return crate::profile::TOP_LEVEL_KEYS.iter().any(|k| k.name == key);
        }
        let ty = self.payload.and_then(|p| p.payload_type()).unwrap_or("");
        crate::payload::COMMON_KEYS
            .iter()
            .chain(crate::payload::keys_of(ty).unwrap_or_default())
            .any(|k| k.name == key)
    }

    fn unknown(&mut self, lists: &[usize], path: &str, key: &str) {
        let here = join(path, key);
        // Only the payload's (or profile's) own level has frame keys.
        let own_level = match self.payload {
            Some(p) => path == p.path(""),
            None => path.is_empty(),
        };
        if own_level && self.known_to_aspen(self.payload.is_none(), key) {
            return;
        }
        let as_of = as_of(self.schema, self.def);
        let what = match self.payload.and_then(|p| p.payload_type()) {
            Some(ty) => format!("a key of {ty}"),
            None => "a top-level key".into(),
        };
        let known: Vec<&str> = self.keys(lists).map(|k| k.name.as_str()).collect();
        match spelling::near(key, known) {
            Some(near) => self.report(
                rules::UNKNOWN_KEY,
                here,
                format!(
                    "is not {what} in Apple's schema ({as_of}); did you mean {near:?}? The device ignores an unknown key"
                ),
            ),
            None => self.report(
                rules::NEWER_KEY,
                here,
                format!("is not in Apple's schema {as_of} (newer, or not Apple's): not checked"),
            ),
        }
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
            match self.find(lists, key, value) {
                None => self.unknown(lists, path, key),
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
            let missing: Vec<String> = self
                .keys(lists)
                .filter(|k| k.required && k.name != "ANY")
                .filter(|k| !dict.contains_key(&k.name) && !exempt(&k.name))
                .map(|k| k.name.clone())
                .collect();
            for name in missing {
                match self.accepted_missing(path, &name) {
                    Some(why) => self.report(
                        rules::ACCEPTED_MISSING,
                        join(path, &name),
                        format!(
                            "is missing; Apple's schema marks it required, but {why}: not an error"
                        ),
                    ),
                    None => {
                        self.report(rules::MISSING_KEY, join(path, &name), "is required".into())
                    }
                }
            }
        }
    }

    /// Why a missing required `key` of the dictionary at `path` is one of
    /// [`ACCEPTED_MISSING`], if it is.
    fn accepted_missing(&self, path: &str, key: &str) -> Option<&'static str> {
        let p = self.payload?;
        let ty = p.payload_type()?;
        let holder = if path == p.path("") {
            ""
        } else {
            let last = path.rsplit('.').next().unwrap_or(path);
            last.split('[').next().unwrap_or(last)
        };
        ACCEPTED_MISSING
            .iter()
            .find(|(t, h, k, _)| *t == ty && *h == holder && *k == key)
            .map(|(_, _, _, why)| *why)
    }

    fn value(&mut self, value: &Value, spec: &'a Key, path: String) {
        if self.ue && user_enrollment::key(self.payload, spec, &path, self.sink) {
            return;
        }
        let outer = self.support;
        self.support = outer.with(&spec.supported);
        let mut removed_for_target = false;
        for (rule, message) in target::judge(
            self.targets,
            &outer,
            &self.support,
            spec.replacement.as_ref(),
        ) {
            removed_for_target |= rule.code == rules::REMOVED_FOR_TARGET.code;
            self.report(rule, path.clone(), message);
        }
        if !self.removed
            && !removed_for_target
            && let Some(when) = removed(self.def, spec)
        {
            self.report(
                rules::REMOVED_KEY,
                path.clone(),
                format!(
                    "Apple's schema says it was removed in {when}: devices from then on ignore it"
                ),
            );
        }
        self.checked_value(value, spec, path);
        self.support = outer;
    }

    /// [`Checker::value`] past the User Enrollment and platform rules: type,
    /// rangelist, range, format and what is inside.
    fn checked_value(&mut self, value: &Value, spec: &'a Key, path: String) {
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
                crate::payload::MASK.to_owned()
            } else {
                scalar_text(v).unwrap_or_default()
            }
        };
        if !spec.rangelist.is_empty()
            && let Some(text) = scalar_text(value)
            && !in_rangelist(value, &text, spec)
            && !in_range(value, spec)
        {
            self.report(
                rules::NOT_ALLOWED,
                path.clone(),
                format!(
                    "is {}; Apple allows {}",
                    if secret { crate::payload::MASK } else { &text },
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
                        crate::payload::MASK.to_owned()
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

/// When every OS that supports a key (the payload's, as the key's own
/// `supportedOS` overrides them) has it `removed`: `macOS 15.0`.
fn removed(def: &PayloadDef, key: &Key) -> Option<String> {
    removed_in(def, &key.supported)
}

/// [`removed`] for a key whose own `supportedOS` is `own` (none: the
/// payload type as a whole).
fn removed_in(def: &PayloadDef, own: &[super::schema::Support]) -> Option<String> {
    use super::schema::Os;
    let mut when = Vec::new();
    for os in Os::ALL {
        let own = own.iter().find(|s| s.os == os);
        let inherited = def.supported.iter().find(|s| s.os == os);
        let Some(entry) = own.or(inherited) else {
            continue;
        };
        let introduced = own
            .and_then(|s| s.introduced.as_deref())
            .or_else(|| inherited.and_then(|s| s.introduced.as_deref()));
        if introduced == Some("n/a") {
            continue;
        }
        match entry.removed.as_deref() {
            Some(r) => when.push(format!("{} {r}", os.name())),
            None => return None,
        }
    }
    (!when.is_empty()).then(|| when.join(", "))
}

/// Whether a value has the key's type and, when it is a scalar, is in its
/// rangelist, range and format.
fn fits(value: &Value, k: &Key) -> bool {
    if k.ty.is_some_and(|t| !t.accepts(value)) {
        return false;
    }
    if !k.rangelist.is_empty()
        && let Some(text) = scalar_text(value)
        && !in_rangelist(value, &text, k)
        && !in_range(value, k)
    {
        return false;
    }
    if k.rangelist.is_empty()
        && (k.min.is_some() || k.max.is_some())
        && number(value).is_some()
        && !in_range(value, k)
    {
        return false;
    }
    !matches!((&k.format, value.as_string()), (Some(re), Some(s)) if !re.is_match(s))
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

/// Whether a value is one of the rangelist's; numbers compare as numbers
/// (`1` and `1.0` are the same value).
fn in_rangelist(value: &Value, text: &str, spec: &Key) -> bool {
    if spec.rangelist.iter().any(|v| v == text) {
        return true;
    }
    let n = number(value);
    n.is_some_and(|n| {
        spec.rangelist
            .iter()
            .any(|v| v.parse::<f64>().is_ok_and(|v| v == n))
    })
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => i
            .as_signed()
            .map(|i| i as f64)
            .or(i.as_unsigned().map(|u| u as f64)),
        Value::Real(r) => Some(*r),
        _ => None,
    }
}

fn in_range(value: &Value, spec: &Key) -> bool {
    if spec.min.is_none() && spec.max.is_none() {
        return false;
    }
    number(value)
        .is_some_and(|n| spec.min.is_none_or(|m| n >= m) && spec.max.is_none_or(|m| n <= m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::facts;
    use crate::lint::schema::{Os, Support};

    fn os(os: Os, introduced: Option<&str>, removed: Option<&str>) -> Support {
        Support {
            os,
            introduced: introduced.map(str::to_owned),
            deprecated: None,
            removed: removed.map(str::to_owned),
            userenrollment: None,
        }
    }

    /// A key is removed only when every OS that has it removed it; its own
    /// `supportedOS` overrides the payload's, and `n/a` means not there.
    #[test]
    fn removed_on_every_os_that_has_the_key() {
        let def = |supported| PayloadDef {
            file: "x.yaml".into(),
            keys: 0,
            supported,
            release: None,
            replacement: None,
        };
        let key = |supported| {
            let mut k = facts::built_in().lists[0][0].clone();
            k.supported = supported;
            k
        };
        let mac_only = def(vec![
            os(Os::Ios, Some("n/a"), None),
            os(Os::MacOs, Some("12.0"), None),
        ]);
        let gone = key(vec![os(Os::MacOs, None, Some("15.0"))]);
        assert_eq!(removed(&mac_only, &gone).as_deref(), Some("macOS 15.0"));
        let both = def(vec![
            os(Os::Ios, Some("4.0"), None),
            os(Os::MacOs, Some("10.7"), None),
        ]);
        // Removed on iOS, still on macOS (inherited from the payload).
        let ios_gone = key(vec![os(Os::Ios, None, Some("8.0"))]);
        assert_eq!(removed(&both, &ios_gone), None);
        assert_eq!(removed(&both, &key(Vec::new())), None);
        let ios_gone_mac_na = key(vec![
            os(Os::Ios, None, Some("8.0")),
            os(Os::MacOs, Some("n/a"), None),
        ]);
        assert_eq!(removed(&both, &ios_gone_mac_na).as_deref(), Some("iOS 8.0"));
    }
}
