//! What Apple forbids or ignores under User Enrollment on iOS, written from
//! the `userenrollment` modes of Apple's device-management schema (iOS 18.1
//! release; restrictions and web content filter refreshed to iOS 26.4). A
//! forbidden payload or key makes the device refuse the profile; an ignored
//! key silently does nothing. `--schema` checks the same facts straight from
//! Apple's files (and a consistency test keeps these lists equal to them).

use super::{Payload, Sink, rules};
use plist::Dictionary;

/// Payload types the device refuses under User Enrollment on iOS, with what
/// they are. Notably the device-wide VPN `com.apple.vpn.managed` is here
/// while per-app VPN (`com.apple.vpn.managed.applayer`) is allowed.
pub const FORBIDDEN_PAYLOADS: &[(&str, &str)] = &[
    ("com.apple.SetupAssistant.managed", "Setup Assistant"),
    ("com.apple.apn.managed", "APN (cellular access point)"),
    ("com.apple.app.lock", "single app mode"),
    ("com.apple.cellular", "cellular settings"),
    (
        "com.apple.declarations",
        "declarative management declarations",
    ),
    ("com.apple.dnsSettings.managed", "device-wide encrypted DNS"),
    ("com.apple.domains", "managed domains"),
    ("com.apple.homescreenlayout", "home screen layout"),
    ("com.apple.networkusagerules", "network usage rules"),
    ("com.apple.notificationsettings", "notification settings"),
    ("com.apple.osxserver.account", "macOS Server account"),
    (
        "com.apple.profileRemovalPassword",
        "profile removal password",
    ),
    ("com.apple.proxy.http.global", "global HTTP proxy"),
    (
        "com.apple.shareddeviceconfiguration",
        "Shared iPad / lock screen message",
    ),
    ("com.apple.tvremote", "Apple TV remote"),
    (
        "com.apple.vpn.managed",
        "device-wide VPN (per-app VPN is allowed)",
    ),
];

/// Top-level keys forbidden under User Enrollment on iOS (Apple: TopLevel).
pub const FORBIDDEN_TOP_LEVEL_KEYS: &[&str] = &["PayloadRemovalDisallowed"];

/// Keys forbidden inside otherwise allowed payloads, by payload type.
pub const FORBIDDEN_KEYS: &[(&str, &[&str])] = &[
    // AirPlay: restricting destinations is a device-wide control.
    ("com.apple.airplay", &["AllowList", "Whitelist"]),
    // Wi-Fi: the proxy settings and turning off private addresses.
    (
        "com.apple.wifi.managed",
        &[
            "DisableAssociationMACRandomization",
            "ProxyPACFallbackAllowed",
            "ProxyPACURL",
            "ProxyPassword",
            "ProxyServer",
            "ProxyServerPort",
            "ProxyType",
            "ProxyUsername",
        ],
    ),
    ("com.apple.applicationaccess", RESTRICTIONS_FORBIDDEN),
    // Web content filter: retaining Safari history (iOS 26).
    (
        "com.apple.webcontent-filter",
        &["SafariHistoryRetentionEnabled"],
    ),
];

/// Keys the device ignores under User Enrollment on iOS, by payload type:
/// the passcode policy applies to the managed volume only in part, and the
/// MDM access rights are fixed by the enrollment.
pub const IGNORED_KEYS: &[(&str, &[&str])] = &[
    ("com.apple.mdm", &["AccessRights"]),
    (
        "com.apple.mobiledevice.passwordpolicy",
        &[
            "allowSimple",
            "forcePIN",
            "maxFailedAttempts",
            "maxGracePeriod",
            "maxInactivity",
            "maxPINAgeInDays",
            "minComplexChars",
            "minLength",
            "pinHistory",
            "requireAlphanumeric",
        ],
    ),
];

/// `com.apple.applicationaccess` restrictions forbidden under User
/// Enrollment on iOS, alphabetically. Of the restrictions iOS supports, only
/// those about managed data, the lock screen, Siri, screenshots, AirDrop and
/// AirPlay of managed content, backups, dictation/translation, wrist
/// detection, ratings region and Safari fraud warnings stay allowed.
pub const RESTRICTIONS_FORBIDDEN: &[&str] = &[
    "allowAccountModification",
    "allowActivityContinuation",
    "allowAddingGameCenterFriends",
    "allowAirDrop",
    "allowAirPrint",
    "allowAirPrintCredentialsStorage",
    "allowAirPrintiBeaconDiscovery",
    "allowAppCellularDataModification",
    "allowAppClips",
    "allowAppInstallation",
    "allowAppleIntelligenceReport",
    "allowApplePersonalizedAdvertising",
    "allowAppRemoval",
    "allowAppsToBeHidden",
    "allowAppsToBeLocked",
    "allowAssistantUserGeneratedContent",
    "allowAutoCorrection",
    "allowAutoDim",
    "allowAutomaticAppDownloads",
    "allowAutoUnlock",
    "allowBluetoothModification",
    "allowBookstore",
    "allowBookstoreErotica",
    "allowCallRecording",
    "allowCamera",
    "allowCellularPlanModification",
    "allowChat",
    "allowCloudBackup",
    "allowCloudDocumentSync",
    "allowCloudKeychainSync",
    "allowCloudPhotoLibrary",
    "allowCloudPrivateRelay",
    "allowContinuousPathKeyboard",
    "allowDefaultBrowserModification",
    "allowDefaultCallingAppModification",
    "allowDefaultMessagingAppModification",
    "allowDefinitionLookup",
    "allowDeviceNameModification",
    "allowDiagnosticSubmissionModification",
    "allowDictation",
    "allowedCameraRestrictionBundleIDs",
    "allowedExternalIntelligenceWorkspaceIDs",
    "allowEnablingRestrictions",
    "allowEnterpriseAppTrust",
    "allowEraseContentAndSettings",
    "allowESIMModification",
    "allowESIMOutgoingTransfers",
    "allowExplicitContent",
    "allowFilesNetworkDriveAccess",
    "allowFilesUSBDriveAccess",
    "allowFindMyDevice",
    "allowFindMyFriends",
    "allowFindMyFriendsModification",
    "allowFingerprintForUnlock",
    "allowFingerprintModification",
    "allowGameCenter",
    "allowGenmoji",
    "allowGlobalBackgroundFetchWhenRoaming",
    "allowHostPairing",
    "allowImagePlayground",
    "allowImageWand",
    "allowInAppPurchases",
    "allowiPhoneMirroring",
    "allowiPhoneWidgetsOnMac",
    "allowiTunes",
    "allowKeyboardShortcuts",
    "allowListedAppBundleIDs",
    "allowLiveVoicemail",
    "allowMailPrivacyProtection",
    "allowMailSmartReplies",
    "allowMailSummary",
    "allowManagedToWriteUnmanagedContacts",
    "allowMarketplaceAppInstallation",
    "allowMultiplayerGaming",
    "allowMusicService",
    "allowNews",
    "allowNFC",
    "allowNotesTranscription",
    "allowNotesTranscriptionSummary",
    "allowNotificationsModification",
    "allowOTAPKIUpdates",
    "allowPairedWatch",
    "allowPassbookWhileLocked",
    "allowPasscodeModification",
    "allowPasswordAutoFill",
    "allowPasswordProximityRequests",
    "allowPasswordSharing",
    "allowPersonalHotspotModification",
    "allowPersonalizedHandwritingResults",
    "allowPhotoStream",
    "allowPodcasts",
    "allowPredictiveKeyboard",
    "allowProximitySetupToNewDevice",
    "allowRadioService",
    "allowRapidSecurityResponseInstallation",
    "allowRapidSecurityResponseRemoval",
    "allowRCSMessaging",
    "allowSafari",
    "allowSafariHistoryClearing",
    "allowSafariPrivateBrowsing",
    "allowSafariSummary",
    "allowSatelliteConnection",
    "allowSharedDeviceTemporarySession",
    "allowSharedStream",
    "allowSpellCheck",
    "allowSpotlightInternetResults",
    "allowSystemAppRemoval",
    "allowUIAppInstallation",
    "allowUIConfigurationProfileInstallation",
    "allowUnpairedExternalBootToRecovery",
    "allowUntrustedTLSPrompt",
    "allowUSBRestrictedMode",
    "allowVideoConferencing",
    "allowVideoConferencingRemoteControl",
    "allowVisualIntelligenceSummary",
    "allowVoiceDialing",
    "allowVPNCreation",
    "allowWallpaperModification",
    "allowWebDistributionAppInstallation",
    "allowWritingTools",
    "autonomousSingleAppModePermittedAppIDs",
    "blacklistedAppBundleIDs",
    "blockedAppBundleIDs",
    "deniedICCIDsForiMessageFaceTime",
    "deniedICCIDsForRCS",
    "enforcedSoftwareUpdateDelay",
    "forceAirPrintTrustedTLSRequirement",
    "forceAssistantProfanityFilter",
    "forceAuthenticationBeforeAutoFill",
    "forceAutomaticDateAndTime",
    "forceClassroomAutomaticallyJoinClasses",
    "forceClassroomRequestPermissionToLeaveClasses",
    "forceClassroomUnpromptedAppAndDeviceLock",
    "forceClassroomUnpromptedScreenObservation",
    "forceDelayedSoftwareUpdates",
    "forceITunesStorePasswordEntry",
    "forceLimitAdTracking",
    "forcePreserveESIMOnErase",
    "forceWiFiPowerOn",
    "forceWiFiToAllowedNetworksOnly",
    "forceWiFiWhitelisting",
    "ratingApps",
    "ratingAppsExemptedBundleIDs",
    "ratingMovies",
    "ratingTVShows",
    "safariAcceptCookies",
    "safariAllowAutoFill",
    "safariAllowJavaScript",
    "safariAllowPopups",
    "whitelistedAppBundleIDs",
];

/// The lists above in the shape of
/// [`super::schema::Schema::user_enrollment_facts`], for comparing them.
pub fn facts() -> super::schema::UserEnrollmentFacts {
    let pairs = |table: &[(&str, &[&str])]| {
        let mut v: Vec<(String, String)> = table
            .iter()
            .flat_map(|(t, keys)| keys.iter().map(move |k| ((*t).to_owned(), (*k).to_owned())))
            .collect();
        v.sort();
        v
    };
    let mut forbidden_keys = pairs(FORBIDDEN_KEYS);
    forbidden_keys.extend(
        FORBIDDEN_TOP_LEVEL_KEYS
            .iter()
            .map(|k| ("TopLevel".to_owned(), (*k).to_owned())),
    );
    forbidden_keys.sort();
    let mut forbidden_payloads: Vec<String> = FORBIDDEN_PAYLOADS
        .iter()
        .map(|(t, _)| (*t).to_owned())
        .collect();
    forbidden_payloads.sort();
    super::schema::UserEnrollmentFacts {
        forbidden_payloads,
        forbidden_keys,
        ignored_keys: pairs(IGNORED_KEYS),
    }
}

fn listed<'a>(table: &'a [(&str, &[&str])], payload_type: &str) -> &'a [&'a str] {
    table
        .iter()
        .find(|(t, _)| *t == payload_type)
        .map(|(_, keys)| *keys)
        .unwrap_or_default()
}

pub fn check(root: &Dictionary, payloads: &[Payload<'_>], sink: &mut Sink) {
    for key in FORBIDDEN_TOP_LEVEL_KEYS {
        if root.contains_key(key) {
            sink.top(
                rules::UE_FORBIDDEN_KEY,
                *key,
                "is forbidden under User Enrollment on iOS: the device refuses the profile",
            );
        }
    }
    for p in payloads {
        let Some(ty) = p.payload_type() else {
            continue;
        };
        if let Some((_, what)) = FORBIDDEN_PAYLOADS.iter().find(|(t, _)| *t == ty) {
            sink.at(
                rules::UE_FORBIDDEN_PAYLOAD,
                p,
                "",
                format!("{ty} ({what}) is forbidden under User Enrollment on iOS: the device refuses the profile"),
            );
            continue;
        }
        let forbidden = listed(FORBIDDEN_KEYS, ty);
        let ignored = listed(IGNORED_KEYS, ty);
        for key in p.dict.keys() {
            if forbidden.contains(&key.as_str()) {
                sink.at(
                    rules::UE_FORBIDDEN_KEY,
                    p,
                    key,
                    "is forbidden under User Enrollment on iOS: the device refuses the profile",
                );
            } else if ignored.contains(&key.as_str()) {
                sink.at(
                    rules::UE_IGNORED_KEY,
                    p,
                    key,
                    "is ignored under User Enrollment on iOS: it has no effect",
                );
            }
        }
    }
}
