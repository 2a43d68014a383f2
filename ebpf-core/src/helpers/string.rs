//! The string helpers: `bpf_strncmp` and `bpf_strtol`/`bpf_strtoul`, with
//! Linux's results (`strncmp`'s -1/0/1; `__bpf_strtoull`'s parsing,
//! errors and count of bytes consumed).

use crate::errno::Errno;
use crate::error::HelperError;

use super::{ProgramMemory, RunContext};

/// `BPF_STRTOX_BASE_MASK`: the flags' only bits, the base.
const BASE_MASK: u64 = 0x1f;
/// Characters after the sign that are parsed (Linux copies at most 63).
const MAX_DIGITS: usize = 63;

/// What parsing a number found: its magnitude, its sign, and how many bytes
/// of the buffer it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Parsed {
    magnitude: u64,
    negative: bool,
    consumed: usize,
}

/// Linux's `__bpf_strtoull`: leading white space, an optional `-`, a base
/// prefix where the base allows (`0x` for 16, `0` for 8 when the base is
/// 0), then digits.
pub(super) fn parse(buf: &[u8], flags: u64) -> Result<Parsed, Errno> {
    let mut base = (flags & BASE_MASK) as u32;
    if buf.is_empty() || !matches!(base, 0 | 8 | 10 | 16) || flags & !BASE_MASK != 0 {
        return Err(Errno::EINVAL);
    }
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let mut at = buf.iter().take_while(|&&c| space(c)).count();
    let negative = buf.get(at) == Some(&b'-');
    if negative {
        at += 1;
    }
    if at == buf.len() {
        return Err(Errno::EINVAL);
    }
    // Linux parses a NUL-terminated copy: the string ends at a NUL.
    let rest = &buf[at..buf.len().min(at + MAX_DIGITS)];
    let rest = &rest[..rest.iter().position(|&c| c == 0).unwrap_or(rest.len())];
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some((c - b'0') as u32),
        b'a'..=b'f' | b'A'..=b'F' => Some(((c | 0x20) - b'a' + 10) as u32),
        _ => None,
    };
    let x = |i: usize| rest.get(i).is_some_and(|&c| c | 0x20 == b'x');
    let hex_after = |i: usize| rest.get(i).and_then(|&c| digit(c)).is_some();
    if base == 0 {
        base = match rest.first() {
            Some(b'0') if x(1) && hex_after(2) => 16,
            Some(b'0') => 8,
            _ => 10,
        };
    }
    let mut i = 0;
    if base == 16 && rest.first() == Some(&b'0') && x(1) {
        i = 2;
    }
    let (start, mut value, mut overflow) = (i, 0u64, false);
    while let Some(d) = rest.get(i).and_then(|&c| digit(c)).filter(|&d| d < base) {
        match value
            .checked_mul(base as u64)
            .and_then(|v| v.checked_add(d as u64))
        {
            Some(v) => value = v,
            None => {
                overflow = true;
                value = value.wrapping_mul(base as u64).wrapping_add(d as u64);
            }
        }
        i += 1;
    }
    if overflow {
        return Err(Errno::ERANGE);
    }
    if i == start {
        return Err(Errno::EINVAL);
    }
    Ok(Parsed {
        magnitude: value,
        negative,
        consumed: at + i,
    })
}

/// `bpf_strtol`'s value: the signed number, or `ERANGE` outside `i64`.
pub(super) fn signed(p: Parsed) -> Result<i64, Errno> {
    if p.negative {
        let v = (p.magnitude as i64).wrapping_neg();
        if v > 0 {
            return Err(Errno::ERANGE);
        }
        Ok(v)
    } else if (p.magnitude as i64) < 0 {
        Err(Errno::ERANGE)
    } else {
        Ok(p.magnitude as i64)
    }
}

impl RunContext<'_> {
    /// `bpf_strncmp(s1, s1_sz, s2)`: Linux's `strncmp` of at most `s1_sz`
    /// bytes, `s2` a NUL-terminated string of a read-only map.
    pub(super) fn strncmp(
        &self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let s1 = self.arg_slice(mem, a[0], a[1] as usize)?;
        for (i, &c1) in s1.iter().enumerate() {
            let mut c2 = [0u8];
            mem.read_with(a[2].wrapping_add(i as u64), &mut c2, self)?;
            if c1 != c2[0] {
                return Ok(if c1 < c2[0] { -1i64 as u64 } else { 1 });
            }
            if c1 == 0 {
                break;
            }
        }
        Ok(0)
    }

    /// `bpf_strtol(buf, buf_len, flags, res)` (`signed`) or `bpf_strtoul`:
    /// the bytes consumed, the value written to `res`; an error writes 0
    /// there (as Linux since 6.11).
    pub(super) fn strtox(
        &self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
        signed_result: bool,
    ) -> Result<u64, HelperError> {
        let buf = self.arg_slice(mem, a[0], a[1] as usize)?;
        let value = parse(buf, a[2]).and_then(|p| match (signed_result, p.negative) {
            (true, _) => signed(p).map(|v| (v as u64, p.consumed)),
            (false, true) => Err(Errno::EINVAL),
            (false, false) => Ok((p.magnitude, p.consumed)),
        });
        let (v, r) = match value {
            Ok((v, consumed)) => (v, consumed as u64),
            Err(e) => (0, e.to_helper_ret()),
        };
        mem.write_with(a[3], &v.to_ne_bytes(), self)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strtol(s: &str, flags: u64) -> Result<(i64, usize), Errno> {
        parse(s.as_bytes(), flags).and_then(|p| signed(p).map(|v| (v, p.consumed)))
    }

    #[test]
    fn numbers_parse_as_linux_parses_them() {
        assert_eq!(strtol("123", 0), Ok((123, 3)));
        assert_eq!(strtol("  -42abc", 10), Ok((-42, 5)));
        assert_eq!(strtol("0x1F", 0), Ok((31, 4)));
        assert_eq!(strtol("0x1F", 16), Ok((31, 4)));
        assert_eq!(strtol("1F", 16), Ok((31, 2)));
        assert_eq!(strtol("017", 0), Ok((15, 3)));
        assert_eq!(strtol("0x", 0), Ok((0, 1)), "0 then x: octal 0");
        assert_eq!(
            strtol("0xg", 16),
            Err(Errno::EINVAL),
            "the prefix, then no digit"
        );
        assert_eq!(strtol("19", 8), Ok((1, 1)));
        assert_eq!(strtol("9223372036854775807", 0), Ok((i64::MAX, 19)));
        assert_eq!(strtol("-9223372036854775808", 0), Ok((i64::MIN, 20)));
        assert_eq!(strtol("9223372036854775808", 0), Err(Errno::ERANGE));
        assert_eq!(strtol("18446744073709551616", 0), Err(Errno::ERANGE));
        assert_eq!(strtol("12\0 34", 0), Ok((12, 2)));
        for bad in ["", "   ", "-", "abc", "-x"] {
            assert_eq!(strtol(bad, 0), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(strtol("1", 2), Err(Errno::EINVAL), "base 2");
        assert_eq!(strtol("1", 1 << 5), Err(Errno::EINVAL), "flags");
        let p = parse(b"18446744073709551615", 0).unwrap();
        assert_eq!((p.magnitude, p.negative), (u64::MAX, false));
    }
}
