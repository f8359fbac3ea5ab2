//! The devices a profile is for: `aspen lint --platform iOS --min-os
//! iOS=17.0,macOS=14.0`. With targets, lint reads Apple's `supportedOS` of
//! every payload type and key it meets (introduced, deprecated, removed, per
//! OS) against them:
//!
//! - not on a target platform (Apple: `introduced: n/a`): a warning;
//! - removed at or before a target's minimum version: an error;
//! - deprecated at or before it: a warning, naming what Apple's description
//!   says to use instead, when it says so;
//! - introduced after it: a warning.
//!
//! Apple's `docs/schema.md`: "Each payload key is assumed to 'inherit' the
//! `supportedOS` values from the `payload` object, but that is then updated
//! with any items in the key's own `supportedOS` object" — so a key's facts
//! are its payload's, updated field by field with its own (and a nested key's
//! with its parent key's), and a key is reported only for what it does not
//! inherit: a payload type removed as a whole is one finding, not one per key.
//!
//! A platform named without a minimum version is checked for availability
//! only; an OS Apple's `supportedOS` says nothing about is not judged.

use super::schema::{Os, Replacement, Support};
use super::{Rule, rules};
use std::cmp::Ordering;

/// A platform as `--platform` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Platform {
    Ios,
    IpadOs,
    MacOs,
    TvOs,
    VisionOs,
    WatchOs,
}

impl Platform {
    pub const ALL: [Platform; 6] = [
        Platform::Ios,
        Platform::IpadOs,
        Platform::MacOs,
        Platform::TvOs,
        Platform::VisionOs,
        Platform::WatchOs,
    ];

    /// Apple's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Ios => "iOS",
            Platform::IpadOs => "iPadOS",
            Platform::MacOs => "macOS",
            Platform::TvOs => "tvOS",
            Platform::VisionOs => "visionOS",
            Platform::WatchOs => "watchOS",
        }
    }

    /// The `supportedOS` entry that describes this platform. Apple's schema
    /// has no iPadOS column: its iOS entries cover iPadOS (whose versions
    /// have followed iOS's numbers since iPadOS 13), so iPadOS is judged by
    /// them.
    pub fn os(self) -> Os {
        match self {
            Platform::Ios | Platform::IpadOs => Os::Ios,
            Platform::MacOs => Os::MacOs,
            Platform::TvOs => Os::TvOs,
            Platform::VisionOs => Os::VisionOs,
            Platform::WatchOs => Os::WatchOs,
        }
    }

    /// A platform by name, in any case (`macOS`, `macos`).
    pub fn parse(s: &str) -> Result<Platform, String> {
        Platform::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<&str> = Platform::ALL.iter().map(|p| p.name()).collect();
                format!("{s:?} is not a platform; use one of {}", names.join(", "))
            })
    }
}

/// An OS version: `17`, `17.0`, `10.13.4` (numbers compare as numbers, a
/// missing part as 0).
#[derive(Debug, Clone)]
pub struct Version {
    parts: Vec<u32>,
}

impl Version {
    /// At most four parts of at most six digits: no real version is longer,
    /// and nothing longer reaches the comparisons.
    pub fn parse(s: &str) -> Option<Version> {
        let parts = s
            .split('.')
            .map(|p| {
                (!p.is_empty() && p.len() <= 6 && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse::<u32>().ok())
                    .flatten()
            })
            .collect::<Option<Vec<u32>>>()?;
        (!parts.is_empty() && parts.len() <= 4).then_some(Version { parts })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: Vec<String> = self.parts.iter().map(u32::to_string).collect();
        f.write_str(&text.join("."))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        let at = |v: &Version, i: usize| v.parts.get(i).copied().unwrap_or(0);
        (0..n)
            .map(|i| at(self, i).cmp(&at(other, i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Version {}

/// One `--min-os` item: `iOS=17.0`.
pub fn parse_min_os(s: &str) -> Result<(Platform, Version), String> {
    let (platform, version) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not OS=VERSION (e.g. iOS=17.0)"))?;
    let platform = Platform::parse(platform)?;
    let version = Version::parse(version.trim()).ok_or_else(|| {
        format!(
            "{:?} is not a version for {} (numbers and dots, e.g. 17.0)",
            version,
            platform.name()
        )
    })?;
    Ok((platform, version))
}

/// A platform the profile is for, and the oldest version it must work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub platform: Platform,
    pub min: Option<Version>,
}

/// The targets `--platform` and `--min-os` name: each platform once; a
/// `--min-os` platform not named with `--platform` is a target too. Two
/// different minimums for one platform are an error.
pub fn targets(
    platforms: &[Platform],
    min_os: &[(Platform, Version)],
) -> Result<Vec<Target>, String> {
    let mut out: Vec<Target> = Vec::new();
    for &platform in platforms {
        if !out.iter().any(|t| t.platform == platform) {
            out.push(Target {
                platform,
                min: None,
            });
        }
    }
    for (platform, version) in min_os {
        match out.iter_mut().find(|t| t.platform == *platform) {
            Some(Target { min: Some(v), .. }) if v != version => {
                return Err(format!(
                    "--min-os names {} twice ({} and {version})",
                    platform.name(),
                    v
                ));
            }
            Some(t) => t.min = Some(version.clone()),
            None => out.push(Target {
                platform: *platform,
                min: Some(version.clone()),
            }),
        }
    }
    out.sort_by_key(|t| t.platform);
    Ok(out)
}

/// One OS entry of `supportedOS` in effect: Apple's text of each field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Entry<'a> {
    pub introduced: Option<&'a str>,
    pub deprecated: Option<&'a str>,
    pub removed: Option<&'a str>,
}

/// The `supportedOS` in effect for a payload type or key, per OS (`None`:
/// Apple says nothing about that OS).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effective<'a>([Option<Entry<'a>>; 5]);

fn index(os: Os) -> usize {
    Os::ALL.iter().position(|&o| o == os).unwrap_or(0)
}

impl<'a> Effective<'a> {
    /// These facts updated with `own` (a payload's or key's own
    /// `supportedOS`), field by field.
    pub fn with(&self, own: &'a [Support]) -> Effective<'a> {
        let mut out = *self;
        for s in own {
            let e = out.0[index(s.os)].get_or_insert_default();
            if let Some(v) = &s.introduced {
                e.introduced = Some(v);
            }
            if let Some(v) = &s.deprecated {
                e.deprecated = Some(v);
            }
            if let Some(v) = &s.removed {
                e.removed = Some(v);
            }
        }
        out
    }

    pub fn get(&self, os: Os) -> Option<Entry<'a>> {
        self.0[index(os)]
    }
}

/// `iOS 17.0`, or `iPadOS 17.0` for iPadOS (judged by Apple's iOS entry).
fn at(platform: Platform, version: &str) -> String {
    format!("{} {version}", platform.name())
}

/// The findings for something whose facts are `here`, inside something whose
/// facts are `parent` (what it inherits is not its own finding): (rule,
/// message), the message to follow the key's path ("was removed in …").
pub fn judge(
    targets: &[Target],
    parent: &Effective<'_>,
    here: &Effective<'_>,
    replacement: Option<&Replacement>,
) -> Vec<(Rule, String)> {
    let (mut absent, mut removed, mut deprecated, mut later) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for t in targets {
        let os = t.platform.os();
        let Some(e) = here.get(os) else { continue };
        let p = parent.get(os);
        // Facts it does not inherit from `parent`.
        let own_introduced = p.is_none_or(|p| p.introduced != e.introduced);
        let own_deprecated = p.is_none_or(|p| p.deprecated != e.deprecated);
        let own_removed = p.is_none_or(|p| p.removed != e.removed);
        if e.introduced == Some("n/a") {
            if own_introduced {
                absent.push(t.platform.name());
            }
            continue;
        }
        let Some(min) = &t.min else { continue };
        let version = |v: Option<&str>| v.and_then(Version::parse);
        let target = format!("--min-os {}={min}", t.platform.name());
        if let Some(r) = version(e.removed)
            && r <= *min
        {
            if own_removed {
                removed.push(format!(
                    "{} ({target})",
                    at(t.platform, e.removed.unwrap_or(""))
                ));
            }
            continue;
        }
        if let Some(d) = version(e.deprecated)
            && d <= *min
            && own_deprecated
        {
            deprecated.push(format!(
                "{} ({target})",
                at(t.platform, e.deprecated.unwrap_or(""))
            ));
        }
        if let Some(i) = version(e.introduced)
            && i > *min
            && own_introduced
        {
            later.push(format!(
                "{} ({target})",
                at(t.platform, e.introduced.unwrap_or(""))
            ));
        }
    }
    let instead = replacement
        .map(|r| format!("; Apple says to use {r} instead"))
        .unwrap_or_default();
    let mut out = Vec::new();
    if !absent.is_empty() {
        out.push((
            rules::NOT_ON_PLATFORM,
            format!(
                "is not available on {} (Apple's schema: introduced n/a)",
                absent.join(", ")
            ),
        ));
    }
    if !removed.is_empty() {
        out.push((
            rules::REMOVED_FOR_TARGET,
            format!(
                "was removed in {}: those devices no longer support it{instead}",
                removed.join(", ")
            ),
        ));
    }
    if !deprecated.is_empty() {
        out.push((
            rules::DEPRECATED_FOR_TARGET,
            format!("is deprecated since {}{instead}", deprecated.join(", ")),
        ));
    }
    if !later.is_empty() {
        out.push((
            rules::INTRODUCED_AFTER_TARGET,
            format!(
                "came in {}: older devices do not support it",
                later.join(", ")
            ),
        ));
    }
    out
}

/// Whether every target has a minimum version at or after the one where
/// `supported` (a payload type's `supportedOS`) introduced it.
pub fn all_support(targets: &[Target], supported: &[Support]) -> bool {
    let facts = Effective::default().with(supported);
    !targets.is_empty()
        && targets.iter().all(|t| {
            let introduced = facts
                .get(t.platform.os())
                .and_then(|e| e.introduced)
                .and_then(Version::parse);
            matches!((&t.min, introduced), (Some(min), Some(i)) if i <= *min)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(v("10.13.4") > v("10.13"));
        assert!(v("10.10") > v("10.9"));
        assert_eq!(v("17"), v("17.0.0"));
        assert!(v("27.0") > v("26.4"));
        for bad in [
            "",
            "seventeen",
            "17.",
            ".1",
            "1.2.3.4.5",
            "17.0b",
            "1234567",
            "n/a",
            "-1",
        ] {
            assert!(Version::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(v("17.0").to_string(), "17.0");
    }

    #[test]
    fn flags_parse_and_combine() {
        assert_eq!(Platform::parse("ipados"), Ok(Platform::IpadOs));
        assert_eq!(Platform::IpadOs.os(), Os::Ios);
        let err = Platform::parse("Android").unwrap_err();
        assert!(
            err.contains("\"Android\" is not a platform") && err.contains("visionOS"),
            "{err}"
        );
        assert!(
            parse_min_os("iOS=seventeen")
                .unwrap_err()
                .contains("\"seventeen\" is not a version for iOS")
        );
        assert!(
            parse_min_os("iOS")
                .unwrap_err()
                .contains("is not OS=VERSION")
        );
        let (p, ver) = parse_min_os("macOS=14.0").unwrap();
        assert_eq!((p, ver.to_string()), (Platform::MacOs, "14.0".to_owned()));
        let t = targets(
            &[Platform::TvOs, Platform::Ios, Platform::TvOs],
            &[(Platform::Ios, v("17.0")), (Platform::MacOs, v("14.0"))],
        )
        .unwrap();
        assert_eq!(
            t,
            [
                Target {
                    platform: Platform::Ios,
                    min: Some(v("17.0"))
                },
                Target {
                    platform: Platform::MacOs,
                    min: Some(v("14.0"))
                },
                Target {
                    platform: Platform::TvOs,
                    min: None
                },
            ]
        );
        let err = targets(
            &[],
            &[(Platform::Ios, v("17.0")), (Platform::Ios, v("16.0"))],
        )
        .unwrap_err();
        assert!(err.contains("names iOS twice"), "{err}");
    }

    fn support(os: Os, i: Option<&str>, d: Option<&str>, r: Option<&str>) -> Support {
        Support {
            os,
            introduced: i.map(Into::into),
            deprecated: d.map(Into::into),
            removed: r.map(Into::into),
            userenrollment: None,
        }
    }

    /// A key inherits its payload's facts field by field; only what it does
    /// not inherit is its own finding.
    #[test]
    fn keys_are_judged_on_what_they_do_not_inherit() {
        let payload = [
            support(Os::Ios, Some("n/a"), None, None),
            support(Os::MacOs, Some("10.7"), Some("26.0"), Some("27.0")),
        ];
        let key = [support(Os::MacOs, Some("14.0"), None, None)];
        let base = Effective::default();
        let p = base.with(&payload);
        let k = p.with(&key);
        assert_eq!(
            k.get(Os::MacOs),
            Some(Entry {
                introduced: Some("14.0"),
                deprecated: Some("26.0"),
                removed: Some("27.0")
            })
        );
        let targets = |min: &str| {
            vec![
                Target {
                    platform: Platform::MacOs,
                    min: Some(v(min)),
                },
                Target {
                    platform: Platform::Ios,
                    min: None,
                },
            ]
        };
        let codes =
            |found: Vec<(Rule, String)>| found.iter().map(|(r, _)| r.code).collect::<Vec<_>>();
        // The payload: not on iOS; removed by macOS 27.0; deprecated by 26.0.
        assert_eq!(
            codes(judge(&targets("27.0"), &base, &p, None)),
            ["ASP070", "ASP071"]
        );
        assert_eq!(
            codes(judge(&targets("26.0"), &base, &p, None)),
            ["ASP070", "ASP072"]
        );
        assert_eq!(codes(judge(&targets("15.0"), &base, &p, None)), ["ASP070"]);
        // The key: only its own later introduction.
        assert_eq!(
            codes(judge(&targets("27.0"), &p, &k, None)),
            Vec::<&str>::new()
        );
        assert_eq!(codes(judge(&targets("13.0"), &p, &k, None)), ["ASP073"]);
        let (_, msg) = &judge(&targets("13.0"), &p, &k, None)[0];
        assert_eq!(
            msg,
            "came in macOS 14.0 (--min-os macOS=13.0): older devices do not support it"
        );
        // Without a version, only availability.
        let plain = [Target {
            platform: Platform::MacOs,
            min: None,
        }];
        assert!(judge(&plain, &base, &p, None).is_empty());
        // An OS Apple says nothing about is not judged.
        let tv = [Target {
            platform: Platform::TvOs,
            min: Some(v("1.0")),
        }];
        assert!(judge(&tv, &base, &p, None).is_empty());
    }

    #[test]
    fn every_target_must_have_a_version_that_supports_it() {
        let acme = [
            support(Os::Ios, Some("16.0"), None, None),
            support(Os::MacOs, Some("13.1"), None, None),
        ];
        let t = |p: Platform, min: Option<&str>| Target {
            platform: p,
            min: min.map(v),
        };
        assert!(all_support(
            &[
                t(Platform::Ios, Some("16.0")),
                t(Platform::MacOs, Some("14.0"))
            ],
            &acme
        ));
        assert!(all_support(&[t(Platform::IpadOs, Some("17.0"))], &acme));
        assert!(!all_support(&[t(Platform::MacOs, Some("13.0"))], &acme));
        assert!(!all_support(&[t(Platform::Ios, None)], &acme));
        assert!(!all_support(&[t(Platform::TvOs, Some("18.0"))], &acme));
        assert!(!all_support(&[], &acme));
    }
}
