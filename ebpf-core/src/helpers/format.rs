//! printf-style formatting for `bpf_trace_printk` and `bpf_snprintf`, with
//! the conversions Linux's `bpf_bprintf_prepare` accepts: `%d %i %u %x %X`
//! with the `l`/`ll` modifiers, `%c`, `%s`, `%p`/`%px`, `%%`, the flags
//! `-+ 0#` and a width and precision. Anything else is `EINVAL`.

use crate::errno::Errno;

/// Most arguments a format may use (Linux's `MAX_BPRINTF_VARARGS`).
pub const MAX_ARGS: usize = 12;

/// Longest string `%s` reads.
const MAX_STR: usize = 256;

/// A fixed buffer that keeps the first `N` bytes written and counts all.
pub struct FixedBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
    total: usize,
}

impl<const N: usize> Default for FixedBuf<N> {
    fn default() -> Self {
        FixedBuf {
            bytes: [0; N],
            len: 0,
            total: 0,
        }
    }
}

impl<const N: usize> FixedBuf<N> {
    fn push(&mut self, b: u8) {
        if self.len < N {
            self.bytes[self.len] = b;
            self.len += 1;
        }
        self.total += 1;
    }

    fn extend(&mut self, s: &[u8]) {
        s.iter().for_each(|&b| self.push(b));
    }

    /// The bytes kept.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// All bytes written, kept or not.
    pub fn total(&self) -> usize {
        self.total
    }
}

/// Rust formatting into the buffer (kernels use it for log lines: what
/// does not fit is cut, never allocated).
impl<const N: usize> core::fmt::Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.extend(s.as_bytes());
        Ok(())
    }
}

#[derive(Default, Clone, Copy)]
struct Spec {
    left: bool,
    plus: bool,
    space: bool,
    zero: bool,
    alt: bool,
    width: usize,
    precision: Option<usize>,
}

fn pad<const N: usize>(out: &mut FixedBuf<N>, n: usize, byte: u8) {
    (0..n).for_each(|_| out.push(byte));
}

fn emit<const N: usize>(
    out: &mut FixedBuf<N>,
    spec: Spec,
    sign: &[u8],
    prefix: &[u8],
    digits: &[u8],
) {
    let zeros = spec.precision.map_or(0, |p| p.saturating_sub(digits.len()));
    let body = sign.len() + prefix.len() + zeros + digits.len();
    let fill = spec.width.saturating_sub(body);
    let zero_fill = !spec.left && spec.zero && spec.precision.is_none();
    if !spec.left && !zero_fill {
        pad(out, fill, b' ');
    }
    out.extend(sign);
    out.extend(prefix);
    if zero_fill {
        pad(out, fill, b'0');
    }
    pad(out, zeros, b'0');
    out.extend(digits);
    if spec.left {
        pad(out, fill, b' ');
    }
}

fn digits(mut v: u64, base: u64, upper: bool, buf: &mut [u8; 24]) -> usize {
    let set = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut n = 0;
    loop {
        buf[23 - n] = set[(v % base) as usize];
        n += 1;
        v /= base;
        if v == 0 {
            return n;
        }
    }
}

/// Formats `fmt` (up to its first NUL) with `args`; `read_str(addr, buf)`
/// reads a NUL-terminated string for `%s` into `buf`, returning its length
/// (0 when unreadable, printed as an empty string as Linux does).
pub fn format<const N: usize>(
    fmt: &[u8],
    args: &[u64],
    read_str: &mut dyn FnMut(u64, &mut [u8]) -> usize,
    out: &mut FixedBuf<N>,
) -> Result<(), Errno> {
    let fmt = fmt.split(|&b| b == 0).next().unwrap_or(&[]);
    let mut next_arg = args.iter().copied();
    let mut i = 0;
    while i < fmt.len() {
        let c = fmt[i];
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = fmt.get(i) {
            match f {
                b'-' => spec.left = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                b'0' => spec.zero = true,
                b'#' => spec.alt = true,
                _ => break,
            }
            i += 1;
        }
        while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
            spec.width = (spec.width * 10 + (d - b'0') as usize).min(256);
            i += 1;
        }
        if fmt.get(i) == Some(&b'.') {
            i += 1;
            let mut p = 0usize;
            while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
                p = (p * 10 + (d - b'0') as usize).min(256);
                i += 1;
            }
            spec.precision = Some(p);
        }
        let mut longs = 0;
        while fmt.get(i) == Some(&b'l') {
            longs += 1;
            i += 1;
        }
        if longs > 2 {
            return Err(Errno::EINVAL);
        }
        let conv = *fmt.get(i).ok_or(Errno::EINVAL)?;
        i += 1;
        if conv == b'%' {
            out.push(b'%');
            continue;
        }
        let arg = next_arg.next().ok_or(Errno::EINVAL)?;
        let mut buf = [0u8; 24];
        match conv {
            b'd' | b'i' => {
                let v = if longs == 0 {
                    arg as i32 as i64
                } else {
                    arg as i64
                };
                let n = digits(v.unsigned_abs(), 10, false, &mut buf);
                let sign: &[u8] = if v < 0 {
                    b"-"
                } else if spec.plus {
                    b"+"
                } else if spec.space {
                    b" "
                } else {
                    b""
                };
                emit(out, spec, sign, b"", &buf[24 - n..]);
            }
            b'u' | b'x' | b'X' => {
                let v = if longs == 0 { arg as u32 as u64 } else { arg };
                let (base, upper) = match conv {
                    b'u' => (10, false),
                    b'x' => (16, false),
                    _ => (16, true),
                };
                let n = digits(v, base, upper, &mut buf);
                let prefix: &[u8] = match (spec.alt && v != 0, conv) {
                    (true, b'x') => b"0x",
                    (true, b'X') => b"0X",
                    _ => b"",
                };
                emit(out, spec, b"", prefix, &buf[24 - n..]);
            }
            b'c' => emit(out, spec, b"", b"", &[arg as u8]),
            b'p' => {
                // `%px` prints the raw value; plain `%p` too (no hashing
                // of pointers: there is nothing to protect a program's
                // own values from).
                if fmt.get(i) == Some(&b'x') {
                    i += 1;
                }
                let n = digits(arg, 16, false, &mut buf);
                let mut s = spec;
                s.precision = Some(16);
                emit(out, s, b"", b"", &buf[24 - n..]);
            }
            b's' => {
                let mut s = [0u8; MAX_STR];
                let n = read_str(arg, &mut s).min(spec.precision.unwrap_or(MAX_STR));
                emit(out, spec, b"", b"", &s[..n]);
            }
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(fmt: &str, args: &[u64]) -> Result<std::string::String, Errno> {
        let mut out = FixedBuf::<256>::default();
        format(
            fmt.as_bytes(),
            args,
            &mut |_, b| {
                b[..5].copy_from_slice(b"hello");
                5
            },
            &mut out,
        )?;
        Ok(std::string::String::from_utf8(out.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn integers_follow_printf() {
        assert_eq!(f("%d %i", &[-5i64 as u64, 7]).unwrap(), "-5 7");
        assert_eq!(f("%d", &[0xffff_ffff]).unwrap(), "-1", "plain %d is 32-bit");
        assert_eq!(f("%ld", &[u64::MAX]).unwrap(), "-1");
        assert_eq!(
            f("%u %lu", &[u64::MAX, u64::MAX]).unwrap(),
            "4294967295 18446744073709551615"
        );
        assert_eq!(f("%x %X %#llx", &[255, 255, 255]).unwrap(), "ff FF 0xff");
        assert_eq!(
            f("[%5d|%-5d|%05d|%+d]", &[42, 42, 42, 42]).unwrap(),
            "[   42|42   |00042|+42]"
        );
        assert_eq!(f("%.3d", &[7]).unwrap(), "007");
        assert_eq!(f("100%%", &[]).unwrap(), "100%");
    }

    #[test]
    fn strings_chars_pointers() {
        assert_eq!(f("%s!", &[0x1000]).unwrap(), "hello!");
        assert_eq!(f("%.2s", &[0x1000]).unwrap(), "he");
        assert_eq!(f("%c%c", &[b'o' as u64, b'k' as u64]).unwrap(), "ok");
        assert_eq!(f("%px", &[0xabc]).unwrap(), "0000000000000abc");
    }

    #[test]
    fn bad_formats_are_einval() {
        assert_eq!(f("%d", &[]), Err(Errno::EINVAL), "missing argument");
        assert_eq!(f("%q", &[1]), Err(Errno::EINVAL));
        assert_eq!(f("%lllu", &[1]), Err(Errno::EINVAL));
        assert_eq!(f("trailing %", &[]), Err(Errno::EINVAL));
    }

    #[test]
    fn output_stops_at_the_buffer_but_counts_everything() {
        let mut out = FixedBuf::<4>::default();
        format(b"abcdef", &[], &mut |_, _| 0, &mut out).unwrap();
        assert_eq!(out.as_bytes(), b"abcd");
        assert_eq!(out.total(), 6);
    }
}
