//! What a binary plist would expand to, measured before it is parsed.
//!
//! A binary plist (`bplist00`) stores each object once and refers to it by
//! number, so an array may hold the same sub-array many times: 14 references
//! to the next array, 40 levels deep, is a few hundred bytes that a reader
//! walking the references turns into millions of values. This module walks
//! the object table instead — each object once, each reference once, so the
//! cost is linear in the file's size — and charges every object its
//! *expanded* size (values and bytes, counting a shared object as often as
//! it is referenced) before any value is built. A file over the limits is
//! refused at that price.
//!
//! The format (Apple's CFBinaryPList.c, described in its comments): a
//! 32-byte trailer gives the offset table's place and the widths of offsets
//! and references; each object starts with a marker byte, type in the high
//! nibble and a length in the low one (0xF: an integer object follows).

use super::Limits;

/// An object's expansion: values (as the reader counts events: a collection
/// is two, its start and end, plus its items) and bytes of text and data,
/// and how deep it nests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expansion {
    pub values: u64,
    pub bytes: u64,
    pub depth: u64,
}

/// Measures `bytes` (starting `bplist00`) against `limits`: `Ok` with the
/// root's expansion when it is within them, else why not. Malformed tables
/// are left for the parser to report, except where measuring needs them.
pub fn measure(bytes: &[u8], limits: &Limits) -> Result<Expansion, String> {
    let t = Trailer::read(bytes)?;
    let n = t.objects;
    // Every object takes at least one byte and one offset entry: a count
    // beyond the file's size is a lie, refused before anything is allocated.
    if n == 0 || n > bytes.len() as u64 {
        return Err("is not a valid plist: a binary plist with an impossible object count".into());
    }
    let n = n as usize;
    let mut memo: Vec<Option<Expansion>> = vec![None; n];
    let mut visiting = vec![false; n];
    // Depth-first over the object graph without recursion: (object, its
    // children, how many of them are done).
    let mut stack: Vec<(usize, Vec<usize>, usize)> = Vec::new();
    let root = t.root;
    if root >= n as u64 {
        return Err("is not a valid plist: its root object does not exist".into());
    }
    let over = |e: &Expansion| -> Option<String> {
        if e.values > limits.values as u64 {
            Some(format!(
                "holds more than {} values once its shared objects are expanded",
                limits.values
            ))
        } else if e.bytes > limits.expanded_bytes as u64 {
            Some(format!(
                "expands to more than {} of text and data",
                super::size(limits.expanded_bytes as u64)
            ))
        } else if e.depth > limits.depth as u64 {
            Some(format!("nests deeper than {} levels", limits.depth))
        } else {
            None
        }
    };
    let start = |id: usize, visiting: &mut [bool]| -> Result<(Object, usize), String> {
        visiting[id] = true;
        Ok((t.object(bytes, id)?, id))
    };
    let (obj, id) = start(root as usize, &mut visiting)?;
    match obj {
        Object::Leaf(e) => {
            if let Some(why) = over(&e) {
                return Err(why);
            }
            return Ok(e);
        }
        Object::Collection(children) => stack.push((id, children, 0)),
    }
    while let Some((id, children, done)) = stack.last_mut() {
        if *done < children.len() {
            let child = children[*done];
            *done += 1;
            if child >= n {
                return Err(
                    "is not a valid plist: a reference points past the object table".into(),
                );
            }
            if memo[child].is_some() {
                continue;
            }
            if visiting[child] {
                return Err(
                    "is not a valid plist: its objects refer to each other in a cycle".into(),
                );
            }
            if stack.len() > limits.depth {
                return Err(format!("nests deeper than {} levels", limits.depth));
            }
            match start(child, &mut visiting)? {
                (Object::Leaf(e), c) => {
                    if let Some(why) = over(&e) {
                        return Err(why);
                    }
                    visiting[c] = false;
                    memo[c] = Some(e);
                }
                (Object::Collection(grand), c) => stack.push((c, grand, 0)),
            }
            continue;
        }
        // Every child is measured: this collection is two values (start,
        // end) plus its items, expanded.
        let mut e = Expansion {
            values: 2,
            bytes: 0,
            depth: 1,
        };
        for &c in children.iter() {
            let ce = memo[c].unwrap_or_default();
            e.values = e.values.saturating_add(ce.values);
            e.bytes = e.bytes.saturating_add(ce.bytes);
            e.depth = e.depth.max(ce.depth + 1);
        }
        if let Some(why) = over(&e) {
            return Err(why);
        }
        let id = *id;
        visiting[id] = false;
        memo[id] = Some(e);
        stack.pop();
    }
    Ok(memo[root as usize].unwrap_or_default())
}

/// The trailer's facts (the last 32 bytes).
struct Trailer {
    offset_size: usize,
    ref_size: usize,
    objects: u64,
    root: u64,
    table: u64,
}

/// What one object is, for measuring.
enum Object {
    /// A scalar, string or data: its own expansion.
    Leaf(Expansion),
    /// An array, set or dictionary: the objects it refers to (a
    /// dictionary's keys and values alike).
    Collection(Vec<usize>),
}

impl Trailer {
    fn read(bytes: &[u8]) -> Result<Trailer, String> {
        const LEN: usize = 32;
        if bytes.len() < 8 + LEN {
            return Err("is not a valid plist: a binary plist too short for its trailer".into());
        }
        let t = &bytes[bytes.len() - LEN..];
        let be = |s: &[u8]| u64::from_be_bytes(s.try_into().unwrap_or([0; 8]));
        let trailer = Trailer {
            offset_size: usize::from(t[6]),
            ref_size: usize::from(t[7]),
            objects: be(&t[8..16]),
            root: be(&t[16..24]),
            table: be(&t[24..32]),
        };
        if !(1..=8).contains(&trailer.offset_size) || !(1..=8).contains(&trailer.ref_size) {
            return Err("is not a valid plist: a binary plist with bad integer widths".into());
        }
        Ok(trailer)
    }

    /// The offset of object `id` in the file.
    fn offset(&self, bytes: &[u8], id: usize) -> Result<usize, String> {
        let at = (self.table as usize)
            .checked_add(id.checked_mul(self.offset_size).ok_or(TABLE)?)
            .ok_or(TABLE)?;
        let end = at.checked_add(self.offset_size).ok_or(TABLE)?;
        let slice = bytes.get(at..end).ok_or(TABLE)?;
        let offset = uint(slice);
        usize::try_from(offset)
            .ok()
            .filter(|&o| o < bytes.len())
            .ok_or_else(|| "is not a valid plist: an object offset points past the end".into())
    }

    /// Reads object `id`'s marker and what measuring needs of it.
    fn object(&self, bytes: &[u8], id: usize) -> Result<Object, String> {
        let at = self.offset(bytes, id)?;
        let marker = bytes[at];
        let (kind, low) = (marker >> 4, marker & 0x0F);
        let leaf = |bytes: u64| {
            Ok(Object::Leaf(Expansion {
                values: 1,
                bytes,
                depth: 0,
            }))
        };
        match kind {
            // null, booleans, fill; integers, reals, dates; UIDs.
            0x0..=0x3 | 0x8 => leaf(0),
            0x4 | 0x5 => leaf(length(bytes, at, low)?.0),
            // UTF-16: each unit may become up to three bytes of UTF-8.
            0x6 => leaf(length(bytes, at, low)?.0.saturating_mul(3)),
            0xA | 0xC | 0xD => {
                let (count, start) = length(bytes, at, low)?;
                let refs = if kind == 0xD {
                    count.checked_mul(2).ok_or(REFS)?
                } else {
                    count
                };
                let len = usize::try_from(refs)
                    .ok()
                    .and_then(|r| r.checked_mul(self.ref_size))
                    .ok_or(REFS)?;
                let end = start.checked_add(len).ok_or(REFS)?;
                let table = bytes.get(start..end).ok_or(REFS)?;
                let children = table
                    .chunks_exact(self.ref_size)
                    .map(|r| usize::try_from(uint(r)).unwrap_or(usize::MAX))
                    .collect();
                Ok(Object::Collection(children))
            }
            _ => Err(format!(
                "is not a valid plist: unknown binary object type 0x{marker:02X}"
            )),
        }
    }
}

const TABLE: &str = "is not a valid plist: the offset table lies outside the file";
const REFS: &str = "is not a valid plist: a collection's references lie outside the file";

/// A marker's length: the low nibble, or the integer object after it when
/// that is 0xF; with where the object's body starts.
fn length(bytes: &[u8], at: usize, low: u8) -> Result<(u64, usize), String> {
    if low != 0x0F {
        return Ok((u64::from(low), at + 1));
    }
    let bad = || "is not a valid plist: a length that is not an integer".to_owned();
    let marker = *bytes.get(at + 1).ok_or_else(bad)?;
    if marker >> 4 != 0x1 || marker & 0x0F > 3 {
        return Err(bad());
    }
    let width = 1usize << (marker & 0x0F);
    let start = at + 2;
    let digits = bytes.get(start..start + width).ok_or_else(bad)?;
    Ok((uint(digits), start + width))
}

/// A big-endian unsigned integer of 1 to 8 bytes.
fn uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes `objects` (already serialized, 1-byte references) as bplist00.
    pub fn bplist(objects: &[Vec<u8>], root: u64) -> Vec<u8> {
        let mut out = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        for o in objects {
            offsets.push(out.len() as u8);
            out.extend_from_slice(o);
        }
        let table = out.len() as u64;
        out.extend_from_slice(&offsets);
        out.extend_from_slice(&[0; 6]);
        out.push(1);
        out.push(1);
        out.extend_from_slice(&(objects.len() as u64).to_be_bytes());
        out.extend_from_slice(&root.to_be_bytes());
        out.extend_from_slice(&table.to_be_bytes());
        out
    }

    const WIDE: Limits = Limits {
        values: usize::MAX,
        expanded_bytes: usize::MAX,
        depth: 1000,
    };

    #[test]
    fn shared_objects_are_charged_each_time_they_are_referenced() {
        // 0: [1, 1, 1]; 1: [2, 2]; 2: "abc".
        let b = bplist(
            &[
                vec![0xA3, 1, 1, 1],
                vec![0xA2, 2, 2],
                vec![0x53, b'a', b'b', b'c'],
            ],
            0,
        );
        let e = measure(&b, &WIDE).unwrap();
        // Inner array: 2 + 2 strings = 4; outer: 2 + 3 × 4 = 14.
        assert_eq!(e.values, 14);
        assert_eq!(e.bytes, 18);
        assert_eq!(e.depth, 2);
        // The same file parses to exactly that many values.
        let (value, _, _) = crate::read::parse_plist(&b).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 3);
    }

    #[test]
    fn dictionaries_count_keys_and_values() {
        // 0: {1: 2}; 1: "k"; 2: true.
        let b = bplist(&[vec![0xD1, 1, 2], vec![0x51, b'k'], vec![0x09]], 0);
        assert_eq!(measure(&b, &WIDE).unwrap().values, 4);
    }

    #[test]
    fn cycles_and_dangling_references_are_refused() {
        let b = bplist(&[vec![0xA1, 0x00]], 0);
        assert!(measure(&b, &WIDE).unwrap_err().contains("cycle"));
        let b = bplist(&[vec![0xA1, 0x07]], 0);
        assert!(
            measure(&b, &WIDE)
                .unwrap_err()
                .contains("past the object table")
        );
        let mut b = bplist(&[vec![0x09]], 0);
        let n = b.len();
        b[n - 24..n - 16].copy_from_slice(&u64::MAX.to_be_bytes());
        assert!(
            measure(&b, &WIDE)
                .unwrap_err()
                .contains("impossible object count")
        );
    }
}
