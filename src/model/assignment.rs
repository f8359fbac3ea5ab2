//! How a setting is assigned to users, as Intune assigns its enrollment
//! type profiles and enrollment restrictions: to user groups, by priority.
//! One rule for policies and restrictions alike: among the items assigned
//! to one of the user's groups (names compared without regard to case),
//! the highest priority (the lowest number) applies.

/// Something assigned to user groups with a priority.
pub trait Assigned {
    /// 1 is the highest; unique among items of one kind (checked at load).
    fn priority(&self) -> u32;
    /// Whether it is assigned to one of `groups` (the user's groups, or
    /// `None` for a device no user signed in on).
    fn assigned_to(&self, groups: Option<&[String]>) -> bool;
}

/// Whether one of `assigned` names one of the user's `groups`.
pub fn in_groups<S: AsRef<str>>(assigned: &[String], groups: &[S]) -> bool {
    assigned
        .iter()
        .any(|g| groups.iter().any(|u| u.as_ref().eq_ignore_ascii_case(g)))
}

/// The items assigned to `groups`, highest priority first: the first one
/// applies.
pub fn by_priority<'a, T: Assigned>(items: &'a [T], groups: Option<&[String]>) -> Vec<&'a T> {
    let mut matched: Vec<&T> = items.iter().filter(|i| i.assigned_to(groups)).collect();
    matched.sort_by_key(|i| i.priority());
    matched
}

/// The user's groups `assigned` names, for explanations ("via Staff").
pub fn via<'a>(assigned: &[String], groups: &'a [String]) -> Vec<&'a str> {
    groups
        .iter()
        .filter(|g| in_groups(assigned, &[g.as_str()]))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item(u32, Vec<String>);

    impl Assigned for Item {
        fn priority(&self) -> u32 {
            self.0
        }
        fn assigned_to(&self, groups: Option<&[String]>) -> bool {
            groups.is_some_and(|g| in_groups(&self.1, g))
        }
    }

    #[test]
    fn the_highest_priority_of_the_assigned_comes_first() {
        let items = [
            Item(5, vec!["Staff".into()]),
            Item(2, vec!["Sales".into()]),
            Item(1, vec!["Board".into()]),
        ];
        let groups = ["staff".to_owned(), "SALES".to_owned()];
        let got: Vec<u32> = by_priority(&items, Some(&groups))
            .iter()
            .map(|i| i.0)
            .collect();
        assert_eq!(got, [2, 5]);
        assert!(by_priority(&items, None).is_empty());
        assert_eq!(via(&items[0].1, &groups), ["staff"]);
    }
}
