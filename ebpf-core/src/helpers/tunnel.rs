//! A socket buffer's tunnel metadata (`bpf_skb_set_tunnel_key`,
//! `bpf_skb_get_tunnel_key`), as Linux keeps it in a metadata dst
//! (`struct ip_tunnel_info`): what a tc program sets for a tunnel device
//! to encapsulate with, which `get` reads back. This runtime's tc
//! programs run in test runs, where nothing is sent through a tunnel, so
//! the metadata lives as long as the run.
//!
//! The program's `struct bpf_tunnel_key` (44 bytes, or the shorter sizes
//! of older headers) is copied through [`ProgramMemory`].

use crate::errno::Errno;
use crate::error::HelperError;

use super::packet::ret;
use super::{ProgramMemory, RunContext};

/// `sizeof(struct bpf_tunnel_key)`.
const KEY_SIZE: usize = 44;
/// The sizes of older layouts Linux takes: up to `remote_ipv6[1]` (IPv4
/// only), `tunnel_ext`, `tunnel_label` and `local_ipv6[0]`.
const COMPAT_SIZES: [usize; 4] = [8, 22, 24, 28];
/// Offsets in `struct bpf_tunnel_key`.
const REMOTE: usize = 4;
const TOS: usize = 20;
const TTL: usize = 21;
const EXT: usize = 22;
const LABEL: usize = 24;
const LOCAL: usize = 28;

const BPF_F_TUNINFO_IPV6: u64 = 1 << 0;
const BPF_F_ZERO_CSUM_TX: u64 = 1 << 1;
const BPF_F_DONT_FRAGMENT: u64 = 1 << 2;
const BPF_F_SEQ_NUMBER: u64 = 1 << 3;
const BPF_F_NO_TUNNEL_KEY: u64 = 1 << 4;
/// `bpf_skb_get_tunnel_key`: also read the flags.
const BPF_F_TUNINFO_FLAGS: u64 = 1 << 4;

/// Linux's `TUNNEL_*` flags, in the host order of their big-endian form
/// (`ip_tunnel_flags_to_be16`).
const TUNNEL_CSUM: u16 = 0x01;
const TUNNEL_KEY: u16 = 0x04;
const TUNNEL_SEQ: u16 = 0x08;
const TUNNEL_DONT_FRAGMENT: u16 = 0x0100;
const TUNNEL_NOCACHE: u16 = 0x2000;
/// `IPV6_FLOWLABEL_MASK`.
const FLOWLABEL_MASK: u32 = 0x000f_ffff;

/// `struct ip_tunnel_info` as far as programs see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TunnelInfo {
    ipv6: bool,
    id: u32,
    tos: u8,
    ttl: u8,
    flags: u16,
    /// The tunnel's far end (the outer destination), in network order.
    remote: [u8; 16],
    /// Its near end (the outer source).
    local: [u8; 16],
    label: u32,
}

/// A 32-bit address word of the key, in host order, as network bytes.
fn be_word(key: &[u8], at: usize) -> [u8; 4] {
    u32::from_ne_bytes([key[at], key[at + 1], key[at + 2], key[at + 3]]).to_be_bytes()
}

impl RunContext<'_> {
    /// `bpf_skb_set_tunnel_key(skb, key, size, flags)`.
    pub(super) fn set_tunnel_key(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [ctx, from, size, flags, _] = a;
        let size = size as u32 as usize;
        let allowed = BPF_F_TUNINFO_IPV6
            | BPF_F_ZERO_CSUM_TX
            | BPF_F_DONT_FRAGMENT
            | BPF_F_SEQ_NUMBER
            | BPF_F_NO_TUNNEL_KEY;
        if flags & !allowed != 0 || (size != KEY_SIZE && !COMPAT_SIZES.contains(&size)) {
            return ret(Errno::EINVAL);
        }
        if self.packet(mem, ctx)?.is_none() {
            return ret(Errno::EINVAL);
        }
        // Older layouts: the rest reads as zero.
        let mut key = [0u8; KEY_SIZE];
        mem.read(from, &mut key[..size])?;
        let ipv6 = flags & BPF_F_TUNINFO_IPV6 != 0;
        let label =
            u32::from_ne_bytes([key[LABEL], key[LABEL + 1], key[LABEL + 2], key[LABEL + 3]]);
        let ext = u16::from_ne_bytes([key[EXT], key[EXT + 1]]);
        if (!ipv6 && label != 0) || ext != 0 {
            return ret(Errno::EINVAL);
        }
        let bit = |on: bool, f: u16| if on { f } else { 0 };
        let mut info = TunnelInfo {
            ipv6,
            id: u32::from_ne_bytes([key[0], key[1], key[2], key[3]]),
            tos: key[TOS],
            ttl: key[TTL],
            flags: TUNNEL_NOCACHE
                | bit(flags & BPF_F_DONT_FRAGMENT != 0, TUNNEL_DONT_FRAGMENT)
                | bit(flags & BPF_F_ZERO_CSUM_TX == 0, TUNNEL_CSUM)
                | bit(flags & BPF_F_SEQ_NUMBER != 0, TUNNEL_SEQ)
                | bit(flags & BPF_F_NO_TUNNEL_KEY == 0, TUNNEL_KEY),
            label: if ipv6 { label & FLOWLABEL_MASK } else { 0 },
            ..TunnelInfo::default()
        };
        if ipv6 {
            // The key's IPv6 words are in host order, each a network word.
            for w in 0..4 {
                info.remote[4 * w..4 * w + 4]
                    .copy_from_slice(&key[REMOTE + 4 * w..REMOTE + 4 * w + 4]);
                info.local[4 * w..4 * w + 4]
                    .copy_from_slice(&key[LOCAL + 4 * w..LOCAL + 4 * w + 4]);
            }
        } else {
            info.remote[..4].copy_from_slice(&be_word(&key, REMOTE));
            info.local[..4].copy_from_slice(&be_word(&key, LOCAL));
        }
        self.packet_state.tunnel = Some(info);
        Ok(0)
    }

    /// `bpf_skb_get_tunnel_key(skb, key, size, flags)`: the metadata as
    /// the receiving side names it (the tunnel's far end is the source).
    /// On error the key is zeroed.
    pub(super) fn get_tunnel_key(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [ctx, to, size, flags, _] = a;
        let size = size as u32 as usize;
        let fail = |errno: Errno| -> Result<u64, HelperError> {
            let zeros = [0u8; KEY_SIZE];
            if size <= KEY_SIZE {
                mem.write(to, &zeros[..size])?;
            }
            ret(errno)
        };
        let info = match (self.packet(mem, ctx)?, self.packet_state.tunnel) {
            (Some(_), Some(info)) => info,
            _ => return fail(Errno::EINVAL),
        };
        if flags & !(BPF_F_TUNINFO_IPV6 | BPF_F_TUNINFO_FLAGS) != 0 {
            return fail(Errno::EINVAL);
        }
        if info.ipv6 != (flags & BPF_F_TUNINFO_IPV6 != 0) {
            return fail(Errno::EPROTO);
        }
        // Older key sizes get a prefix; the oldest (up to remote_ipv6[1])
        // has room for IPv4 only.
        let fits = size == KEY_SIZE || (COMPAT_SIZES.contains(&size) && !(size == 8 && info.ipv6));
        if !fits {
            return fail(Errno::EINVAL);
        }
        let mut key = [0u8; KEY_SIZE];
        key[..4].copy_from_slice(&info.id.to_ne_bytes());
        key[TOS] = info.tos;
        key[TTL] = info.ttl;
        if flags & BPF_F_TUNINFO_FLAGS != 0 {
            key[EXT..EXT + 2].copy_from_slice(&info.flags.to_be_bytes());
        }
        // What was set as local is the source of the outer header Linux
        // reports as remote here, and the other way round (`src`/`dst`
        // of `ip_tunnel_key`).
        if info.ipv6 {
            key[REMOTE..REMOTE + 16].copy_from_slice(&info.local);
            key[LOCAL..LOCAL + 16].copy_from_slice(&info.remote);
            key[LABEL..LABEL + 4].copy_from_slice(&info.label.to_ne_bytes());
        } else {
            let host = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]).to_ne_bytes();
            key[REMOTE..REMOTE + 4].copy_from_slice(&host(&info.local[..4]));
            key[LOCAL..LOCAL + 4].copy_from_slice(&host(&info.remote[..4]));
        }
        mem.write(to, &key[..size])?;
        Ok(0)
    }
}
