//! Enrollment restrictions, as admins know them from Intune (device
//! platform restrictions and device limit restrictions): which platforms
//! may enroll, between which OS versions, whether personally owned devices
//! may, and how many devices one user may enroll. Assigned like policies
//! (see [`super::assignment`]): the highest-priority restriction assigned
//! to one of the user's groups applies; a restriction written without
//! `groups` applies to everyone, and to devices no user signed in on
//! (Intune's default restriction).

use super::assignment::{Assigned, by_priority, in_groups};
use super::device::{Device, Os, OsVersion, Platform};
use std::fmt;

/// `personal`: may personally owned devices enroll?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Personal {
    #[default]
    Allow,
    Block,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub name: String,
    /// 1 is the highest; unique across restrictions (checked at load).
    pub priority: u32,
    /// `None`: everyone, and devices without a user.
    pub groups: Option<Vec<String>>,
    /// The platforms that may enroll; `None`: all.
    pub platforms: Option<Vec<Platform>>,
    pub personal: Personal,
    pub minimum_os: Vec<(Platform, OsVersion)>,
    pub maximum_os: Vec<(Platform, OsVersion)>,
    /// Devices one user may enroll; `None`: no limit.
    pub device_limit: Option<u32>,
}

impl Assigned for Restriction {
    fn priority(&self) -> u32 {
        self.priority
    }

    fn assigned_to(&self, groups: Option<&[String]>) -> bool {
        match (&self.groups, groups) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => in_groups(mine, theirs),
            (Some(_), None) => false,
        }
    }
}

/// The rule that refused, by its settings key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Platforms,
    MinimumOs,
    MaximumOs,
    Personal,
    DeviceLimit,
}

impl Rule {
    pub fn key(self) -> &'static str {
        match self {
            Rule::Platforms => "platforms",
            Rule::MinimumOs => "minimum_os",
            Rule::MaximumOs => "maximum_os",
            Rule::Personal => "personal",
            Rule::DeviceLimit => "device_limit",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// What a restriction refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// The platform is not among `platforms` (`None`: the device did not
    /// say what it is).
    Platform(Option<Platform>),
    BelowMinimum {
        platform: Platform,
        minimum: OsVersion,
        runs: String,
    },
    AboveMaximum {
        platform: Platform,
        maximum: OsVersion,
        runs: String,
    },
    /// A personally owned device, under `personal = "block"`.
    Personal,
    /// The user has enrolled `enrolled` devices of `limit`.
    DeviceLimit { limit: u32, enrolled: u64 },
}

impl Broken {
    pub fn rule(&self) -> Rule {
        match self {
            Broken::Platform(_) => Rule::Platforms,
            Broken::BelowMinimum { .. } => Rule::MinimumOs,
            Broken::AboveMaximum { .. } => Rule::MaximumOs,
            Broken::Personal => Rule::Personal,
            Broken::DeviceLimit { .. } => Rule::DeviceLimit,
        }
    }

    /// For the admin (the audit row's reason, the log, `aspen resolve`):
    /// the restriction, the rule and what the device is.
    pub fn describe(&self, restriction: &Restriction) -> String {
        let what = match self {
            Broken::Platform(Some(p)) => format!(
                "{} may not enroll (platforms: {})",
                p.os_name(),
                restriction.platform_names()
            ),
            Broken::Platform(None) => format!(
                "the device did not say its platform (platforms: {})",
                restriction.platform_names()
            ),
            Broken::BelowMinimum {
                platform,
                minimum,
                runs,
            } => format!(
                "{} {runs} is below the minimum {} {minimum}",
                platform.os_name(),
                platform.os_name()
            ),
            Broken::AboveMaximum {
                platform,
                maximum,
                runs,
            } => format!(
                "{} {runs} is above the maximum {} {maximum}",
                platform.os_name(),
                platform.os_name()
            ),
            Broken::Personal => "personally owned devices may not enroll".to_owned(),
            Broken::DeviceLimit { limit, enrolled } => format!(
                "the user has enrolled {enrolled} device{} of {limit}",
                if *enrolled == 1 { "" } else { "s" }
            ),
        };
        format!(
            "restriction {:?}, {}: {what}",
            restriction.name,
            self.rule()
        )
    }

    /// For the person enrolling: what stands in the way, naming the
    /// restriction.
    pub fn message(&self, restriction: &Restriction, org: &str) -> String {
        let name = &restriction.name;
        match self {
            Broken::Platform(Some(p)) => format!(
                "{org} does not allow {} devices to enroll for your account ({name}). Allowed: {}.",
                p.os_name(),
                restriction.platform_names()
            ),
            Broken::Platform(None) => format!(
                "{org} allows only some devices to enroll for your account ({name}), and this one did not say what it is. Allowed: {}.",
                restriction.platform_names()
            ),
            Broken::BelowMinimum {
                platform, minimum, ..
            } => format!(
                "Enrolling with {org} needs {} {minimum} or later ({name}). Update this device in Software Update, then enroll again.",
                platform.os_name()
            ),
            Broken::AboveMaximum {
                platform,
                maximum,
                runs,
            } => format!(
                "{org} allows {} up to {maximum} for your account ({name}); this device runs {runs}. Contact your IT department.",
                platform.os_name()
            ),
            Broken::Personal => format!(
                "{org} does not allow personally owned devices to enroll for your account ({name}). Enroll a device {org} owns, or contact your IT department."
            ),
            Broken::DeviceLimit { limit, .. } => format!(
                "Your account has enrolled as many devices as {org} allows ({limit}, {name}). Contact your IT department to remove one."
            ),
        }
    }
}

impl Restriction {
    /// The minimum `platform` must run, if the restriction names one.
    pub fn minimum(&self, platform: Platform) -> Option<OsVersion> {
        find(&self.minimum_os, platform)
    }

    pub fn maximum(&self, platform: Platform) -> Option<OsVersion> {
        find(&self.maximum_os, platform)
    }

    /// "iOS, macOS", or "all".
    pub fn platform_names(&self) -> String {
        match &self.platforms {
            None => "all".into(),
            Some(p) => p.iter().map(|p| p.os_name()).collect::<Vec<_>>().join(", "),
        }
    }

    /// The platform and OS rules for what `device` says. A version that
    /// cannot be told passes (the device itself is the judge of what it
    /// runs); a device that does not say its platform passes only when
    /// `platform_known` is false (a hint, such as discovery's
    /// `model-family`, may be missing), and is refused where the platform
    /// must be known (the enroll POST's `MachineInfo`).
    pub fn check_device(&self, device: &Device, platform_known: bool) -> Result<(), Broken> {
        let Some(platform) = device.platform else {
            return match &self.platforms {
                Some(_) if platform_known => Err(Broken::Platform(None)),
                _ => Ok(()),
            };
        };
        if let Some(allowed) = &self.platforms
            && !allowed.contains(&platform)
        {
            return Err(Broken::Platform(Some(platform)));
        }
        if let Some(minimum) = self.minimum(platform)
            && device.at_least(minimum) == Some(false)
        {
            return Err(Broken::BelowMinimum {
                platform,
                minimum,
                runs: device.describe_os(),
            });
        }
        if let Some(maximum) = self.maximum(platform)
            && above(device.os, maximum)
        {
            return Err(Broken::AboveMaximum {
                platform,
                maximum,
                runs: device.describe_os(),
            });
        }
        Ok(())
    }

    /// `personal = "block"` for a personally owned enrollment.
    pub fn check_personal(&self, personal: bool) -> Result<(), Broken> {
        if personal && self.personal == Personal::Block {
            return Err(Broken::Personal);
        }
        Ok(())
    }

    /// `device_limit`, for a user who has enrolled `enrolled` devices: one
    /// more must fit.
    pub fn check_count(&self, enrolled: u64) -> Result<(), Broken> {
        match self.device_limit {
            Some(limit) if enrolled >= u64::from(limit) => {
                Err(Broken::DeviceLimit { limit, enrolled })
            }
            _ => Ok(()),
        }
    }
}

/// Whether a device running `os` runs a later version than `maximum`:
/// `17.4.1` is above `17.4`, `17.4` and `17.4.0` are not. What cannot be
/// told is not above.
fn above(os: Os, maximum: OsVersion) -> bool {
    match os {
        Os::Known(v) => v > maximum,
        Os::Before(_) | Os::Unknown => false,
    }
}

fn find(table: &[(Platform, OsVersion)], platform: Platform) -> Option<OsVersion> {
    table.iter().find(|(p, _)| *p == platform).map(|(_, v)| *v)
}

/// The restrictions assigned to `groups` (`None`: a device no user signed
/// in on), highest priority first: the first applies.
pub fn matching<'r>(
    restrictions: &'r [Restriction],
    groups: Option<&[String]>,
) -> Vec<&'r Restriction> {
    by_priority(restrictions, groups)
}

/// The restriction that applies to `groups`, if any.
pub fn applying<'r>(
    restrictions: &'r [Restriction],
    groups: Option<&[String]>,
) -> Option<&'r Restriction> {
    matching(restrictions, groups).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restriction(name: &str, priority: u32, groups: Option<&[&str]>) -> Restriction {
        Restriction {
            name: name.into(),
            priority,
            groups: groups.map(|g| g.iter().map(|s| s.to_string()).collect()),
            platforms: None,
            personal: Personal::Allow,
            minimum_os: Vec::new(),
            maximum_os: Vec::new(),
            device_limit: None,
        }
    }

    fn groups(g: &[&str]) -> Vec<String> {
        g.iter().map(|s| s.to_string()).collect()
    }

    fn ios(version: &str) -> Device {
        Device::from_parts(Some("iPhone15,2"), Some(version), Some("21F90"))
    }

    #[test]
    fn resolution_is_by_group_and_priority_like_policies() {
        let all = [
            restriction("default", 9, None),
            restriction("contractors", 1, Some(&["Contractors"])),
            restriction("staff", 5, Some(&["Staff"])),
        ];
        let pick = |g: &[&str]| applying(&all, Some(&groups(g))).map(|r| r.name.as_str());
        assert_eq!(pick(&["staff"]), Some("staff"));
        assert_eq!(pick(&["Staff", "CONTRACTORS"]), Some("contractors"));
        assert_eq!(pick(&["Sales"]), Some("default"));
        assert_eq!(pick(&[]), Some("default"));
        // A device nobody signed in on: only the restriction for everyone.
        assert_eq!(
            applying(&all, None).map(|r| r.name.as_str()),
            Some("default")
        );
        assert_eq!(matching(&all, Some(&groups(&["Staff"]))).len(), 2);
        // Without one for everyone, a user in no assigned group is free.
        assert_eq!(applying(&all[1..], Some(&groups(&["Sales"]))), None);
        assert_eq!(applying(&all[1..], None), None);
    }

    #[test]
    fn platforms_and_versions() {
        let mut r = restriction("r", 1, None);
        r.platforms = Some(vec![Platform::Ios, Platform::MacOs]);
        r.minimum_os = vec![(Platform::Ios, OsVersion::new(18, 0))];
        r.maximum_os = vec![(Platform::Ios, OsVersion::new(18, 4))];
        assert_eq!(r.check_device(&ios("18.4"), true), Ok(()));
        assert_eq!(r.check_device(&ios("18.0"), true), Ok(()));
        assert!(matches!(
            r.check_device(&ios("17.5.1"), true),
            Err(Broken::BelowMinimum { minimum, .. }) if minimum == OsVersion::new(18, 0)
        ));
        let err = r.check_device(&ios("18.4.1"), true).unwrap_err();
        assert_eq!(err.rule(), Rule::MaximumOs);
        assert_eq!(
            err.describe(&r),
            "restriction \"r\", maximum_os: iOS 18.4.1 is above the maximum iOS 18.4"
        );
        let ipad = Device::from_parts(Some("iPad13,4"), Some("18.1"), None);
        assert_eq!(
            r.check_device(&ipad, true),
            Err(Broken::Platform(Some(Platform::IpadOs)))
        );
        // No version rule for macOS: any version.
        let mac = Device::from_parts(Some("Mac14,2"), Some("12.0"), None);
        assert_eq!(r.check_device(&mac, true), Ok(()));
        // Said nothing: refused only where the platform must be said.
        assert_eq!(r.check_device(&Device::UNKNOWN, false), Ok(()));
        assert_eq!(
            r.check_device(&Device::UNKNOWN, true),
            Err(Broken::Platform(None))
        );
        // Older than iOS 17 (no OS_VERSION): below 18 for sure, not above.
        let old = Device::from_parts(Some("iPhone12,1"), None, None);
        assert_eq!(
            r.check_device(&old, true).unwrap_err().rule(),
            Rule::MinimumOs
        );
        // An iPhone reporting only its platform passes the version rules.
        assert_eq!(
            r.check_device(&Device::from_model_family("iPhone"), true),
            Ok(())
        );
    }

    #[test]
    fn personal_and_the_device_limit() {
        let mut r = restriction("r", 1, None);
        assert_eq!(r.check_personal(true), Ok(()));
        assert_eq!(r.check_count(1000), Ok(()));
        r.personal = Personal::Block;
        r.device_limit = Some(1);
        assert_eq!(r.check_personal(false), Ok(()));
        assert_eq!(r.check_personal(true), Err(Broken::Personal));
        assert_eq!(r.check_count(0), Ok(()));
        let err = r.check_count(1).unwrap_err();
        assert_eq!(
            err.describe(&r),
            "restriction \"r\", device_limit: the user has enrolled 1 device of 1"
        );
        assert!(err.message(&r, "Contoso").contains("(1, r)"));
    }
}
