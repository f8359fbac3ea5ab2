//! Calendar arithmetic for the few places that print or encode UTC times
//! (CMS signing-time, certificate validity, the audit store, invite expiry),
//! without a date crate. Every time in JSON output comes from [`rfc3339`].

/// `90s`, `30m`, `12h`, `7d` → seconds, from 1 s to 90 days (`aspen invite
/// --ttl`, `challenge_ttl`).
pub fn parse_ttl(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err("give a number and a unit: s, m, h or d (e.g. 7d)".into()),
    };
    let seconds = number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|s| (1..=90 * 86_400).contains(s))
        .ok_or("must be between 1s and 90d")?;
    Ok(seconds)
}

/// The proleptic Gregorian date (year, month, day) of a day count since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day count since 1970-01-01 of a proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`, the inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds of `time` (negative before 1970), whole seconds.
pub fn unix_seconds(time: std::time::SystemTime) -> i64 {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs_f64().ceil() as u64).unwrap_or(i64::MAX),
    }
}

/// Unix seconds of a time OpenSSL parsed (certificate validity).
pub fn of_asn1(time: &openssl::asn1::Asn1TimeRef) -> Option<i64> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let diff = epoch.diff(time).ok()?;
    Some(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

/// Unix seconds of an ASN.1 UTCTime (`YYMMDDhhmmssZ`, 1950–2049) or
/// GeneralizedTime (`YYYYMMDDhhmmss[.f]Z`) as DER writes them (always UTC,
/// with seconds); `None` for anything else.
pub fn parse_asn1(text: &str) -> Option<i64> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let rest = &text[digits.len()..];
    let full = match digits.len() {
        12 => {
            let yy: u32 = digits[..2].parse().ok()?;
            format!("{}{digits}", if yy >= 50 { "19" } else { "20" })
        }
        14 => digits,
        _ => return None,
    };
    // A fraction of a second (GeneralizedTime only) is dropped.
    let zone = match rest.strip_prefix('.') {
        Some(frac) if full.len() == 14 => frac.trim_start_matches(|c: char| c.is_ascii_digit()),
        Some(_) => return None,
        None => rest,
    };
    if zone != "Z" {
        return None;
    }
    let n = |at: usize, len: usize| full[at..at + len].parse::<u32>().ok();
    let (year, month, day) = (i64::from(n(0, 4)?), n(4, 2)?, n(6, 2)?);
    let (hour, min, sec) = (n(8, 2)?, n(10, 2)?, n(12, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + min * 60 + sec))
}

/// `2025-03-01 14:05 UTC` for Unix seconds `secs` (for people: pages and
/// messages; JSON uses [`rfc3339`]).
pub fn format_utc(secs: i64) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// RFC 3339 UTC, `2025-03-01T14:05:00Z`, for Unix seconds `secs`: the one
/// format of every timestamp aspen writes in JSON.
pub fn rfc3339(secs: i64) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix seconds of an RFC 3339 date-time: `2026-05-01T12:00:00Z`, with
/// an offset (`+02:00`) or fractional seconds (dropped); `None` for
/// anything else, an impossible date included.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || !b.is_ascii() {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = &text[from..to];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let at = text.len() - 5;
            let (h, m) = (num(at, at + 2)?, num(at + 3, at + 5)?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    // A leap second (`:60`) is taken as the second after.
    if day < 1 || day > month_days || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// `90s`, `30m`, `12h`, `7d`, `2w` → seconds, at least 1 s and at most
/// 100 years (`aspen issued --since 7d`).
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err("give a number and a unit: s, m, h, d or w (e.g. 7d)".into()),
    };
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|s| (1..=100 * 366 * 86_400).contains(s))
        .ok_or_else(|| "must be between 1s and 100 years".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("2025-03-01T14:05:07Z"), Some(1_740_837_907));
        assert_eq!(
            parse_rfc3339("2025-03-01t14:05:07.123z"),
            Some(1_740_837_907)
        );
        assert_eq!(
            parse_rfc3339("2025-03-01 16:05:07+02:00"),
            Some(1_740_837_907)
        );
        assert_eq!(
            parse_rfc3339("2025-03-01T09:35:07-04:30"),
            Some(1_740_837_907)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "2025-02-29T00:00:00Z",
            "2025-03-01",
            "2025-03-01T14:05Z",
            "2025-03-01T14:05:07",
            "2025-03-01T24:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-03-01T14:05:07+2:00",
            "2025-03-01T14:05:07.Z",
            "+025-03-01T14:05:07Z",
            "2025-03-01T14:05:07Zjunk",
            "２０２５-03-01T14:05:07Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("7").is_err());
        assert!(parse_duration("7y").is_err());
        assert!(parse_duration("-7d").is_err());
        assert!(parse_duration("99999999999999999999w").is_err());
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_740_837_907), "2025-03-01T14:05:07Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(format_utc(1_740_837_900), "2025-03-01 14:05 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59 UTC");
    }

    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        for days in [-800_000, -1, 0, 11_016, 47_541, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn asn1_times_parse_to_unix_seconds() {
        assert_eq!(parse_asn1("261201220947Z"), Some(1_796_162_987));
        assert_eq!(parse_asn1("20261201220947Z"), Some(1_796_162_987));
        assert_eq!(parse_asn1("20261201220947.125Z"), Some(1_796_162_987));
        assert_eq!(parse_asn1("500101000000Z"), Some(-631_152_000)); // 1950
        assert_eq!(parse_asn1("491231235959Z"), Some(2_524_607_999)); // 2049
        for bad in [
            "",
            "2612012209Z",
            "261201220947",
            "261201220947+0100",
            "261301220947Z",
            "261201250947Z",
        ] {
            assert_eq!(parse_asn1(bad), None, "{bad}");
        }
    }

    #[test]
    fn openssl_times_convert() {
        for secs in [0, 1_796_162_987, -631_152_000, 4_102_444_800] {
            let t = openssl::asn1::Asn1Time::from_unix(secs).unwrap();
            assert_eq!(of_asn1(&t), Some(secs));
        }
    }

    #[test]
    fn system_times_before_and_after_the_epoch() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_millis(1_500)), 1);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_millis(1_500)), -2);
    }

    #[test]
    fn civil_dates_across_leap_rules() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1)); // 2100 is not a leap year
    }
}
