use super::ManagedAppleId;
use super::device::{OsVersion, Platform};
use std::fmt;

/// Who owns the device. Recorded for every enrollment; decides the default
/// MDM access rights of a device enrollment.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Ownership {
    Corporate,
    Personal,
}

impl Ownership {
    pub fn as_str(self) -> &'static str {
        match self {
            Ownership::Corporate => "corporate",
            Ownership::Personal => "personal",
        }
    }
}

impl fmt::Display for Ownership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a policy grants, before we know how the profile reaches the device:
/// User Enrollment (work data on a separate volume, personal device) or
/// management of the whole device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Management {
    User,
    Device(Ownership),
}

impl Management {
    pub fn ownership(self) -> Ownership {
        match self {
            Management::User => Ownership::Personal,
            Management::Device(o) => o,
        }
    }

    /// The enrollment kind for this management delivered over `channel`.
    /// User Enrollment is always account-driven (the only kind iOS 18 accepts);
    /// the legacy profile-based form is only reachable explicitly.
    pub fn kind(self, channel: Channel) -> EnrollmentKind {
        match (self, channel) {
            (Management::User, _) => EnrollmentKind::AccountDrivenUser,
            (Management::Device(o), Channel::Profile) => EnrollmentKind::Device(o),
            (Management::Device(o), Channel::AccountDriven) => {
                EnrollmentKind::AccountDrivenDevice(o)
            }
        }
    }
}

/// How the enrollment profile reaches the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Downloaded (browser, file) and installed by hand in Settings.
    Profile,
    /// Apple's account-driven enrollment protocol (`/.well-known/com.apple.remotemanagement`).
    AccountDriven,
}

/// The one enum that decides which `com.apple.mdm` keys a profile sets
/// (Apple: MDM payload, keys `EnrollmentMode`, `AssignedManagedAppleID`,
/// `ManagedAppleID`, `AccessRights`). Nothing else branches on the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrollmentKind {
    /// Profile-based device enrollment: installed from Settings; `AccessRights`
    /// set, no enrollment mode, no Managed Apple ID.
    Device(Ownership),
    /// Account-driven Device Enrollment (iOS 17+, macOS 14+): `EnrollmentMode`
    /// `ADDE`, `AssignedManagedAppleID`, `AccessRights`.
    AccountDrivenDevice(Ownership),
    /// Account-driven User Enrollment (iOS 15+, macOS 14+; the only User
    /// Enrollment iOS 18 accepts): `EnrollmentMode` `BYOD`,
    /// `AssignedManagedAppleID`, and no `AccessRights` (the device cancels the
    /// enrollment if it is present).
    AccountDrivenUser,
    /// Profile-based User Enrollment (iOS 13.1–17, macOS 10.15–14):
    /// `ManagedAppleID`. Apple removed it in iOS 18 and macOS 15.
    LegacyUser,
}

/// Apple: `com.apple.mdm` `EnrollmentMode`, rangelist `BYOD`, `ADDE`: the
/// one place those strings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnrollmentMode {
    /// Account-driven User Enrollment.
    Byod,
    /// Account-driven Device Enrollment.
    Adde,
}

impl EnrollmentMode {
    pub fn as_str(self) -> &'static str {
        match self {
            EnrollmentMode::Byod => "BYOD",
            EnrollmentMode::Adde => "ADDE",
        }
    }

    pub fn parse(text: &str) -> Option<EnrollmentMode> {
        [EnrollmentMode::Byod, EnrollmentMode::Adde]
            .into_iter()
            .find(|m| m.as_str() == text)
    }
}

impl serde::Serialize for EnrollmentMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl EnrollmentKind {
    pub fn ownership(self) -> Ownership {
        match self {
            EnrollmentKind::Device(o) | EnrollmentKind::AccountDrivenDevice(o) => o,
            EnrollmentKind::AccountDrivenUser | EnrollmentKind::LegacyUser => Ownership::Personal,
        }
    }

    pub fn is_user_enrollment(self) -> bool {
        matches!(
            self,
            EnrollmentKind::AccountDrivenUser | EnrollmentKind::LegacyUser
        )
    }

    /// Apple: `com.apple.mdm` `EnrollmentMode` ("Required for account-driven
    /// enrollment").
    pub fn enrollment_mode(self) -> Option<EnrollmentMode> {
        match self {
            EnrollmentKind::AccountDrivenUser => Some(EnrollmentMode::Byod),
            EnrollmentKind::AccountDrivenDevice(_) => Some(EnrollmentMode::Adde),
            EnrollmentKind::Device(_) | EnrollmentKind::LegacyUser => None,
        }
    }

    /// Whether the profile carries a Managed Apple ID (in
    /// `AssignedManagedAppleID` or, for the legacy kind, `ManagedAppleID`).
    pub fn needs_managed_apple_id(self) -> bool {
        !matches!(self, EnrollmentKind::Device(_))
    }

    /// Whether the profile carries `AccessRights`: every device enrollment does;
    /// User Enrollment never does (Apple: `AccessRights` is "ignored" under user
    /// enrollment, and an account-driven BYOD enrollment is cancelled by it).
    pub fn has_access_rights(self) -> bool {
        !self.is_user_enrollment()
    }

    /// The first version of `platform` that enrolls this way over Apple's
    /// account-driven protocol; `None` when the platform never does (or
    /// the kind is not account-driven). Apple: com.apple.mdm
    /// `EnrollmentMode` and `AssignedManagedAppleID` — iOS 15, macOS 14,
    /// visionOS 1.1, not tvOS or watchOS; account-driven Device Enrollment
    /// (ADDE) needs iOS/iPadOS 17 (docs/enrollment-kinds.md).
    pub fn account_driven_minimum(self, platform: Platform) -> Option<OsVersion> {
        let ios = match self {
            EnrollmentKind::AccountDrivenUser => OsVersion::new(15, 0),
            EnrollmentKind::AccountDrivenDevice(_) => OsVersion::new(17, 0),
            EnrollmentKind::Device(_) | EnrollmentKind::LegacyUser => return None,
        };
        match platform {
            Platform::Ios | Platform::IpadOs => Some(ios),
            Platform::MacOs => Some(OsVersion::new(14, 0)),
            Platform::VisionOs => Some(OsVersion::new(1, 1)),
            Platform::TvOs | Platform::WatchOs => None,
        }
    }

    /// A short, stable name for file names, manifests, JSON and UUID derivation.
    pub fn slug(self) -> &'static str {
        match self {
            EnrollmentKind::Device(Ownership::Corporate) => "device-corporate",
            EnrollmentKind::Device(Ownership::Personal) => "device-personal",
            EnrollmentKind::AccountDrivenDevice(Ownership::Corporate) => "adde-corporate",
            EnrollmentKind::AccountDrivenDevice(Ownership::Personal) => "adde-personal",
            EnrollmentKind::AccountDrivenUser => "user-byod",
            EnrollmentKind::LegacyUser => "user-legacy",
        }
    }

    /// A one-line human description.
    pub fn describe(self) -> &'static str {
        match self {
            EnrollmentKind::Device(Ownership::Corporate) => "device enrollment (corporate device)",
            EnrollmentKind::Device(Ownership::Personal) => {
                "device enrollment (personally owned device, personal access rights)"
            }
            EnrollmentKind::AccountDrivenDevice(Ownership::Corporate) => {
                "account-driven device enrollment (ADDE, corporate device)"
            }
            EnrollmentKind::AccountDrivenDevice(Ownership::Personal) => {
                "account-driven device enrollment (ADDE, personally owned device)"
            }
            EnrollmentKind::AccountDrivenUser => "account-driven User Enrollment (BYOD)",
            EnrollmentKind::LegacyUser => {
                "profile-based User Enrollment (legacy; refused by iOS 18 and macOS 15)"
            }
        }
    }
}

impl fmt::Display for EnrollmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// One enrollment to build a profile for: the kind plus the Managed Apple ID
/// when the kind carries one. Construction checks that they fit together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    kind: EnrollmentKind,
    managed_apple_id: Option<ManagedAppleId>,
}

impl Enrollment {
    pub fn new(
        kind: EnrollmentKind,
        managed_apple_id: Option<ManagedAppleId>,
    ) -> Result<Self, String> {
        match (kind.needs_managed_apple_id(), &managed_apple_id) {
            (true, None) => Err(format!("{} needs a Managed Apple ID", kind.describe())),
            (false, Some(id)) => Err(format!(
                "{} carries no Managed Apple ID, but {id} was given",
                kind.describe()
            )),
            _ => Ok(Enrollment {
                kind,
                managed_apple_id,
            }),
        }
    }

    pub fn kind(&self) -> EnrollmentKind {
        self.kind
    }

    pub fn managed_apple_id(&self) -> Option<&ManagedAppleId> {
        self.managed_apple_id.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_kind() {
        use EnrollmentKind::*;
        use Ownership::*;
        assert_eq!(Device(Corporate).enrollment_mode(), None);
        assert_eq!(
            AccountDrivenUser
                .enrollment_mode()
                .map(EnrollmentMode::as_str),
            Some("BYOD")
        );
        assert_eq!(
            AccountDrivenDevice(Corporate).enrollment_mode(),
            Some(EnrollmentMode::Adde)
        );
        assert_eq!(EnrollmentMode::parse("ADDE"), Some(EnrollmentMode::Adde));
        assert_eq!(EnrollmentMode::parse("adde"), None);
        assert_eq!(LegacyUser.enrollment_mode(), None);
        assert!(!AccountDrivenUser.has_access_rights());
        assert!(!LegacyUser.has_access_rights());
        assert!(Device(Personal).has_access_rights());
        assert!(!Device(Corporate).needs_managed_apple_id());
        assert!(LegacyUser.needs_managed_apple_id());
        assert_eq!(AccountDrivenUser.ownership(), Personal);
    }

    #[test]
    fn management_maps_to_kind_per_channel() {
        use EnrollmentKind::*;
        assert_eq!(Management::User.kind(Channel::Profile), AccountDrivenUser);
        assert_eq!(
            Management::User.kind(Channel::AccountDriven),
            AccountDrivenUser
        );
        let personal = Management::Device(Ownership::Personal);
        assert_eq!(personal.kind(Channel::Profile), Device(Ownership::Personal));
        assert_eq!(
            personal.kind(Channel::AccountDriven),
            AccountDrivenDevice(Ownership::Personal)
        );
    }

    #[test]
    fn account_driven_minimums_follow_apple() {
        use EnrollmentKind::*;
        let v = |major, minor| Some(OsVersion::new(major, minor));
        assert_eq!(
            AccountDrivenUser.account_driven_minimum(Platform::Ios),
            v(15, 0)
        );
        assert_eq!(
            AccountDrivenDevice(Ownership::Personal).account_driven_minimum(Platform::IpadOs),
            v(17, 0)
        );
        assert_eq!(
            AccountDrivenUser.account_driven_minimum(Platform::MacOs),
            v(14, 0)
        );
        assert_eq!(
            AccountDrivenUser.account_driven_minimum(Platform::TvOs),
            None
        );
        assert_eq!(
            Device(Ownership::Corporate).account_driven_minimum(Platform::Ios),
            None
        );
    }

    #[test]
    fn enrollment_checks_the_managed_apple_id() {
        let id = ManagedAppleId::parse("a@contoso.com").unwrap();
        assert!(Enrollment::new(EnrollmentKind::AccountDrivenUser, None).is_err());
        assert!(
            Enrollment::new(
                EnrollmentKind::Device(Ownership::Corporate),
                Some(id.clone())
            )
            .is_err()
        );
        assert!(Enrollment::new(EnrollmentKind::AccountDrivenUser, Some(id)).is_ok());
    }
}
