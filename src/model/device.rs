//! What a device says about itself during account-driven enrollment: its
//! platform and OS version, from the `MachineInfo` it posts (Apple:
//! other/machineinfo.yaml, keys `PRODUCT`, `OS_VERSION`, `VERSION`) or the
//! `model-family` of its well-known request. Only ever used to choose what
//! the device can install, never to decide who the user is: a device (or
//! anyone posting) can claim anything here, and the worst a false claim gets
//! is a profile for another OS version of the same user.

use std::fmt;

/// An Apple OS family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Ios,
    IpadOs,
    MacOs,
    TvOs,
    VisionOs,
    WatchOs,
}

impl Platform {
    /// The OS's name, for messages: "iOS 17", "iPadOS 17", "macOS 14".
    pub fn os_name(self) -> &'static str {
        match self {
            Platform::Ios => "iOS",
            Platform::IpadOs => "iPadOS",
            Platform::MacOs => "macOS",
            Platform::TvOs => "tvOS",
            Platform::VisionOs => "visionOS",
            Platform::WatchOs => "watchOS",
        }
    }

    /// By the OS's name as Apple writes it ("iOS", "macOS"), any case.
    pub fn from_os_name(name: &str) -> Option<Platform> {
        [
            Platform::Ios,
            Platform::IpadOs,
            Platform::MacOs,
            Platform::TvOs,
            Platform::VisionOs,
            Platform::WatchOs,
        ]
        .into_iter()
        .find(|p| p.os_name().eq_ignore_ascii_case(name.trim()))
    }

    /// From a `MachineInfo` `PRODUCT` ("iPhone15,2", "iPad13,4", "Mac14,2",
    /// "MacBookPro18,3", "iMac21,1", "AppleTV14,1", "RealityDevice14,1",
    /// "Watch6,1").
    pub fn from_product(product: &str) -> Option<Platform> {
        let name: String = product
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        Some(match name.as_str() {
            "iPhone" | "iPod" => Platform::Ios,
            "iPad" => Platform::IpadOs,
            "Mac" | "MacBook" | "MacBookAir" | "MacBookPro" | "Macmini" | "MacPro" | "iMac"
            | "iMacPro" | "VirtualMac" => Platform::MacOs,
            "AppleTV" => Platform::TvOs,
            "RealityDevice" => Platform::VisionOs,
            "Watch" => Platform::WatchOs,
            _ => return None,
        })
    }

    /// From the well-known request's `model-family` ("iPhone", "iPad",
    /// "Mac", …), any case.
    pub fn from_model_family(family: &str) -> Option<Platform> {
        let f = family.trim().to_ascii_lowercase();
        Some(match f.as_str() {
            "iphone" | "ipod" | "ipod touch" => Platform::Ios,
            "ipad" => Platform::IpadOs,
            "mac" => Platform::MacOs,
            "appletv" | "apple tv" | "apple_tv" => Platform::TvOs,
            "vision" | "applevision" | "apple vision" | "realitydevice" => Platform::VisionOs,
            "watch" | "applewatch" | "apple watch" => Platform::WatchOs,
            _ => return None,
        })
    }
}

/// An OS version, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OsVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl OsVersion {
    pub const fn new(major: u16, minor: u16) -> OsVersion {
        OsVersion {
            major,
            minor,
            patch: 0,
        }
    }

    /// "17", "17.4", "17.4.1" (anything after the numbers, such as a
    /// " (a)" supplement, is ignored); `None` if it does not start with one.
    pub fn parse(text: &str) -> Option<OsVersion> {
        let numeric: String = text
            .trim()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let mut parts = numeric.split('.');
        let major = parts.next()?.parse().ok()?;
        let mut next = || parts.next().filter(|p| !p.is_empty()).map(str::parse);
        let minor = next().transpose().ok()?.unwrap_or(0);
        let patch = next().transpose().ok()?.unwrap_or(0);
        Some(OsVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for OsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch > 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

/// What is known of the OS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// The device said nothing that tells.
    Unknown,
    Known(OsVersion),
    /// Older than this (a `MachineInfo` without `OS_VERSION`, which every
    /// device of iOS 17, macOS 14, tvOS 17 and later sends).
    Before(OsVersion),
}

/// What the device said about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub platform: Option<Platform>,
    pub os: Os,
}

impl Device {
    /// A device that said nothing.
    pub const UNKNOWN: Device = Device {
        platform: None,
        os: Os::Unknown,
    };

    /// From a `MachineInfo` dictionary: `PRODUCT` gives the platform,
    /// `OS_VERSION` (Apple: iOS 17.0, macOS 14.0, tvOS 17.0 and later;
    /// required there) the version. Without `OS_VERSION` the device is older
    /// than those; the first digits of `VERSION` (the build) then tell
    /// iOS 15 (19…) and 16 (20…), macOS 12 (21…) and 13 (22…) apart.
    pub fn from_machine_info(info: &plist::Dictionary) -> Device {
        let text = |key: &str| info.get(key).and_then(plist::Value::as_string);
        Device::from_parts(text("PRODUCT"), text("OS_VERSION"), text("VERSION"))
    }

    /// From `MachineInfo`'s `PRODUCT`, `OS_VERSION` and `VERSION`, as
    /// [`Device::from_machine_info`] reads them.
    pub fn from_parts(
        product: Option<&str>,
        os_version: Option<&str>,
        build: Option<&str>,
    ) -> Device {
        let platform = product.and_then(Platform::from_product);
        let os = match (os_version.and_then(OsVersion::parse), platform) {
            (Some(v), _) => Os::Known(v),
            (None, Some(p)) => match (os_version_introduced(p), build) {
                (Some(first), build) => build
                    .and_then(|b| from_build_train(p, b))
                    .filter(|v| *v < first)
                    .map_or(Os::Before(first), Os::Known),
                (None, _) => Os::Unknown,
            },
            (None, None) => Os::Unknown,
        };
        Device { platform, os }
    }

    /// From the well-known request's `model-family`: the platform only.
    pub fn from_model_family(family: &str) -> Device {
        Device {
            platform: Platform::from_model_family(family),
            os: Os::Unknown,
        }
    }

    /// From a browser's `User-Agent` (the portal): a hint, never a
    /// control, since any browser can send any text. iPhone and iPad
    /// Safari say their OS version (`CPU iPhone OS 17_4 like Mac OS X`);
    /// a Mac says it is one, but Safari reports every macOS as 10.15.7, so
    /// its version is unknown (as is an iPad's asking for the desktop
    /// site, which passes for a Mac).
    pub fn from_user_agent(ua: &str) -> Device {
        let platform = if ua.contains("iPhone") || ua.contains("iPod") {
            Some(Platform::Ios)
        } else if ua.contains("iPad") {
            Some(Platform::IpadOs)
        } else if ua.contains("AppleTV") {
            Some(Platform::TvOs)
        } else if ua.contains("Macintosh") {
            Some(Platform::MacOs)
        } else {
            None
        };
        let os = match platform {
            Some(Platform::Ios | Platform::IpadOs) => ua
                .split_once(" OS ")
                .map(|(_, rest)| rest.split(' ').next().unwrap_or("").replace('_', "."))
                .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
                .and_then(|v| OsVersion::parse(&v))
                .map_or(Os::Unknown, Os::Known),
            _ => Os::Unknown,
        };
        Device { platform, os }
    }

    /// Whether the device runs at least `minimum`; `None` when it cannot be
    /// told.
    pub fn at_least(&self, minimum: OsVersion) -> Option<bool> {
        match self.os {
            Os::Known(v) => Some(v >= minimum),
            Os::Before(first) if first <= minimum => Some(false),
            Os::Before(_) | Os::Unknown => None,
        }
    }

    /// The version for messages: "16.7", "older than 17.0", "unknown".
    pub fn describe_os(&self) -> String {
        match self.os {
            Os::Known(v) => v.to_string(),
            Os::Before(v) => format!("older than {v}"),
            Os::Unknown => "unknown".into(),
        }
    }
}

/// Apple: `MachineInfo` `OS_VERSION`, introduced in iOS 17.0, macOS 14.0,
/// tvOS 17.0 (iPadOS follows iOS).
fn os_version_introduced(platform: Platform) -> Option<OsVersion> {
    match platform {
        Platform::Ios | Platform::IpadOs | Platform::TvOs => Some(OsVersion::new(17, 0)),
        Platform::MacOs => Some(OsVersion::new(14, 0)),
        Platform::VisionOs | Platform::WatchOs => None,
    }
}

/// The OS major version of a build ("20H19" → iOS 16) for the releases
/// before `OS_VERSION`: Apple's build numbers start with the release's
/// train, iOS 15 = 19, iOS 16 = 20; macOS 12 = 21, macOS 13 = 22.
fn from_build_train(platform: Platform, build: &str) -> Option<OsVersion> {
    let digits: String = build.chars().take_while(char::is_ascii_digit).collect();
    let train: u16 = digits.parse().ok()?;
    // A train is followed by the letter of the minor release.
    build[digits.len()..]
        .chars()
        .next()?
        .is_ascii_alphabetic()
        .then_some(())?;
    let major = match (platform, train) {
        (Platform::Ios | Platform::IpadOs, 19..=20) => train - 4,
        (Platform::MacOs, 21..=22) => train - 9,
        _ => return None,
    };
    Some(OsVersion::new(major, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pairs: &[(&str, &str)]) -> plist::Dictionary {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), plist::Value::String((*v).to_owned())))
            .collect()
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(
            OsVersion::parse("17.4.1"),
            Some(OsVersion {
                major: 17,
                minor: 4,
                patch: 1
            })
        );
        assert_eq!(OsVersion::parse("17"), Some(OsVersion::new(17, 0)));
        assert_eq!(OsVersion::parse("16.1 (a)"), Some(OsVersion::new(16, 1)));
        assert_eq!(OsVersion::parse("x17"), None);
        assert_eq!(OsVersion::parse(""), None);
        assert!(OsVersion::new(16, 7) < OsVersion::new(17, 0));
        assert!(OsVersion::new(26, 0) > OsVersion::new(18, 5));
        assert_eq!(OsVersion::new(13, 1).to_string(), "13.1");
    }

    #[test]
    fn machine_info_gives_platform_and_version() {
        let d = Device::from_machine_info(&info(&[
            ("PRODUCT", "iPhone15,2"),
            ("OS_VERSION", "17.5.1"),
            ("VERSION", "21F90"),
        ]));
        assert_eq!(
            (d.platform, d.os),
            (
                Some(Platform::Ios),
                Os::Known(OsVersion {
                    major: 17,
                    minor: 5,
                    patch: 1
                })
            )
        );
        // iOS 16 sends no OS_VERSION; its build says 16.
        let d =
            Device::from_machine_info(&info(&[("PRODUCT", "iPhone14,2"), ("VERSION", "20H19")]));
        assert_eq!(d.os, Os::Known(OsVersion::new(16, 0)));
        assert_eq!(d.at_least(OsVersion::new(17, 0)), Some(false));
        assert_eq!(d.at_least(OsVersion::new(15, 0)), Some(true));
        // No OS_VERSION and no usable build: older than iOS 17, no more.
        let d = Device::from_machine_info(&info(&[("PRODUCT", "iPad8,1")]));
        assert_eq!(
            (d.platform, d.os),
            (Some(Platform::IpadOs), Os::Before(OsVersion::new(17, 0)))
        );
        assert_eq!(d.at_least(OsVersion::new(17, 0)), Some(false));
        assert_eq!(d.at_least(OsVersion::new(16, 0)), None);
        // A build that claims a later train than OS_VERSION's absence allows
        // is not believed.
        let d = Device::from_machine_info(&info(&[("PRODUCT", "Mac14,2"), ("VERSION", "23A344")]));
        assert_eq!(d.os, Os::Before(OsVersion::new(14, 0)));
        let d = Device::from_machine_info(&info(&[
            ("PRODUCT", "MacBookPro18,3"),
            ("VERSION", "22G91"),
        ]));
        assert_eq!(
            (d.platform, d.os),
            (Some(Platform::MacOs), Os::Known(OsVersion::new(13, 0)))
        );
        assert_eq!(Device::from_machine_info(&info(&[])), Device::UNKNOWN);
        assert_eq!(
            Device::from_machine_info(&info(&[("PRODUCT", "Toaster1,1")])),
            Device::UNKNOWN
        );
    }

    #[test]
    fn user_agents_hint_at_the_platform() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
        let d = Device::from_user_agent(iphone);
        assert_eq!(d.platform, Some(Platform::Ios));
        assert_eq!(d.describe_os(), "17.4.1");
        let ipad = "Mozilla/5.0 (iPad; CPU OS 18_0 like Mac OS X) AppleWebKit/605.1.15";
        let d = Device::from_user_agent(ipad);
        assert_eq!(
            (d.platform, d.os),
            (Some(Platform::IpadOs), Os::Known(OsVersion::new(18, 0)))
        );
        let mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15";
        let d = Device::from_user_agent(mac);
        assert_eq!((d.platform, d.os), (Some(Platform::MacOs), Os::Unknown));
        let windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0";
        assert_eq!(Device::from_user_agent(windows), Device::UNKNOWN);
        assert_eq!(
            Device::from_user_agent("iPhone OS x_y"),
            Device {
                platform: Some(Platform::Ios),
                os: Os::Unknown
            }
        );
    }

    #[test]
    fn model_families_and_products_name_platforms() {
        for (family, p) in [
            ("iPhone", Platform::Ios),
            ("IPAD", Platform::IpadOs),
            ("Mac", Platform::MacOs),
            ("AppleTV", Platform::TvOs),
        ] {
            assert_eq!(Platform::from_model_family(family), Some(p));
        }
        assert_eq!(Platform::from_model_family("Toaster"), None);
        for (product, p) in [
            ("iMac21,1", Platform::MacOs),
            ("iPod9,1", Platform::Ios),
            ("RealityDevice14,1", Platform::VisionOs),
            ("Watch6,1", Platform::WatchOs),
        ] {
            assert_eq!(Platform::from_product(product), Some(p));
        }
    }
}
