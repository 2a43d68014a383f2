//! The packet helpers of socket filter, tc and XDP programs, on the packet
//! the run's context shows ([`PacketLayout`]): reading and writing bytes,
//! checksums, the flow hash, VLAN tags, redirects and the MTU, with
//! Linux's semantics and return values (`net/core/filter.c`).
//!
//! Every helper takes the context as its first argument (but redirect); it
//! must be the run's own (a checked program may pass anything: `-EINVAL`).
//! Packet bytes are reached only through [`ProgramMemory`], after an
//! explicit bounds check against the packet, so that an offset never lands
//! in other memory the program may reach.
//!
//! Helpers that move the packet's start or end (`bpf_xdp_adjust_head`,
//! `bpf_skb_change_tail`, ...) move it inside the room the run granted
//! around it (a test run's: 256 bytes in front, up to 3776 bytes from the
//! buffer's start behind, as Linux's XDP test run); where Linux would
//! reallocate a socket buffer beyond that, they return `-ENOMEM`. A second
//! VLAN tag, or popping one from the payload, returns `-ENOTSUPP`.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::errno::Errno;
use crate::error::HelperError;
use crate::maps::MapType;
use crate::platform::PlatformRef;
use crate::prog_type::{skb::offset, PacketLayout, ProgType, ETH_HLEN};

use super::{ids, ProgramMemory, RunContext};

/// `BPF_F_RECOMPUTE_CSUM` and `BPF_F_INVALIDATE_HASH` of `skb_store_bytes`.
const BPF_F_RECOMPUTE_CSUM: u64 = 1;
const BPF_F_INVALIDATE_HASH: u64 = 2;
/// The field size bits of the checksum helpers' flags.
const BPF_F_HDR_FIELD_MASK: u64 = 0xf;
const BPF_F_PSEUDO_HDR: u64 = 1 << 4;
const BPF_F_MARK_MANGLED_0: u64 = 1 << 5;
const BPF_F_MARK_ENFORCE: u64 = 1 << 6;
const BPF_F_IPV6: u64 = 1 << 7;
/// What a checksum of 0 is written as when 0 means "none" (UDP).
const CSUM_MANGLED_0: u16 = 0xffff;
/// `bpf_csum_level` levels.
const BPF_CSUM_LEVEL_QUERY: u64 = 0;
const BPF_CSUM_LEVEL_INC: u64 = 1;
const BPF_CSUM_LEVEL_DEC: u64 = 2;
const BPF_CSUM_LEVEL_RESET: u64 = 3;
/// `SKB_MAX_CSUM_LEVEL`.
const MAX_CSUM_LEVEL: u8 = 3;
/// `bpf_skb_load_bytes_relative` start headers.
const BPF_HDR_START_MAC: u64 = 0;
const BPF_HDR_START_NET: u64 = 1;
/// `BPF_F_INGRESS` of `bpf_redirect`.
const BPF_F_INGRESS: u64 = 1;
const TC_ACT_SHOT: u64 = 2;
const TC_ACT_REDIRECT: u64 = 7;
const XDP_ABORTED: u64 = 0;
const XDP_REDIRECT: u64 = 4;
/// `BPF_MTU_CHK_SEGS` and the check's results.
const BPF_MTU_CHK_SEGS: u64 = 1;
const BPF_MTU_CHK_RET_SUCCESS: u64 = 0;
const BPF_MTU_CHK_RET_FRAG_NEEDED: u64 = 1;
/// 802.1Q and 802.1ad, in network byte order as programs pass them.
const ETH_P_8021Q: u16 = 0x8100u16.to_be();
const ETH_P_8021AD: u16 = 0x88a8u16.to_be();
/// Bytes copied at once between the packet and program memory.
const CHUNK: usize = 256;
/// IPv4 and IPv6, in network byte order as the context holds them.
pub(super) const ETH_P_IP: u16 = 0x0800u16.to_be();
pub(super) const ETH_P_IPV6: u16 = 0x86ddu16.to_be();
/// Base header lengths, and what IPv4 to IPv6 adds.
const IPV4_HLEN: u64 = 20;
const IPV6_HLEN: u64 = 40;
const IPV6_GROWTH: u64 = IPV6_HLEN - IPV4_HLEN;
/// `sizeof(struct bpf_redir_neigh)`.
const REDIR_NEIGH_SIZE: u64 = 20;
/// `bpf_skb_adjust_room` modes and flags.
const ADJ_ROOM_NET: u32 = 0;
const ADJ_ROOM_MAC: u32 = 1;
const ADJ_ROOM_FIXED_GSO: u64 = 1 << 0;
const ADJ_ROOM_ENCAP_L3_IPV4: u64 = 1 << 1;
const ADJ_ROOM_ENCAP_L3_IPV6: u64 = 1 << 2;
const ADJ_ROOM_ENCAP_L3_MASK: u64 = ADJ_ROOM_ENCAP_L3_IPV4 | ADJ_ROOM_ENCAP_L3_IPV6;
const ADJ_ROOM_ENCAP_L4_GRE: u64 = 1 << 3;
const ADJ_ROOM_ENCAP_L4_UDP: u64 = 1 << 4;
const ADJ_ROOM_ENCAP_L4_MASK: u64 = ADJ_ROOM_ENCAP_L4_GRE | ADJ_ROOM_ENCAP_L4_UDP;
const ADJ_ROOM_NO_CSUM_RESET: u64 = 1 << 5;
const ADJ_ROOM_ENCAP_L2_ETH: u64 = 1 << 6;
const ADJ_ROOM_DECAP_L3_IPV4: u64 = 1 << 7;
const ADJ_ROOM_DECAP_L3_IPV6: u64 = 1 << 8;
const ADJ_ROOM_DECAP_L3_MASK: u64 = ADJ_ROOM_DECAP_L3_IPV4 | ADJ_ROOM_DECAP_L3_IPV6;
const ADJ_ROOM_ENCAP_L2_SHIFT: u64 = 56;
/// Every flag Linux's `bpf_skb_adjust_room` knows (`BPF_F_ADJ_ROOM_MASK`).
const ADJ_ROOM_MASK: u64 = ADJ_ROOM_FIXED_GSO
    | ADJ_ROOM_ENCAP_L3_MASK
    | ADJ_ROOM_ENCAP_L4_MASK
    | ADJ_ROOM_ENCAP_L2_ETH
    | (0xff << ADJ_ROOM_ENCAP_L2_SHIFT)
    | ADJ_ROOM_DECAP_L3_MASK;
/// `bpf_skb_set_tstamp` clocks.
const SKB_CLOCK_REALTIME: u32 = 0;
const SKB_CLOCK_MONOTONIC: u32 = 1;
const SKB_CLOCK_TAI: u32 = 2;

/// The network device a run's packet is on: a test run's is the loopback
/// device, as Linux's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetDevice {
    /// Its index.
    pub ifindex: u32,
    /// Its MTU.
    pub mtu: u32,
    /// Bytes of its link-layer header.
    pub hard_header_len: u32,
}

impl NetDevice {
    /// Linux's loopback device: index 1, a 64 KiB MTU, Ethernet headers.
    pub const LOOPBACK: NetDevice = NetDevice {
        ifindex: 1,
        mtu: 65536,
        hard_header_len: ETH_HLEN as u32,
    };
}

/// What the helpers remember of one packet besides its bytes and context:
/// the checksum state and whether its hash is set (`sk_buff`'s
/// `ip_summed`, `csum_level` and `sw_hash`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PacketState {
    /// `CHECKSUM_UNNECESSARY` (else `CHECKSUM_NONE`, as a test run's).
    csum_unnecessary: bool,
    csum_level: u8,
    hash_valid: bool,
    /// Encapsulated by `bpf_skb_adjust_room` (`skb->encapsulation`).
    encapsulated: bool,
    /// The tunnel metadata `bpf_skb_set_tunnel_key` attached (Linux's
    /// metadata dst).
    pub(super) tunnel: Option<super::tunnel::TunnelInfo>,
}

/// The packet as one call sees it.
#[derive(Clone, Copy)]
pub(super) struct Packet {
    pub(super) ctx: u64,
    /// First byte programs see.
    pub(super) data: u64,
    /// One past the last.
    pub(super) end: u64,
    /// Start of the metadata in front of `data` (XDP), else `data`.
    meta: u64,
    /// The room the packet may move in.
    room: (u64, u64),
    layout: PacketLayout,
}

/// Bytes of Linux's `struct xdp_frame`, kept at the room's start.
const XDP_FRAME_SIZE: u64 = 40;
/// Largest metadata (`xdp_metalen_invalid`: what `skb_shared_info`'s
/// `meta_len` holds).
pub(crate) const XDP_META_MAX: u64 = 255;
/// Largest socket buffer the skb helpers make (Linux's `BPF_SKB_MAX_LEN`,
/// `SKB_MAX_ALLOC`: four pages less the shared info).
const SKB_MAX_LEN: u64 = 4 * 4096 - 320;
/// `PACKET_OTHERHOST`, the last packet type `bpf_skb_change_type` takes.
const PACKET_OTHERHOST: u32 = 3;
/// Offset of `pkt_type` in `struct __sk_buff`.
const PKT_TYPE: usize = 4;

impl Packet {
    /// The link-layer header's start (before `data` for socket filters).
    pub(super) fn mac(&self) -> u64 {
        self.data.saturating_sub(self.layout.link_header as u64)
    }

    /// `len` bytes at `data + off`, if inside the packet.
    pub(super) fn span(&self, off: u64, len: u64) -> Option<u64> {
        let at = self.data.checked_add(off)?;
        (at.checked_add(len)? <= self.end).then_some(at)
    }
}

pub(super) fn ret(errno: Errno) -> Result<u64, HelperError> {
    Ok(errno.to_helper_ret())
}

/// The 32-bit one's complement sum of `bytes` (32-bit words in memory
/// order, the last one padded with zeros) and `seed`, as x86-64's
/// `csum_partial` computes it.
fn csum_partial(bytes: &[u8], seed: u32) -> u32 {
    let mut sum = seed as u64;
    for w in bytes.chunks(4) {
        let mut word = [0u8; 4];
        word[..w.len()].copy_from_slice(w);
        sum += u32::from_ne_bytes(word) as u64;
    }
    fold64(sum)
}

fn fold64(mut sum: u64) -> u32 {
    while sum >> 32 != 0 {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    sum as u32
}

/// A 32-bit one's complement sum folded to 16 bits, not complemented.
fn from32to16(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// `csum_add`: one's complement addition of 32-bit sums.
fn csum_add(a: u32, b: u32) -> u32 {
    let (s, carry) = a.overflowing_add(b);
    s.wrapping_add(carry as u32)
}

/// `csum_fold`: a 32-bit sum folded to the 16-bit checksum field.
fn csum_fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// `csum_replace4`: the checksum `check` after the 32-bit word `from`
/// became `to` (both in memory order).
fn csum_replace4(check: u16, from: u32, to: u32) -> u16 {
    let unfolded = !(check as u32);
    csum_fold(csum_add(csum_add(unfolded, !from), to))
}

/// `csum_replace2`: likewise for a 16-bit word.
fn csum_replace2(check: u16, from: u16, to: u16) -> u16 {
    let add16 = |a: u16, b: u16| {
        let (s, carry) = a.overflowing_add(b);
        s.wrapping_add(carry as u16)
    };
    !add16(add16(!check, !from), to)
}

/// `csum_replace_by_diff`: the checksum after adding the 32-bit sum `diff`.
fn csum_replace_by_diff(check: u16, diff: u32) -> u16 {
    csum_fold(csum_add(diff, !(check as u32)))
}

impl RunContext<'_> {
    /// `bpf_perf_event_output(ctx, map, flags, data, size)`: one record of
    /// `data` followed by the first `flags >> 32` bytes of the packet, into
    /// the slot `flags` names (`BPF_F_CURRENT_CPU`: this CPU's), with
    /// Linux's answers (`-EINVAL` for unknown flags, `-EFAULT` for more
    /// packet than there is, then the map's own).
    pub(super) fn perf_event_output(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        args: [u64; 5],
    ) -> Result<u64, HelperError> {
        use crate::maps::perf::{BPF_F_CTXLEN_MASK, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK};
        let [ctx, map, flags, data, size] = args;
        let perf = self
            .map_arg(map)?
            .perf()
            .ok_or(HelperError::Other("map is not a perf event array"))?;
        if flags & !(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK) != 0 {
            return Ok(Errno::EINVAL.to_helper_ret());
        }
        let data = self.arg_slice(mem, data, size as usize)?;
        let ctx_len = ((flags & BPF_F_CTXLEN_MASK) >> 32) as usize;
        let packet: &[u8] = match (ctx_len, self.packet(mem, ctx)?) {
            (0, _) => &[],
            (n, Some(p)) if n as u64 <= p.end - p.data => self.arg_slice(mem, p.data, n)?,
            _ => return Ok(Errno::EFAULT.to_helper_ret()),
        };
        let index = match flags & BPF_F_INDEX_MASK {
            BPF_F_CURRENT_CPU => self.cpu() as u64,
            i => i,
        };
        Ok(match perf.output(index, &[data, packet]) {
            Ok(()) => 0,
            Err(e) => e.to_helper_ret(),
        })
    }

    /// The packet of the run whose context is `ctx`; `None` when `ctx` is
    /// not the run's context or the type has no packet.
    pub(super) fn packet(
        &self,
        mem: &ProgramMemory<'_, '_>,
        ctx: u64,
    ) -> Result<Option<Packet>, HelperError> {
        if ctx != self.run_ctx {
            return Ok(None);
        }
        let Some(layout) = ProgType::from_u32(self.run_type)
            .ok()
            .and_then(|t| t.spec().packet)
        else {
            return Ok(None);
        };
        let word = |at: usize| -> Result<u64, HelperError> {
            let mut w = [0u8; 8];
            mem.read(ctx + at as u64, &mut w)?;
            Ok(u64::from_ne_bytes(w))
        };
        let [data, end, meta] = [
            word(layout.pointers[0])?,
            word(layout.pointers[1])?,
            word(layout.pointers[2])?,
        ];
        let room = (word(layout.room[0])?, word(layout.room[1])?);
        Ok(Some(Packet {
            ctx,
            data,
            end: end.max(data),
            meta: meta.min(data),
            room,
            layout,
        }))
    }

    fn ctx_u32(
        &self,
        mem: &ProgramMemory<'_, '_>,
        p: &Packet,
        off: usize,
    ) -> Result<u32, HelperError> {
        let mut b = [0u8; 4];
        mem.read(p.ctx + off as u64, &mut b)?;
        Ok(u32::from_ne_bytes(b))
    }

    fn set_ctx_u32(
        &self,
        mem: &ProgramMemory<'_, '_>,
        p: &Packet,
        off: usize,
        v: u32,
    ) -> Result<(), HelperError> {
        mem.write_context(p.ctx + off as u64, &v.to_ne_bytes())
    }

    /// Copies `len` bytes from `src` to `dst`, either of which may be the
    /// packet, in chunks that never cross `split` (the start of the packet
    /// a socket filter sees: its link header is another region).
    pub(super) fn copy(
        &self,
        mem: &ProgramMemory<'_, '_>,
        src: u64,
        dst: u64,
        len: u64,
        split: u64,
    ) -> Result<(), HelperError> {
        let mut buf = [0u8; CHUNK];
        let mut done = 0u64;
        while done < len {
            let at = src.wrapping_add(done);
            let mut n = (len - done).min(CHUNK as u64);
            if at < split && at.saturating_add(n) > split {
                n = split - at;
            }
            let chunk = &mut buf[..n as usize];
            mem.read_with(at, chunk, self)?;
            mem.write_with(dst.wrapping_add(done), chunk, self)?;
            done += n;
        }
        Ok(())
    }

    /// Where the frame of `p` starts: its link-layer header, if the run
    /// has it, else `data`.
    fn frame_start(&self, mem: &ProgramMemory<'_, '_>, p: &Packet) -> u64 {
        let link = p.data - p.mac();
        if link > 0 && mem.allows(p.mac(), link as usize, false) {
            p.mac()
        } else {
            p.data
        }
    }

    /// Writes `len` zero bytes at `dst` (a helper's output on failure).
    fn clear(&self, mem: &ProgramMemory<'_, '_>, dst: u64, len: u64) -> Result<(), HelperError> {
        let zeros = [0u8; CHUNK];
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(CHUNK as u64) as usize;
            mem.write_with(dst.wrapping_add(done), &zeros[..n], self)?;
            done += n as u64;
        }
        Ok(())
    }

    /// Whether program memory `len` bytes at `addr` is there to be written:
    /// checked before a helper does anything, so that a checked program's
    /// bad pointer ends its run without a partial effect.
    fn writable_arg(
        &self,
        mem: &ProgramMemory<'_, '_>,
        addr: u64,
        len: u64,
    ) -> Result<(), HelperError> {
        if mem.allows_with(addr, len as usize, true, self) {
            Ok(())
        } else {
            Err(HelperError::BadPointer {
                addr,
                len: len as usize,
            })
        }
    }

    /// The packet helpers; `None` for another id.
    pub(crate) fn call_packet(
        &mut self,
        id: u32,
        a: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Option<Result<u64, HelperError>> {
        Some(match id {
            ids::SKB_LOAD_BYTES => self.load_bytes(mem, a[0], a[1], a[2], a[3], None),
            ids::SKB_LOAD_BYTES_RELATIVE => {
                self.load_bytes(mem, a[0], a[1], a[2], a[3], Some(a[4]))
            }
            ids::SKB_STORE_BYTES => self.store_bytes(mem, a),
            ids::L3_CSUM_REPLACE => self.csum_replace(mem, a, false),
            ids::L4_CSUM_REPLACE => self.csum_replace(mem, a, true),
            ids::CSUM_DIFF => self.csum_diff(mem, a),
            ids::CSUM_UPDATE => self.with_packet(mem, a[0], |_, _| ret(Errno::ENOTSUPP)),
            ids::CSUM_LEVEL => self.csum_level(mem, a[0], a[1]),
            ids::GET_HASH_RECALC => self.hash_recalc(mem, a[0]),
            ids::SET_HASH => self.with_packet(mem, a[0], |this, p| {
                this.set_ctx_u32(mem, &p, offset::HASH, a[1] as u32)?;
                this.packet_state.hash_valid = true;
                Ok(0)
            }),
            ids::SET_HASH_INVALID => self.with_packet(mem, a[0], |this, p| {
                this.set_ctx_u32(mem, &p, offset::HASH, 0)?;
                this.packet_state.hash_valid = false;
                Ok(0)
            }),
            // Packets here come from no socket of a cgroup (the net_cls
            // class is 0), carry no route (its realm is 0) and no IPsec
            // state (as Linux, the buffer is zeroed and the call fails).
            ids::GET_CGROUP_CLASSID | ids::SKB_CGROUP_CLASSID | ids::GET_ROUTE_REALM => {
                self.with_packet(mem, a[0], |_, _| Ok(0))
            }
            ids::SKB_GET_XFRM_STATE => self.with_packet(mem, a[0], |this, _| {
                this.clear(mem, a[2], a[3])?;
                ret(Errno::EINVAL)
            }),
            ids::SKB_ECN_SET_CE => self.skb_ecn_set_ce(mem, a[0]),
            ids::SKB_VLAN_PUSH => self.vlan_push(mem, a[0], a[1] as u16, a[2] as u16),
            ids::SKB_VLAN_POP => self.vlan_pop(mem, a[0]),
            ids::REDIRECT => Ok(self.redirect(a[1])),
            ids::REDIRECT_MAP => self.redirect_map(a[0], a[1], a[2]),
            ids::CHECK_MTU => self.check_mtu(mem, a),
            ids::XDP_GET_BUFF_LEN => self.with_packet(mem, a[0], |_, p| Ok(p.end - p.data)),
            ids::SKB_GET_TUNNEL_KEY => self.get_tunnel_key(mem, a),
            ids::SKB_SET_TUNNEL_KEY => self.set_tunnel_key(mem, a),
            ids::XDP_LOAD_BYTES | ids::XDP_STORE_BYTES => {
                self.xdp_bytes(mem, a, id == ids::XDP_STORE_BYTES)
            }
            ids::XDP_ADJUST_HEAD => {
                self.with_packet(mem, a[0], |this, p| this.xdp_adjust_head(mem, p, a[1]))
            }
            ids::XDP_ADJUST_META => {
                self.with_packet(mem, a[0], |this, p| this.xdp_adjust_meta(mem, p, a[1]))
            }
            ids::XDP_ADJUST_TAIL => {
                self.with_packet(mem, a[0], |this, p| this.xdp_adjust_tail(mem, p, a[1]))
            }
            ids::SKB_CHANGE_TAIL => {
                self.with_packet(mem, a[0], |this, p| this.skb_change_tail(mem, p, a))
            }
            ids::SKB_CHANGE_HEAD => {
                self.with_packet(mem, a[0], |this, p| this.skb_change_head(mem, p, a))
            }
            // The buffer is linear: every byte is there to be pulled.
            ids::SKB_PULL_DATA => self.with_packet(mem, a[0], |_, p| {
                if a[1] as u32 as u64 > p.end - p.data {
                    ret(Errno::ENOMEM)
                } else {
                    Ok(0)
                }
            }),
            ids::SKB_CHANGE_PROTO => {
                self.with_packet(mem, a[0], |this, p| this.skb_change_proto(mem, p, a))
            }
            ids::SKB_ADJUST_ROOM => {
                self.with_packet(mem, a[0], |this, p| this.skb_adjust_room(mem, p, a))
            }
            ids::SKB_SET_TSTAMP => {
                self.with_packet(mem, a[0], |this, p| this.skb_set_tstamp(mem, p, a))
            }
            ids::CLONE_REDIRECT => self.with_packet(mem, a[0], |this, p| {
                // The clone goes to a device of the run's (its own, in a
                // test run); nothing is transmitted.
                if a[2] & !BPF_F_INGRESS != 0 {
                    return ret(Errno::EINVAL);
                }
                let _ = p;
                if a[1] as u32 != this.device.ifindex {
                    return ret(Errno::EINVAL);
                }
                Ok(0)
            }),
            ids::REDIRECT_NEIGH => {
                let plen = a[2] as u32 as u64;
                if (plen != 0 && plen < REDIR_NEIGH_SIZE) || a[3] != 0 {
                    Ok(TC_ACT_SHOT)
                } else {
                    Ok(TC_ACT_REDIRECT)
                }
            }
            ids::REDIRECT_PEER => Ok(if a[1] != 0 {
                TC_ACT_SHOT
            } else {
                TC_ACT_REDIRECT
            }),
            ids::SKB_CHANGE_TYPE => self.with_packet(mem, a[0], |this, p| {
                let now = this.ctx_u32(mem, &p, PKT_TYPE)?;
                if now > PACKET_OTHERHOST || a[1] as u32 > PACKET_OTHERHOST {
                    return ret(Errno::EINVAL);
                }
                this.set_ctx_u32(mem, &p, PKT_TYPE, a[1] as u32)?;
                Ok(0)
            }),
            _ => return None,
        })
    }

    /// Moves the packet to `meta`..`end` with its data at `data`: the
    /// window programs and helpers may access, the context's pointers and,
    /// for a socket buffer, its `len`.
    fn move_packet(
        &self,
        mem: &ProgramMemory<'_, '_>,
        p: &Packet,
        meta: u64,
        data: u64,
        end: u64,
    ) -> Result<(), HelperError> {
        if !(meta <= data && data <= end && mem.set_packet(meta, end - meta)) {
            return Err(HelperError::Other(
                "a packet helper moved the packet out of its room",
            ));
        }
        let ptr = |i: usize| p.ctx + p.layout.pointers[i] as u64;
        mem.write_context(ptr(0), &data.to_ne_bytes())?;
        mem.write_context(ptr(1), &end.to_ne_bytes())?;
        mem.write_context(ptr(2), &meta.to_ne_bytes())?;
        if p.layout.skb {
            let len = (end - data) as u32;
            self.set_ctx_u32(mem, p, offset::LEN, len)?;
        }
        Ok(())
    }

    /// `bpf_xdp_adjust_head`: moves the packet's start by `delta` (its
    /// metadata with it), keeping an Ethernet header and the room for
    /// Linux's `struct xdp_frame`.
    fn xdp_adjust_head(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        p: Packet,
        delta: u64,
    ) -> Result<u64, HelperError> {
        let delta = delta as i32 as i64;
        let metalen = p.data - p.meta;
        let lowest = p.room.0 + XDP_FRAME_SIZE + metalen;
        let data = p.data.wrapping_add_signed(delta);
        if data < lowest || data > p.end.saturating_sub(ETH_HLEN as u64) {
            return ret(Errno::EINVAL);
        }
        let mut meta = [0u8; XDP_META_MAX as usize + 1];
        let meta = &mut meta[..metalen as usize];
        mem.read(p.meta, meta)?;
        let new_meta = data - metalen;
        if !meta.is_empty() {
            self.move_packet(mem, &p, new_meta.min(p.meta), data, p.end)?;
            mem.write(new_meta, meta)?;
        }
        self.move_packet(mem, &p, new_meta, data, p.end)?;
        Ok(0)
    }

    /// `bpf_xdp_adjust_meta`: moves the metadata's start by `delta`.
    fn xdp_adjust_meta(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        p: Packet,
        delta: u64,
    ) -> Result<u64, HelperError> {
        let meta = p.meta.wrapping_add_signed(delta as i32 as i64);
        if meta < p.room.0 + XDP_FRAME_SIZE || meta > p.data {
            return ret(Errno::EINVAL);
        }
        let metalen = p.data - meta;
        if metalen % 4 != 0 || metalen > XDP_META_MAX {
            return ret(Errno::EACCES);
        }
        self.move_packet(mem, &p, meta, p.data, p.end)?;
        Ok(0)
    }

    /// `bpf_xdp_adjust_tail`: moves the packet's end by `delta`, zeroing
    /// what it grows by.
    fn xdp_adjust_tail(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        p: Packet,
        delta: u64,
    ) -> Result<u64, HelperError> {
        let end = p.end.wrapping_add_signed(delta as i32 as i64);
        if end > p.room.1 || end < p.data + ETH_HLEN as u64 {
            return ret(Errno::EINVAL);
        }
        self.move_end(mem, &p, end)
    }

    /// Moves the packet's end to `end`, zeroing what it grows by.
    fn move_end(
        &self,
        mem: &ProgramMemory<'_, '_>,
        p: &Packet,
        end: u64,
    ) -> Result<u64, HelperError> {
        self.move_packet(mem, p, p.meta, p.data, end)?;
        if end > p.end {
            self.clear(mem, p.end, end - p.end)?;
        }
        Ok(0)
    }

    /// `bpf_skb_change_tail`: the packet becomes `len` bytes long, zeroed
    /// where it grows; it keeps its link-layer header.
    fn skb_change_tail(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        p: Packet,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [_, len, flags, ..] = a;
        let len = len as u32 as u64;
        if flags != 0 || len > SKB_MAX_LEN || len < ETH_HLEN as u64 {
            return ret(Errno::EINVAL);
        }
        let end = p.data + len;
        if end > p.room.1 {
            return ret(Errno::ENOMEM);
        }
        self.move_end(mem, &p, end)
    }

    /// `bpf_skb_change_head`: `room` zero bytes in front of the packet,
    /// which then starts with them (its new link-layer header).
    fn skb_change_head(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        p: Packet,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [_, room, flags, ..] = a;
        let room = room as u32 as u64;
        let len = p.end - p.data;
        if flags != 0 || len + room > SKB_MAX_LEN {
            return ret(Errno::EINVAL);
        }
        if p.data.saturating_sub(p.room.0) < room {
            return ret(Errno::ENOMEM);
        }
        let data = p.data - room;
        self.move_packet(mem, &p, data, data, p.end)?;
        self.clear(mem, data, room)?;
        Ok(0)
    }

    /// `len` zero bytes inserted `off` bytes into the frame (from its
    /// link-layer header): the bytes before them move `len` down into the
    /// headroom (Linux's `bpf_skb_net_hdr_push`).
    fn insert_room(
        &self,
        mem: &ProgramMemory<'_, '_>,
        p: &Packet,
        off: u64,
        len: u64,
    ) -> Result<u64, HelperError> {
        if off > p.end - p.data {
            return ret(Errno::EINVAL);
        }
        if p.data.saturating_sub(p.room.0) < len {
            return ret(Errno::ENOMEM);
        }
        let data = p.data - len;
        self.move_packet(mem, p, data, data, p.end)?;
        self.move_headers(mem, p.data, data, off)?;
        self.clear(mem, data + off, len)?;
        Ok(0)
    }

    /// `len` bytes removed `off` bytes into the frame: the bytes before
    /// them move `len` up (Linux's `bpf_skb_net_hdr_pop`).
    fn remove_room(
        &self,
        mem: &ProgramMemory<'_, '_>,
        p: &Packet,
        off: u64,
        len: u64,
    ) -> Result<u64, HelperError> {
        if off + len > p.end - p.data {
            return ret(Errno::ENOMEM);
        }
        self.move_headers(mem, p.data, p.data + len, off)?;
        let data = p.data + len;
        self.move_packet(mem, p, data, data, p.end)?;
        Ok(0)
    }

    /// Moves the `len` header bytes at `from` to `to`, where they may
    /// overlap: headers (at most a link-layer and an IPv6 header) fit one
    /// chunk of [`copy`](Self::copy), read whole before it is written.
    fn move_headers(
        &self,
        mem: &ProgramMemory<'_, '_>,
        from: u64,
        to: u64,
        len: u64,
    ) -> Result<(), HelperError> {
        if len > CHUNK as u64 {
            return Err(HelperError::Other("packet headers longer than a chunk"));
        }
        self.copy(mem, from, to, len, 0)
    }

    /// The packet's protocol (`skb->protocol`, network byte order).
    pub(super) fn protocol(
        &self,
        mem: &ProgramMemory<'_, '_>,
        p: &Packet,
    ) -> Result<u16, HelperError> {
        Ok(self.ctx_u32(mem, p, offset::PROTOCOL)? as u16)
    }

    /// Sets the protocol, and forgets the flow hash (`skb_clear_hash`).
    fn set_protocol(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        p: &Packet,
        protocol: u16,
    ) -> Result<(), HelperError> {
        self.set_ctx_u32(mem, p, offset::PROTOCOL, protocol as u32)?;
        self.set_ctx_u32(mem, p, offset::HASH, 0)?;
        self.packet_state.hash_valid = false;
        Ok(())
    }

    /// `bpf_skb_change_proto`: IPv4 to IPv6 (20 zero bytes after the
    /// link-layer header) or back (20 bytes fewer there); the program
    /// writes the new header itself.
    fn skb_change_proto(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        p: Packet,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        if a[2] != 0 {
            return ret(Errno::EINVAL);
        }
        let to = a[1] as u16;
        // tc programs see the frame from its link-layer header.
        let off = ETH_HLEN as u64;
        let from = self.protocol(mem, &p)?;
        let grown = match (from, to) {
            (ETH_P_IP, ETH_P_IPV6) => self.insert_room(mem, &p, off, IPV6_GROWTH)?,
            (ETH_P_IPV6, ETH_P_IP) => self.remove_room(mem, &p, off, IPV6_GROWTH)?,
            _ => return ret(Errno::ENOTSUPP),
        };
        if grown != 0 {
            return Ok(grown);
        }
        self.set_protocol(mem, &p, to)?;
        Ok(0)
    }

    /// `bpf_skb_adjust_room`: room added or removed after the link-layer
    /// header (`BPF_ADJ_ROOM_MAC`) or after the base network header
    /// (`BPF_ADJ_ROOM_NET`); encapsulation flags checked and remembered
    /// as Linux does, the checksum state reset unless asked not to.
    fn skb_adjust_room(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        p: Packet,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [_, diff, mode, flags, _] = a;
        let diff = diff as i32;
        let shrink = diff < 0;
        let abs = u64::from(diff.unsigned_abs());
        if flags & !(ADJ_ROOM_MASK | ADJ_ROOM_NO_CSUM_RESET) != 0 {
            return ret(Errno::EINVAL);
        }
        if abs > 0xfff {
            return ret(Errno::EFAULT);
        }
        let protocol = self.protocol(mem, &p)?;
        let base = match protocol {
            ETH_P_IP => IPV4_HLEN,
            ETH_P_IPV6 => IPV6_HLEN,
            _ => return ret(Errno::ENOTSUPP),
        };
        let mut off = ETH_HLEN as u64;
        match mode as u32 {
            ADJ_ROOM_NET => off += base,
            ADJ_ROOM_MAC => {}
            _ => return ret(Errno::ENOTSUPP),
        }
        let mut len_min = base;
        if flags & ADJ_ROOM_DECAP_L3_MASK != 0 {
            if !shrink {
                return ret(Errno::EINVAL);
            }
            len_min = match flags & ADJ_ROOM_DECAP_L3_MASK {
                ADJ_ROOM_DECAP_L3_IPV4 => IPV4_HLEN,
                ADJ_ROOM_DECAP_L3_IPV6 => IPV6_HLEN,
                _ => return ret(Errno::EINVAL),
            };
        }
        let len = p.end - p.data;
        let len_cur = len.saturating_sub(ETH_HLEN as u64);
        if (shrink && (abs >= len_cur || len_cur - abs < len_min))
            || (!shrink && len + abs > SKB_MAX_LEN)
        {
            return ret(Errno::ENOTSUPP);
        }
        let mut new_protocol = protocol;
        let done = if shrink {
            if flags & !(ADJ_ROOM_FIXED_GSO | ADJ_ROOM_DECAP_L3_MASK | ADJ_ROOM_NO_CSUM_RESET) != 0
            {
                return ret(Errno::EINVAL);
            }
            let r = self.remove_room(mem, &p, off, abs)?;
            if flags & ADJ_ROOM_DECAP_L3_IPV6 != 0 && protocol == ETH_P_IP {
                new_protocol = ETH_P_IPV6;
            } else if flags & ADJ_ROOM_DECAP_L3_IPV4 != 0 && protocol == ETH_P_IPV6 {
                new_protocol = ETH_P_IP;
            }
            r
        } else {
            let encap = flags & ADJ_ROOM_ENCAP_L3_MASK != 0;
            if encap {
                let inner_mac_len = (flags >> ADJ_ROOM_ENCAP_L2_SHIFT) as u8 as u64;
                if flags & ADJ_ROOM_ENCAP_L3_MASK == ADJ_ROOM_ENCAP_L3_MASK
                    || flags & ADJ_ROOM_ENCAP_L4_MASK == ADJ_ROOM_ENCAP_L4_MASK
                    || (flags & ADJ_ROOM_ENCAP_L2_ETH != 0 && inner_mac_len < ETH_HLEN as u64)
                {
                    return ret(Errno::EINVAL);
                }
                if self.packet_state.encapsulated {
                    return ret(Errno::EALREADY);
                }
                if inner_mac_len > abs {
                    return ret(Errno::EINVAL);
                }
            }
            let r = self.insert_room(mem, &p, off, abs)?;
            if encap && r == 0 {
                self.packet_state.encapsulated = true;
                if flags & ADJ_ROOM_ENCAP_L3_IPV6 != 0 && protocol == ETH_P_IP {
                    new_protocol = ETH_P_IPV6;
                } else if flags & ADJ_ROOM_ENCAP_L3_IPV4 != 0 && protocol == ETH_P_IPV6 {
                    new_protocol = ETH_P_IP;
                }
            }
            r
        };
        if done != 0 {
            return Ok(done);
        }
        if new_protocol != protocol {
            // Only the protocol: the hash stays (`bpf_skb_change_protocol`).
            let ctx = &p;
            self.set_ctx_u32(mem, ctx, offset::PROTOCOL, new_protocol as u32)?;
        }
        if flags & ADJ_ROOM_NO_CSUM_RESET == 0 && self.packet_state.csum_unnecessary {
            self.packet_state.csum_unnecessary = false;
            self.packet_state.csum_level = 0;
        }
        Ok(0)
    }

    /// `bpf_skb_set_tstamp`: the timestamp and its clock, for IP packets.
    fn skb_set_tstamp(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        p: Packet,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [_, tstamp, clock, ..] = a;
        if !matches!(self.protocol(mem, &p)?, ETH_P_IP | ETH_P_IPV6) {
            return ret(Errno::EOPNOTSUPP);
        }
        match clock as u32 {
            SKB_CLOCK_REALTIME => {}
            SKB_CLOCK_MONOTONIC | SKB_CLOCK_TAI if tstamp != 0 => {}
            _ => return ret(Errno::EINVAL),
        }
        mem.write_context(p.ctx + offset::TSTAMP as u64, &tstamp.to_ne_bytes())?;
        mem.write_context(p.ctx + offset::TSTAMP_TYPE as u64, &[clock as u8])?;
        Ok(0)
    }

    /// Runs `f` on the packet of context `ctx`, or returns `-EINVAL`.
    fn with_packet(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        ctx: u64,
        f: impl FnOnce(&mut Self, Packet) -> Result<u64, HelperError>,
    ) -> Result<u64, HelperError> {
        match self.packet(mem, ctx)? {
            Some(p) => f(self, p),
            None => ret(Errno::EINVAL),
        }
    }

    /// `bpf_skb_load_bytes` (from `data`), or `bpf_skb_load_bytes_relative`
    /// from the header `start`.
    fn load_bytes(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        ctx: u64,
        off: u64,
        to: u64,
        len: u64,
        start: Option<u64>,
    ) -> Result<u64, HelperError> {
        let (off, len) = (off as u32 as u64, len as u32 as u64);
        self.writable_arg(mem, to, len)?;
        let Some(p) = self.packet(mem, ctx)? else {
            return ret(Errno::EINVAL);
        };
        let from = match start {
            None if off <= i32::MAX as u64 => p.data.checked_add(off),
            None => None,
            Some(_) if off > 0xffff => None,
            Some(BPF_HDR_START_MAC) => p.mac().checked_add(off),
            Some(BPF_HDR_START_NET) => p.mac().checked_add(ETH_HLEN as u64 + off),
            Some(_) => None,
        };
        // Within the frame: the link header (if in front) and the packet.
        let lower = self.frame_start(mem, &p);
        match from.filter(|&f| f >= lower && f.checked_add(len).is_some_and(|e| e <= p.end)) {
            Some(from) => {
                self.copy(mem, from, to, len, p.data)?;
                Ok(0)
            }
            None => {
                self.clear(mem, to, len)?;
                ret(Errno::EFAULT)
            }
        }
    }

    pub(super) fn store_bytes(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [ctx, off, from, len, flags] = a;
        let (off, len) = (off as u32 as u64, len as u32 as u64);
        let Some(p) = self.packet(mem, ctx)? else {
            return ret(Errno::EINVAL);
        };
        if flags & !(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH) != 0 {
            return ret(Errno::EINVAL);
        }
        let Some(to) = p.span(off, len).filter(|_| off <= i32::MAX as u64) else {
            return ret(Errno::EFAULT);
        };
        self.copy(mem, from, to, len, 0)?;
        // BPF_F_RECOMPUTE_CSUM changes only a CHECKSUM_COMPLETE sum, which
        // a test run's packet does not have.
        if flags & BPF_F_INVALIDATE_HASH != 0 {
            self.set_ctx_u32(mem, &p, offset::HASH, 0)?;
            self.packet_state.hash_valid = false;
        }
        Ok(0)
    }

    /// `bpf_l3_csum_replace`, or `bpf_l4_csum_replace` if `l4`.
    fn csum_replace(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
        l4: bool,
    ) -> Result<u64, HelperError> {
        let [ctx, off, from, to, flags] = a;
        let Some(p) = self.packet(mem, ctx)? else {
            return ret(Errno::EINVAL);
        };
        let allowed = if l4 {
            BPF_F_MARK_MANGLED_0
                | BPF_F_MARK_ENFORCE
                | BPF_F_PSEUDO_HDR
                | BPF_F_HDR_FIELD_MASK
                | BPF_F_IPV6
        } else {
            BPF_F_HDR_FIELD_MASK
        };
        if flags & !allowed != 0 {
            return ret(Errno::EINVAL);
        }
        let off = off as u32 as u64;
        let Some(at) = p.span(off, 2).filter(|_| off <= 0xffff && off & 1 == 0) else {
            return ret(Errno::EFAULT);
        };
        let mut b = [0u8; 2];
        mem.read(at, &mut b)?;
        let check = u16::from_ne_bytes(b);
        let mangled_zero = l4 && flags & BPF_F_MARK_MANGLED_0 != 0;
        if mangled_zero && flags & BPF_F_MARK_ENFORCE == 0 && check == 0 {
            return Ok(0);
        }
        // A test run's packet is CHECKSUM_NONE: the pseudo-header flag
        // changes nothing but a CHECKSUM_PARTIAL or COMPLETE sum.
        let mut new = match flags & BPF_F_HDR_FIELD_MASK {
            0 if from != 0 => return ret(Errno::EINVAL),
            0 => csum_replace_by_diff(check, to as u32),
            2 if l4 => csum_replace4(check, from as u16 as u32, to as u16 as u32),
            2 => csum_replace2(check, from as u16, to as u16),
            4 => csum_replace4(check, from as u32, to as u32),
            _ => return ret(Errno::EINVAL),
        };
        if mangled_zero && new == 0 {
            new = CSUM_MANGLED_0;
        }
        mem.write(at, &new.to_ne_bytes())?;
        Ok(0)
    }

    /// `bpf_csum_diff`: the sum of `to` minus the sum of `from`, plus
    /// `seed`, folded to 16 bits as Linux returns it since 6.13 (before,
    /// the 32-bit sum depended on the architecture and sizes had to be
    /// multiples of 4).
    fn csum_diff(&mut self, mem: &ProgramMemory<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
        let [from, from_size, to, to_size, seed] = a;
        let (from_size, to_size) = (from_size as u32 as u64, to_size as u32 as u64);
        mem.charge((from_size + to_size) / 64)?;
        let seed = seed as u32;
        let sum = match (from_size, to_size) {
            (0, 0) => seed,
            (0, _) => self.csum_of(mem, to, to_size, seed)?,
            (_, 0) => !self.csum_of(mem, from, from_size, !seed)?,
            _ => {
                let removed = self.csum_of(mem, from, from_size, 0)?;
                csum_add(self.csum_of(mem, to, to_size, seed)?, !removed)
            }
        };
        Ok(from32to16(sum) as u64)
    }

    /// `csum_partial` of `len` bytes of program memory at `addr`.
    fn csum_of(
        &self,
        mem: &ProgramMemory<'_, '_>,
        addr: u64,
        len: u64,
        seed: u32,
    ) -> Result<u32, HelperError> {
        let mut buf = [0u8; CHUNK];
        let mut sum = seed;
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(CHUNK as u64) as usize;
            mem.read_with(addr.wrapping_add(done), &mut buf[..n], self)?;
            sum = csum_partial(&buf[..n], sum);
            done += n as u64;
        }
        Ok(sum)
    }

    fn csum_level(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        ctx: u64,
        level: u64,
    ) -> Result<u64, HelperError> {
        if self.packet(mem, ctx)?.is_none() {
            return ret(Errno::EINVAL);
        }
        let s = &mut self.packet_state;
        match level {
            BPF_CSUM_LEVEL_QUERY if s.csum_unnecessary => return Ok(s.csum_level as u64),
            BPF_CSUM_LEVEL_QUERY => return ret(Errno::EACCES),
            BPF_CSUM_LEVEL_INC if s.csum_unnecessary => {
                s.csum_level = (s.csum_level + 1).min(MAX_CSUM_LEVEL);
            }
            BPF_CSUM_LEVEL_INC => {
                s.csum_unnecessary = true;
                s.csum_level = 0;
            }
            BPF_CSUM_LEVEL_DEC if s.csum_unnecessary && s.csum_level == 0 => {
                s.csum_unnecessary = false;
            }
            BPF_CSUM_LEVEL_DEC if s.csum_unnecessary => s.csum_level -= 1,
            BPF_CSUM_LEVEL_DEC => {}
            BPF_CSUM_LEVEL_RESET => {
                s.csum_unnecessary = false;
                s.csum_level = 0;
            }
            _ => return ret(Errno::EINVAL),
        }
        Ok(0)
    }

    /// `bpf_get_hash_recalc`: the packet's hash, computed from its flow
    /// (addresses, protocol, ports) unless already set, and kept.
    fn hash_recalc(&mut self, mem: &ProgramMemory<'_, '_>, ctx: u64) -> Result<u64, HelperError> {
        let Some(p) = self.packet(mem, ctx)? else {
            return ret(Errno::EINVAL);
        };
        if self.packet_state.hash_valid {
            return Ok(self.ctx_u32(mem, &p, offset::HASH)? as u64);
        }
        let hash = self.flow_hash(mem, &p)?;
        self.set_ctx_u32(mem, &p, offset::HASH, hash)?;
        self.packet_state.hash_valid = true;
        Ok(hash as u64)
    }

    /// A hash of the packet's flow keys (Linux's `__skb_get_hash`; the
    /// values differ, Linux's hash is keyed per boot too): never 0.
    fn flow_hash(&self, mem: &ProgramMemory<'_, '_>, p: &Packet) -> Result<u32, HelperError> {
        let mut head = [0u8; 64];
        let start = self.frame_start(mem, p);
        let n = ((p.end - start) as usize).min(head.len());
        // The link header and the packet are separate regions.
        let link = ((p.data - start) as usize).min(n);
        mem.read(start, &mut head[..link])?;
        mem.read(p.data, &mut head[link..n])?;
        let frame = &head[..n];
        let ethertype = frame
            .get(12..14)
            .map_or(0, |t| u16::from_be_bytes([t[0], t[1]]));
        let keys: &[u8] = match ethertype {
            0x0800 if n >= 34 => {
                let ihl = (frame[14] & 0xf) as usize * 4;
                let l4 = 14 + ihl;
                let ports = frame.get(l4..l4 + 4).unwrap_or(&[]);
                let mut k = [0u8; 13];
                k[..8].copy_from_slice(&frame[26..34]);
                k[8] = frame[23];
                k[9..9 + ports.len()].copy_from_slice(ports);
                return Ok(mix(&k, hash_seed(self.platform)));
            }
            0x86dd if n >= 54 => &frame[22..54],
            _ => frame.get(..14).unwrap_or(frame),
        };
        Ok(mix(keys, hash_seed(self.platform)))
    }

    fn vlan_push(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        ctx: u64,
        proto: u16,
        tci: u16,
    ) -> Result<u64, HelperError> {
        let Some(p) = self.packet(mem, ctx)? else {
            return ret(Errno::EINVAL);
        };
        let proto = if proto == ETH_P_8021Q || proto == ETH_P_8021AD {
            proto
        } else {
            ETH_P_8021Q
        };
        if self.ctx_u32(mem, &p, offset::VLAN_PRESENT)? != 0 {
            // The present tag would move into the payload.
            return ret(Errno::ENOTSUPP);
        }
        self.set_ctx_u32(mem, &p, offset::VLAN_PRESENT, 1)?;
        self.set_ctx_u32(mem, &p, offset::VLAN_TCI, tci as u32)?;
        self.set_ctx_u32(mem, &p, offset::VLAN_PROTO, proto as u32)?;
        Ok(0)
    }

    fn vlan_pop(&mut self, mem: &ProgramMemory<'_, '_>, ctx: u64) -> Result<u64, HelperError> {
        let Some(p) = self.packet(mem, ctx)? else {
            return ret(Errno::EINVAL);
        };
        let protocol = self.ctx_u32(mem, &p, offset::PROTOCOL)? as u16;
        let tagged_payload = protocol == ETH_P_8021Q || protocol == ETH_P_8021AD;
        if self.ctx_u32(mem, &p, offset::VLAN_PRESENT)? != 0 {
            for field in [offset::VLAN_PRESENT, offset::VLAN_TCI, offset::VLAN_PROTO] {
                self.set_ctx_u32(mem, &p, field, 0)?;
            }
            // The next tag, in the payload, would become the present one.
            return if tagged_payload {
                ret(Errno::ENOTSUPP)
            } else {
                Ok(0)
            };
        }
        if tagged_payload {
            // The tag would come out of the payload.
            return ret(Errno::ENOTSUPP);
        }
        Ok(0)
    }

    /// `bpf_redirect`: the verdict that asks for the redirect (a test run
    /// returns it; nothing is transmitted).
    fn redirect(&self, flags: u64) -> u64 {
        if self.run_type == ProgType::Xdp as u32 {
            if flags != 0 {
                XDP_ABORTED
            } else {
                XDP_REDIRECT
            }
        } else if flags & !BPF_F_INGRESS != 0 {
            TC_ACT_SHOT
        } else {
            TC_ACT_REDIRECT
        }
    }

    /// `bpf_redirect_map`: `XDP_REDIRECT` when the map has an entry at
    /// `key` (a test run returns it; nothing is transmitted), else the
    /// action in the low bits of `flags`; `XDP_ABORTED` for unknown flags.
    fn redirect_map(&mut self, map: u64, key: u64, flags: u64) -> Result<u64, HelperError> {
        const ACTION_MASK: u64 = 3;
        const BPF_F_BROADCAST: u64 = 1 << 3;
        const BPF_F_EXCLUDE_INGRESS: u64 = 1 << 4;
        let map = self.map_arg(map)?;
        let t = map.map_type();
        if !t.is_redirect() {
            return Ok(XDP_ABORTED);
        }
        let device_flags = if matches!(t, MapType::DevMap | MapType::DevMapHash) {
            BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS
        } else {
            0
        };
        if flags & !(ACTION_MASK | device_flags) != 0 {
            return Ok(XDP_ABORTED);
        }
        let present = map.prog_lookup(&(key as u32).to_ne_bytes(), 0) != 0;
        Ok(if present || flags & BPF_F_BROADCAST != 0 {
            XDP_REDIRECT
        } else {
            flags & ACTION_MASK
        })
    }

    fn check_mtu(&mut self, mem: &ProgramMemory<'_, '_>, a: [u64; 5]) -> Result<u64, HelperError> {
        let [ctx, ifindex, mtu_len_at, len_diff, flags] = a;
        let Some(p) = self.packet(mem, ctx)? else {
            return ret(Errno::EINVAL);
        };
        let mut b = [0u8; 4];
        mem.read_with(mtu_len_at, &mut b, self)?;
        let mtu_len = u32::from_ne_bytes(b) as i64;
        let len_diff = len_diff as i32 as i64;
        let segs = flags & BPF_MTU_CHK_SEGS != 0;
        if p.layout.skb {
            if flags & !BPF_MTU_CHK_SEGS != 0 || segs && (len_diff != 0 || mtu_len != 0) {
                return ret(Errno::EINVAL);
            }
        } else if flags != 0 {
            return ret(Errno::EINVAL);
        }
        let dev = self.device;
        if ifindex as u32 != 0 && ifindex as u32 != dev.ifindex {
            return ret(Errno::ENODEV);
        }
        let dev_len = dev.mtu as i64 + dev.hard_header_len as i64;
        let len = if mtu_len != 0 {
            mtu_len + dev.hard_header_len as i64
        } else if p.layout.skb {
            self.ctx_u32(mem, &p, offset::LEN)? as i64
        } else {
            (p.end - p.data) as i64
        };
        let verdict = if len + len_diff <= dev_len {
            BPF_MTU_CHK_RET_SUCCESS
        } else {
            BPF_MTU_CHK_RET_FRAG_NEEDED
        };
        mem.write_with(mtu_len_at, &dev.mtu.to_ne_bytes(), self)?;
        Ok(verdict)
    }

    /// `bpf_xdp_load_bytes` / `bpf_xdp_store_bytes`.
    pub(super) fn xdp_bytes(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        a: [u64; 5],
        store: bool,
    ) -> Result<u64, HelperError> {
        let [ctx, off, buf, len, _] = a;
        let (off, len) = (off as u32 as u64, len as u32 as u64);
        let Some(p) = self.packet(mem, ctx)? else {
            return ret(Errno::EINVAL);
        };
        if off > 0xffff || len > 0xffff {
            return ret(Errno::EFAULT);
        }
        let Some(at) = p.span(off, len) else {
            return ret(Errno::EINVAL);
        };
        if store {
            self.copy(mem, buf, at, len, 0)?;
        } else {
            self.copy(mem, at, buf, len, 0)?;
        }
        Ok(0)
    }
}

/// The key of the flow hash: random, chosen once per boot (module load).
fn hash_seed(platform: PlatformRef) -> u32 {
    static SEED: AtomicU32 = AtomicU32::new(0);
    match SEED.load(Ordering::Relaxed) {
        0 => {
            let fresh = platform.random_u32() | 1;
            match SEED.compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => fresh,
                Err(set) => set,
            }
        }
        seed => seed,
    }
}

/// A 32-bit mix of `bytes` keyed by `seed` (FNV-1a, then a finaliser),
/// never 0, as Linux's flow hash.
fn mix(bytes: &[u8], seed: u32) -> u32 {
    let mut h = 0x811c_9dc5u32 ^ seed;
    for &b in bytes {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071's example: the sum of these words, folded, is 0xddf2.
    #[test]
    fn checksums_are_rfc_1071_sums() {
        let words = [0x00u8, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        let sum = csum_partial(&words, 0);
        assert_eq!(!csum_fold(sum), u16::from_ne_bytes([0xdd, 0xf2]));
    }

    #[test]
    fn replacing_a_word_updates_the_checksum_as_recomputing_it() {
        // An IPv4 header's checksum after changing its destination address.
        let mut hdr = [
            0x45u8, 0, 0, 0x28, 0, 0, 0x40, 0, 0x40, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let full = |h: &[u8]| csum_fold(csum_partial(h, 0));
        let check = full(&hdr);
        hdr[10..12].copy_from_slice(&check.to_ne_bytes());
        assert_eq!(full(&hdr), 0, "a correct header sums to 0");
        let from = u32::from_ne_bytes([10, 0, 0, 2]);
        let to = u32::from_ne_bytes([192, 168, 1, 7]);
        hdr[16..20].copy_from_slice(&to.to_ne_bytes());
        let updated = csum_replace4(check, from, to);
        hdr[10..12].copy_from_slice(&updated.to_ne_bytes());
        assert_eq!(full(&hdr), 0);
        // The same change, 16 bits at a time and as a diff.
        let half = |w: u32, i: usize| {
            u16::from_ne_bytes(w.to_ne_bytes()[2 * i..2 * i + 2].try_into().unwrap())
        };
        let by_halves = csum_replace2(
            csum_replace2(check, half(from, 0), half(to, 0)),
            half(from, 1),
            half(to, 1),
        );
        assert_eq!(by_halves, updated);
        let diff = csum_partial(
            &[
                !from.to_ne_bytes()[0],
                !from.to_ne_bytes()[1],
                !from.to_ne_bytes()[2],
                !from.to_ne_bytes()[3],
            ],
            to,
        );
        assert_eq!(csum_replace_by_diff(check, diff), updated);
    }
}
