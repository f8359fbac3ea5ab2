//! A small BER reader, enough to take CMS structures apart for reporting.
//! OpenSSL does the cryptography; this only finds fields. It accepts what
//! OpenSSL accepts from signers (DER, and BER with indefinite lengths and
//! constructed OCTET STRINGs) and, because the bytes come from strangers,
//! bounds nesting and never reads past its slice.

/// Deeper nesting than this is not a CMS structure anyone sends.
const MAX_DEPTH: usize = 32;

pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;
pub const OID: u8 = 0x06;
pub const OCTET_STRING: u8 = 0x04;
pub const INTEGER: u8 = 0x02;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
const CONSTRUCTED: u8 = 0x20;

/// `[n]` context-specific, constructed (EXPLICIT or IMPLICIT SET/SEQUENCE).
pub const fn context(n: u8) -> u8 {
    0xA0 | n
}

/// One element: its identifier octet, its contents and its whole encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub body: &'a [u8],
    pub raw: &'a [u8],
    depth: usize,
}

impl<'a> Tlv<'a> {
    pub fn constructed(&self) -> bool {
        self.tag & CONSTRUCTED != 0
    }

    /// The elements inside a constructed element.
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, String> {
        if !self.constructed() {
            return Err(format!("element 0x{:02x} is not constructed", self.tag));
        }
        let mut out = Vec::new();
        let mut rest = self.body;
        while !rest.is_empty() {
            let (tlv, after) = read(rest, self.depth + 1)?;
            out.push(tlv);
            rest = after;
        }
        Ok(out)
    }

    /// The bytes of an OCTET STRING, joining the pieces of a constructed
    /// (BER) one.
    pub fn octets(&self) -> Result<Vec<u8>, String> {
        if self.tag == OCTET_STRING {
            return Ok(self.body.to_vec());
        }
        if self.tag != OCTET_STRING | CONSTRUCTED {
            return Err("expected an OCTET STRING".into());
        }
        let mut out = Vec::with_capacity(self.body.len());
        for piece in self.children()? {
            out.extend(piece.octets()?);
        }
        Ok(out)
    }

    /// An OBJECT IDENTIFIER in dotted form.
    pub fn oid(&self) -> Result<String, String> {
        if self.tag != OID || self.body.is_empty() || self.body.len() > 64 {
            return Err("expected an OBJECT IDENTIFIER".into());
        }
        let mut arcs: Vec<u64> = Vec::new();
        let mut value: u64 = 0;
        for (i, &b) in self.body.iter().enumerate() {
            if value > (u64::MAX >> 7) {
                return Err("OBJECT IDENTIFIER arc too large".into());
            }
            value = (value << 7) | u64::from(b & 0x7f);
            if b & 0x80 == 0 {
                if arcs.is_empty() {
                    let first = (value / 40).min(2);
                    arcs.push(first);
                    arcs.push(value - first * 40);
                } else {
                    arcs.push(value);
                }
                value = 0;
            } else if i + 1 == self.body.len() {
                return Err("truncated OBJECT IDENTIFIER".into());
            }
        }
        Ok(arcs
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."))
    }
}

/// Reads the single element that makes up `input` (trailing bytes are an error).
pub fn parse(input: &[u8]) -> Result<Tlv<'_>, String> {
    let (tlv, rest) = read(input, 0)?;
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes after the end of the structure",
            rest.len()
        ));
    }
    Ok(tlv)
}

/// Reads one element from the front of `input`; returns it and what follows.
fn read(input: &[u8], depth: usize) -> Result<(Tlv<'_>, &[u8]), String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    let truncated = || "truncated (the data ends inside an element)".to_owned();
    let &tag = input.first().ok_or_else(truncated)?;
    if tag & 0x1f == 0x1f {
        return Err("uses a high tag number, which CMS does not".into());
    }
    let &first = input.get(1).ok_or_else(truncated)?;
    let mut at = 2;
    if first == 0x80 {
        // Indefinite length: constructed only, ends with two zero octets.
        if tag & CONSTRUCTED == 0 {
            return Err("indefinite length on a primitive element".into());
        }
        let start = at;
        loop {
            let rest = input.get(at..).ok_or_else(truncated)?;
            if rest.starts_with(&[0, 0]) {
                let tlv = Tlv {
                    tag,
                    body: &input[start..at],
                    raw: &input[..at + 2],
                    depth,
                };
                return Ok((tlv, &input[at + 2..]));
            }
            let (_, after) = read(rest, depth + 1)?;
            at = input.len() - after.len();
        }
    }
    let len = if first & 0x80 == 0 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 {
            return Err("element length does not fit in 4 octets".into());
        }
        let bytes = input.get(2..2 + n).ok_or_else(truncated)?;
        at += n;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let end = at.checked_add(len).ok_or_else(truncated)?;
    let body = input.get(at..end).ok_or_else(truncated)?;
    let tlv = Tlv {
        tag,
        body,
        raw: &input[..end],
        depth,
    };
    Ok((tlv, &input[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_definite_and_indefinite_lengths() {
        // SEQUENCE { OID 1.2.840.113549.1.7.1 } in DER, then in BER.
        let der = [
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
        ];
        let seq = parse(&der).unwrap();
        assert_eq!(
            seq.children().unwrap()[0].oid().unwrap(),
            "1.2.840.113549.1.7.1"
        );
        let mut ber = vec![0x30, 0x80];
        ber.extend_from_slice(&der[2..]);
        ber.extend_from_slice(&[0, 0]);
        let seq = parse(&ber).unwrap();
        assert_eq!(seq.raw.len(), ber.len());
        assert_eq!(
            seq.children().unwrap()[0].oid().unwrap(),
            "1.2.840.113549.1.7.1"
        );
    }

    #[test]
    fn joins_constructed_octet_strings() {
        let ber = [0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0];
        assert_eq!(parse(&ber).unwrap().octets().unwrap(), b"abc");
    }

    #[test]
    fn rejects_truncation_and_depth_bombs() {
        assert!(parse(&[0x30, 0x05, 0x02, 0x01]).is_err());
        assert!(parse(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(parse(&[0x30, 0x80, 0x02, 0x01, 0x00]).is_err());
        // 1000 nested indefinite-length SEQUENCEs.
        let mut bomb = Vec::new();
        for _ in 0..1000 {
            bomb.extend_from_slice(&[0x30, 0x80]);
        }
        for _ in 0..1000 {
            bomb.extend_from_slice(&[0, 0]);
        }
        assert!(parse(&bomb).unwrap_err().contains("nested deeper"));
    }
}
