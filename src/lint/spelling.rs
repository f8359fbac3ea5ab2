//! "Did you mean": whether a name Apple's schema does not know is a slip of
//! one it does. A typo (`allowAppInstalation`, `ServerUrl`,
//! `com.apple.wifi.manged`) is a mistake to warn about; a name far from every
//! known one is more likely newer than the schema, or not Apple's at all.

/// The known name `word` is most likely a misspelling of, if any: the same
/// name in another case, or one at most one edit away (two for names of ten
/// characters or more). An edit is an insertion, deletion, substitution or
/// swap of two neighbouring characters.
pub fn near<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = word.chars().count();
    let limit = match len {
        0..=3 => 0,
        4..=9 => 1,
        _ => 2,
    };
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        if k == word {
            continue;
        }
        if k.eq_ignore_ascii_case(word) {
            return Some(k);
        }
        if k.chars().count().abs_diff(len) > limit {
            continue;
        }
        let d = distance(word, k);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// Optimal string alignment distance (Levenshtein with adjacent swaps).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("allowAppInstalation", "allowAppInstallation"), 1);
        assert_eq!(distance("AutoJion", "AutoJoin"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn typos_are_near_and_new_names_are_not() {
        let keys = [
            "allowAppInstallation",
            "allowCamera",
            "allowMailSummary",
            "ServerURL",
            "AutoJoin",
        ];
        assert_eq!(
            near("allowAppInstalation", keys),
            Some("allowAppInstallation")
        );
        assert_eq!(near("ServerUrl", keys), Some("ServerURL"));
        assert_eq!(near("allowCamra", keys), Some("allowCamera"));
        assert_eq!(near("AutoJion", keys), Some("AutoJoin"));
        // Names newer than the schema differ by whole words.
        assert_eq!(near("allowSafariSummary", keys), None);
        assert_eq!(near("allowCameraRestriction", keys), None);
        assert_eq!(near("allowCamera", keys), None);
        // Short names get no fuzzy matches.
        assert_eq!(near("abc", ["abd"]), None);
    }
}
