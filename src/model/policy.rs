//! Enrollment type policies, as admins know them from Intune: a named policy
//! of type user / device / user-choice, a priority, and the user groups it is
//! assigned to.

use super::assignment::{Assigned, in_groups};
use super::{Management, Ownership};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    /// User Enrollment (BYOD, account-driven), personally owned.
    User,
    /// Device enrollment, corporate.
    Device,
    /// The user says who owns the device and, if they do, how much to manage.
    UserChoice,
}

impl PolicyType {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::User => "user",
            PolicyType::Device => "device",
            PolicyType::UserChoice => "user-choice",
        }
    }
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The user's answer under a user-choice policy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Choice {
    /// "My organisation owns this device".
    Corporate,
    /// "I own this device" + "Secure entire device".
    Device,
    /// "I own this device" + "Secure work-related apps and data only".
    Work,
}

impl Choice {
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Corporate => "corporate",
            Choice::Device => "device",
            Choice::Work => "work",
        }
    }

    pub fn parse(s: &str) -> Option<Choice> {
        match s {
            "corporate" => Some(Choice::Corporate),
            "device" => Some(Choice::Device),
            "work" => Some(Choice::Work),
            _ => None,
        }
    }

    /// What the answer means for management.
    pub fn management(self) -> Management {
        match self {
            Choice::Corporate => Management::Device(Ownership::Corporate),
            Choice::Device => Management::Device(Ownership::Personal),
            Choice::Work => Management::User,
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub description: Option<String>,
    pub kind: PolicyType,
    /// 1 is the highest priority; unique across policies (checked at load).
    pub priority: u32,
    pub groups: Vec<String>,
}

impl Policy {
    /// Whether the policy is assigned to one of `groups` (case-insensitive).
    pub fn applies_to<S: AsRef<str>>(&self, groups: &[S]) -> bool {
        in_groups(&self.groups, groups)
    }

    /// What the policy yields, given the user's answer where it needs one.
    /// `None` means a user-choice policy still waits for the answer.
    pub fn management(&self, choice: Option<Choice>) -> Option<Management> {
        match self.kind {
            PolicyType::User => Some(Management::User),
            PolicyType::Device => Some(Management::Device(Ownership::Corporate)),
            PolicyType::UserChoice => choice.map(Choice::management),
        }
    }
}

impl Assigned for Policy {
    fn priority(&self) -> u32 {
        self.priority
    }

    /// A policy is for users: a device without one gets none.
    fn assigned_to(&self, groups: Option<&[String]>) -> bool {
        groups.is_some_and(|g| self.applies_to(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(kind: PolicyType) -> Policy {
        Policy {
            name: "p".into(),
            description: None,
            kind,
            priority: 1,
            groups: vec!["Staff".into()],
        }
    }

    #[test]
    fn policy_types_yield_the_table() {
        use Management::*;
        use Ownership::*;
        assert_eq!(policy(PolicyType::User).management(None), Some(User));
        assert_eq!(
            policy(PolicyType::Device).management(None),
            Some(Device(Corporate))
        );
        let choice = policy(PolicyType::UserChoice);
        assert_eq!(choice.management(None), None);
        assert_eq!(
            choice.management(Some(Choice::Corporate)),
            Some(Device(Corporate))
        );
        assert_eq!(
            choice.management(Some(Choice::Device)),
            Some(Device(Personal))
        );
        assert_eq!(choice.management(Some(Choice::Work)), Some(User));
    }

    #[test]
    fn groups_match_case_insensitively() {
        let p = policy(PolicyType::User);
        assert!(p.applies_to(&["staff"]));
        assert!(!p.applies_to(&["Contractors"]));
        assert!(!p.applies_to::<&str>(&[]));
    }
}
