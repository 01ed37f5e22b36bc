//! Sequence sets in responses (RFC 9051 9 `sequence-set`, RFC 4315 `uid-set`): numbers written as
//! runs, `1:3,7,9:12`, so VANISHED, MODIFIED, COPYUID and ESEARCH ALL stay short for large mailboxes.
//!
//! Runs are taken in the order given, ascending only: `3:5` always means 3, 4, 5, and COPYUID's two
//! sets keep their pairwise order (RFC 4315 3: the n-th source UID went to the n-th destination UID).
//! A caller wanting the shortest form passes the numbers sorted.

use super::number;

/// Writes `ids` as a set. An empty slice writes nothing: the callers' grammar has no empty set, so
/// they do not ask for one (the `debug_assert` says so in tests).
pub fn write(out: &mut Vec<u8>, ids: &[u32]) {
    debug_assert!(!ids.is_empty(), "an empty sequence set has no wire form");
    let mut i = 0;
    while i < ids.len() {
        if i > 0 {
            out.push(b',');
        }
        let start = ids[i];
        let mut end = start;
        while i + 1 < ids.len() && end != u32::MAX && ids[i + 1] == end + 1 {
            end += 1;
            i += 1;
        }
        number(out, start.into());
        if end != start {
            out.push(b':');
            number(out, end.into());
        }
        i += 1;
    }
}

/// Writes runs given as inclusive ranges (already compact), e.g. from an index that stores ranges.
pub fn write_ranges(out: &mut Vec<u8>, ranges: &[(u32, u32)]) {
    for (i, &(a, b)) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        number(out, a.into());
        if b != a {
            out.push(b':');
            number(out, b.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(ids: &[u32]) -> String {
        let mut out = Vec::new();
        write(&mut out, ids);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn runs() {
        assert_eq!(s(&[1]), "1");
        assert_eq!(s(&[1, 2, 3]), "1:3");
        assert_eq!(s(&[1, 2, 3, 7]), "1:3,7");
        assert_eq!(s(&[7, 1, 2, 3]), "7,1:3");
        assert_eq!(s(&[5, 5]), "5,5");
        assert_eq!(s(&[3, 2, 1]), "3,2,1");
        assert_eq!(s(&[41, 43, 44, 45, 116]), "41,43:45,116");
        assert_eq!(s(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
        let mut out = b"x ".to_vec();
        write(&mut out, &[4, 5, 9]);
        assert_eq!(out, b"x 4:5,9");
        let mut out = Vec::new();
        write_ranges(&mut out, &[(1, 3), (5, 5)]);
        assert_eq!(out, b"1:3,5");
    }
}
