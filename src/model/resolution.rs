//! Which policy applies to a user, and what it yields. The result explains
//! itself: every policy that matched, the winner, and why a user cannot enroll.

use super::assignment::by_priority;
use super::directory::User;
use super::policy::{Choice, Policy};
use super::{Channel, Enrollment, EnrollmentKind, Management};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution<'p> {
    /// Policies assigned to one of the user's groups, highest priority first.
    pub matched: Vec<&'p Policy>,
    pub decision: Decision<'p>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<'p> {
    /// The user enrolls with this management.
    Enroll {
        policy: &'p Policy,
        management: Management,
    },
    /// A user-choice policy applies and the user has not answered yet.
    NeedsChoice { policy: &'p Policy },
    /// User Enrollment applies but the user has no Managed Apple ID.
    NeedsManagedAppleId { policy: &'p Policy },
    /// No policy is assigned to any of the user's groups.
    NoPolicy,
}

impl<'p> Resolution<'p> {
    /// The winning policy, if any policy matched.
    pub fn policy(&self) -> Option<&'p Policy> {
        self.matched.first().copied()
    }

    /// The enrollment to build a profile for over `channel`, or why there is
    /// none (a message naming the user).
    pub fn enrollment(&self, user: &User, channel: Channel) -> Result<Enrollment, String> {
        match &self.decision {
            Decision::Enroll { management, .. } => {
                let kind = management.kind(channel);
                // Profile-based device enrollment carries no Managed Apple ID.
                let id = match kind {
                    EnrollmentKind::Device(_) => None,
                    _ => user.managed_apple_id.clone(),
                };
                Enrollment::new(kind, id).map_err(|why| format!("user {}: {why}", user.email))
            }
            other => Err(other.explain(user)),
        }
    }
}

impl Decision<'_> {
    /// One line saying why the user cannot enroll (empty for `Enroll`).
    pub fn explain(&self, user: &User) -> String {
        match self {
            Decision::Enroll { .. } => String::new(),
            Decision::NeedsChoice { policy } => format!(
                "user {} falls under user-choice policy {:?}: waiting for the user's choice (corporate, device or work)",
                user.email, policy.name
            ),
            Decision::NeedsManagedAppleId { policy } => format!(
                "user {} cannot enroll: policy {:?} gives User Enrollment, which needs a Managed Apple ID, and the directory has none for this user",
                user.email, policy.name
            ),
            Decision::NoPolicy => {
                let groups = if user.groups.is_empty() {
                    "is in no group".to_owned()
                } else {
                    format!("is in {}", user.groups.join(", "))
                };
                format!(
                    "user {} cannot enroll: no enrollment policy is assigned to their groups (the user {groups})",
                    user.email
                )
            }
        }
    }
}

/// Applies `policies` to `user`: among the policies assigned to one of the
/// user's groups the highest priority (lowest number) wins.
pub fn resolve<'p>(policies: &'p [Policy], user: &User, choice: Option<Choice>) -> Resolution<'p> {
    let matched = by_priority(policies, Some(&user.groups));
    let decision = match matched.first() {
        None => Decision::NoPolicy,
        Some(&policy) => match policy.management(choice) {
            None => Decision::NeedsChoice { policy },
            Some(Management::User) if user.managed_apple_id.is_none() => {
                Decision::NeedsManagedAppleId { policy }
            }
            Some(management) => Decision::Enroll { policy, management },
        },
    };
    Resolution { matched, decision }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::PolicyType;
    use crate::model::{ManagedAppleId, Ownership};

    fn policy(name: &str, kind: PolicyType, priority: u32, groups: &[&str]) -> Policy {
        Policy {
            name: name.into(),
            description: None,
            kind,
            priority,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn user(groups: &[&str], id: bool) -> User {
        User {
            email: "a@contoso.com".into(),
            managed_apple_id: id.then(|| ManagedAppleId::parse("a@contoso.com").unwrap()),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            line: 2,
            groups_claim: None,
        }
    }

    #[test]
    fn highest_priority_wins() {
        let policies = [
            policy("byod", PolicyType::User, 5, &["Staff"]),
            policy("corp", PolicyType::Device, 2, &["Sales"]),
        ];
        let r = resolve(&policies, &user(&["Staff", "Sales"], true), None);
        assert_eq!(r.matched.len(), 2);
        assert_eq!(r.policy().unwrap().name, "corp");
        assert_eq!(
            r.decision,
            Decision::Enroll {
                policy: &policies[1],
                management: Management::Device(Ownership::Corporate)
            }
        );
    }

    #[test]
    fn no_group_no_policy() {
        let policies = [policy("byod", PolicyType::User, 1, &["Staff"])];
        let u = user(&[], true);
        let r = resolve(&policies, &u, None);
        assert_eq!(r.decision, Decision::NoPolicy);
        assert!(
            r.enrollment(&u, Channel::Profile)
                .unwrap_err()
                .contains("is in no group")
        );
    }

    #[test]
    fn user_enrollment_needs_managed_apple_id_but_device_does_not() {
        let policies = [policy("any", PolicyType::UserChoice, 1, &["Staff"])];
        let u = user(&["Staff"], false);
        let work = resolve(&policies, &u, Some(Choice::Work));
        assert!(matches!(
            work.decision,
            Decision::NeedsManagedAppleId { .. }
        ));
        let device = resolve(&policies, &u, Some(Choice::Device));
        let e = device.enrollment(&u, Channel::Profile).unwrap();
        assert_eq!(e.kind(), EnrollmentKind::Device(Ownership::Personal));
        assert_eq!(e.managed_apple_id(), None);
        assert!(matches!(
            resolve(&policies, &u, None).decision,
            Decision::NeedsChoice { .. }
        ));
    }

    #[test]
    fn account_driven_device_carries_the_managed_apple_id() {
        let policies = [policy("corp", PolicyType::Device, 1, &["Staff"])];
        let u = user(&["Staff"], true);
        let e = resolve(&policies, &u, None)
            .enrollment(&u, Channel::AccountDriven)
            .unwrap();
        assert_eq!(
            e.kind(),
            EnrollmentKind::AccountDrivenDevice(Ownership::Corporate)
        );
        assert!(e.managed_apple_id().is_some());
    }
}
