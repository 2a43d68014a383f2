//! SYN cookies from raw headers, as XDP and tc SYN proxies make and check
//! them (`bpf_tcp_raw_gen_syncookie_ipv4`/`_ipv6`,
//! `bpf_tcp_raw_check_syncookie_ipv4`/`_ipv6`), with Linux's construction
//! (`net/ipv4/syncookies.c`): the cookie is a keyed hash of the flow plus
//! the client's sequence number, a minute counter in its top 8 bits and,
//! under a second hash, the index of the MSS it stands for; a cookie
//! checks for two minutes. The keys are this runtime's own (SipHash-2-4,
//! random at first use), so cookies are not Linux's: a cookie made here
//! checks here. The MSS the generator returns is Linux's.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::errno::Errno;
use crate::error::HelperError;
use crate::platform::PlatformRef;

use super::{ProgramMemory, RunContext};

/// Bits of a cookie below the minute counter.
const COOKIEBITS: u32 = 24;
const COOKIEMASK: u32 = (1 << COOKIEBITS) - 1;
/// Minutes a cookie stays good (`MAX_SYNCOOKIE_AGE`).
const MAX_AGE: u32 = 2;
/// The MSS values a cookie can stand for (`msstab`), IPv4 and IPv6.
const MSS_V4: [u16; 4] = [536, 1300, 1440, 1460];
const MSS_V6: [u16; 4] = [1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60];
/// The MSS of a SYN without the option: `TCP_MSS_DEFAULT`, and for IPv6
/// `IPV6_MIN_MTU` less the headers.
const DEFAULT_MSS_V4: u16 = 536;
const DEFAULT_MSS_V6: u16 = 1280 - 40 - 20;
const TCP_HLEN: usize = 20;
pub(super) const IPV4_HLEN: usize = 20;
pub(super) const IPV6_HLEN: usize = 40;

/// The four SipHash keys (two per address family), set once.
static KEYS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
/// 0: not set; 1: being set; 2: set.
static KEYS_STATE: AtomicU32 = AtomicU32::new(0);

/// Key `c` (0 or 1) of `family` (0 IPv4, 1 IPv6), made at first use.
fn key(platform: PlatformRef, family: usize, c: usize) -> (u64, u64) {
    if KEYS_STATE.load(Ordering::Acquire) != 2 {
        if KEYS_STATE
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire)
            .is_ok()
        {
            for k in &KEYS {
                let v = (u64::from(platform.random_u32()) << 32) | u64::from(platform.random_u32());
                k.store(v, Ordering::Relaxed);
            }
            KEYS_STATE.store(2, Ordering::Release);
        } else {
            // Another CPU is setting them: a few random draws.
            while KEYS_STATE.load(Ordering::Acquire) != 2 {
                core::hint::spin_loop();
            }
        }
    }
    let i = 4 * family + 2 * c;
    (
        KEYS[i].load(Ordering::Relaxed),
        KEYS[i + 1].load(Ordering::Relaxed),
    )
}

/// SipHash-2-4 of `data` under key `(k0, k1)`.
fn siphash(k0: u64, k1: u64, data: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let round = |v: &mut [u64; 4]| {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    };
    let compress = |v: &mut [u64; 4], m: u64| {
        v[3] ^= m;
        round(v);
        round(v);
        v[0] ^= m;
    };
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        compress(&mut v, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    compress(&mut v, u64::from_le_bytes(last));
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// What a cookie hashes: the addresses and ports of the flow, from the IP
/// and TCP headers as they are in the packet.
struct Flow<'a> {
    family: usize,
    addrs: &'a [u8],
    ports: [u8; 4],
}

impl Flow<'_> {
    fn hash(&self, platform: PlatformRef, count: u32, c: usize) -> u32 {
        let (k0, k1) = key(platform, self.family, c);
        let mut data = [0u8; 40];
        let n = self.addrs.len();
        data[..n].copy_from_slice(self.addrs);
        data[n..n + 4].copy_from_slice(&self.ports);
        data[n + 4..n + 8].copy_from_slice(&count.to_ne_bytes());
        siphash(k0, k1, &data[..n + 8]) as u32
    }

    /// Linux's `secure_tcp_syn_cookie`.
    fn cookie(&self, platform: PlatformRef, count: u32, seq: u32, data: u32) -> u32 {
        self.hash(platform, 0, 0)
            .wrapping_add(seq)
            .wrapping_add(count << COOKIEBITS)
            .wrapping_add(self.hash(platform, count, 1).wrapping_add(data) & COOKIEMASK)
    }

    /// Linux's `check_tcp_syn_cookie`: the data a cookie holds, if it is
    /// young enough.
    fn data(&self, platform: PlatformRef, now: u32, cookie: u32, seq: u32) -> Option<u32> {
        let c = cookie.wrapping_sub(self.hash(platform, 0, 0).wrapping_add(seq));
        let diff = now.wrapping_sub(c >> COOKIEBITS) & (u32::MAX >> COOKIEBITS);
        (diff < MAX_AGE)
            .then(|| c.wrapping_sub(self.hash(platform, now.wrapping_sub(diff), 1)) & COOKIEMASK)
    }
}

/// The MSS option of a TCP header, if any (Linux's `tcp_parse_mss_option`).
fn mss_option(th: &[u8]) -> Option<u16> {
    let mut opts = th.get(TCP_HLEN..)?;
    let mut mss = None;
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => break,
            1 => opts = rest,
            _ => {
                let Some(&size) = rest.first() else { break };
                let size = size as usize;
                if size < 2 || size > opts.len() {
                    break;
                }
                if kind == 2 && size == 4 {
                    let v = u16::from_be_bytes([opts[2], opts[3]]);
                    if v != 0 {
                        mss = Some(v);
                    }
                }
                opts = &opts[size..];
            }
        }
    }
    mss
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl RunContext<'_> {
    /// The minute counter cookies carry (`tcp_cookie_time`).
    fn cookie_time(&self) -> u32 {
        (self.platform.monotonic_ns() / 60_000_000_000) as u32
    }

    /// The IP header argument of a SYN cookie helper (`v6`: 40 bytes,
    /// else 20, at the start of the buffer) and its address family.
    fn ip_header(
        &self,
        mem: &ProgramMemory<'_, '_>,
        addr: u64,
        v6: bool,
    ) -> Result<([u8; IPV6_HLEN], usize, usize), HelperError> {
        let (ip_len, family) = if v6 { (IPV6_HLEN, 1) } else { (IPV4_HLEN, 0) };
        let mut iph = [0u8; IPV6_HLEN];
        mem.read_with(addr, &mut iph[..ip_len], self)?;
        Ok((iph, ip_len, family))
    }

    /// `bpf_tcp_raw_gen_syncookie_ipv4/6(iph, th, th_len)`: the cookie in
    /// the low 32 bits, the MSS it stands for above; `-EINVAL` for a TCP
    /// header whose length is not `th_len`.
    pub(super) fn gen_syncookie(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
        v6: bool,
    ) -> Result<u64, HelperError> {
        let (iph, ip_len, family) = self.ip_header(mem, a[0], v6)?;
        let th_len = a[2] as u32 as usize;
        let th = self.arg_slice(mem, a[1], th_len)?;
        if th_len < TCP_HLEN || th_len != usize::from(th[12] >> 4) * 4 {
            return Ok(Errno::EINVAL.to_helper_ret());
        }
        let (table, default) = if v6 {
            (&MSS_V6, DEFAULT_MSS_V6)
        } else {
            (&MSS_V4, DEFAULT_MSS_V4)
        };
        let mss = mss_option(th).unwrap_or(default);
        let index = (1..table.len())
            .rev()
            .find(|&i| mss >= table[i])
            .unwrap_or(0);
        let flow = flow_of(&iph[..ip_len], th, family);
        let cookie = flow.cookie(
            self.platform,
            self.cookie_time(),
            u32_at(th, 4),
            index as u32,
        );
        Ok(u64::from(cookie) | (u64::from(table[index]) << 32))
    }

    /// `bpf_tcp_raw_check_syncookie_ipv4/6(iph, th)`: 0 when the ACK's
    /// acknowledgement number is a good cookie for its flow, else
    /// `-EACCES`.
    pub(super) fn check_syncookie(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
        v6: bool,
    ) -> Result<u64, HelperError> {
        let (iph, ip_len, family) = self.ip_header(mem, a[0], v6)?;
        let mut th = [0u8; TCP_HLEN];
        mem.read_with(a[1], &mut th, self)?;
        let flow = flow_of(&iph[..ip_len], &th, family);
        let cookie = u32_at(&th, 8).wrapping_sub(1);
        let seq = u32_at(&th, 4).wrapping_sub(1);
        let good = flow
            .data(self.platform, self.cookie_time(), cookie, seq)
            .is_some_and(|i| (i as usize) < MSS_V4.len().min(MSS_V6.len()));
        Ok(if good {
            0
        } else {
            Errno::EACCES.to_helper_ret()
        })
    }
}

/// The flow of headers `iph` and `th`.
fn flow_of<'a>(iph: &'a [u8], th: &[u8], family: usize) -> Flow<'a> {
    // IPv4 addresses at 12..20, IPv6 at 8..40.
    let addrs = if family == 0 {
        &iph[12..20]
    } else {
        &iph[8..40]
    };
    Flow {
        family,
        addrs,
        ports: [th[0], th[1], th[2], th[3]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siphash_2_4_gives_the_reference_vector() {
        // The SipHash paper's example: key 00..0f, message 00..0e.
        let k0 = u64::from_le_bytes([0, 1, 2, 3, 4, 5, 6, 7]);
        let k1 = u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]);
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash(k0, k1, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn the_mss_option_is_found_as_linux_finds_it() {
        let th = |opts: &[u8]| {
            let mut t = [0u8; 20].to_vec();
            t.extend_from_slice(opts);
            t
        };
        assert_eq!(mss_option(&th(&[2, 4, 0x05, 0xb4])), Some(1460));
        assert_eq!(mss_option(&th(&[1, 1, 2, 4, 0x05, 0x00, 0, 0])), Some(1280));
        assert_eq!(mss_option(&th(&[0, 2, 4, 0x05, 0xb4])), None, "after EOL");
        assert_eq!(mss_option(&th(&[2, 4, 0, 0])), None, "zero");
        assert_eq!(mss_option(&th(&[3, 3, 7, 2, 4, 1, 0])), Some(256));
        assert_eq!(mss_option(&th(&[2, 8, 1, 0])), None, "partial");
        assert_eq!(mss_option(&th(&[])), None);
    }
}
