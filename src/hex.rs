//! Lower-case hexadecimal, as `sha256sum` and OpenSSL print digests.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lower-case hex to `out` (which may be a zeroized
/// buffer: nothing is allocated on the side).
pub fn push_lower(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
}

pub fn lower(bytes: &[u8]) -> String {
    let mut out = String::new();
    push_lower(&mut out, bytes);
    out
}

/// The bytes of lower-case hex (what [`lower`] writes); `None` for
/// anything else.
pub fn parse_lower(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| DIGITS.iter().position(|&d| d == c).map(|i| i as u8);
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_every_nibble() {
        assert_eq!(super::lower(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::lower(&[]), "");
    }

    #[test]
    fn parses_what_it_writes_and_nothing_else() {
        let bytes = [0x00, 0x0f, 0xa5, 0xff];
        assert_eq!(super::parse_lower(&super::lower(&bytes)).unwrap(), bytes);
        for bad in ["0", "0F", "zz", "0g"] {
            assert_eq!(super::parse_lower(bad), None, "{bad}");
        }
    }
}
