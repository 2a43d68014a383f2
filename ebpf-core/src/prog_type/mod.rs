//! Program types: the vocabulary every layer uses for what a program is
//! attached to, numbered as Linux's `enum bpf_prog_type` for the types this
//! runtime provides, plus 0 for a generic program.
//!
//! Each type has its own module, which owns what differs between types:
//! the context structure `r1` points to and which of its fields programs
//! may read and write ([`ContextLayout`]), the helpers its programs may
//! call, and what a `PROG_TEST_RUN` passes them. The loader's checks, the
//! context rewrite and the test run read them from here ([`ProgType::spec`]).

mod context;
mod generic;
mod sched_act;
mod sched_cls;
pub mod skb;
pub mod socket;
mod socket_filter;
mod xdp;

use alloc::vec::Vec;

use crate::errno::Errno;
use crate::error::LoadError;
use crate::helpers::HelperSet;
use crate::insn::Insn;
use crate::memory::{MemoryMap, Region, RegionKind, TooManyRegions};

pub use context::{ContextLayout, CtxField, CtxFieldKind, Narrow};

pub use xdp::{XdpContext, XDP_MD, XDP_MD_DEVMAP};

/// A program type the runtime provides.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgType {
    /// Not Linux's: `r1` points at the data, `r2` holds its length.
    Generic = 0,
    /// `BPF_PROG_TYPE_SOCKET_FILTER`: `r1` is a `struct __sk_buff`.
    SocketFilter = 1,
    /// `BPF_PROG_TYPE_SCHED_CLS` (tc): `r1` is a `struct __sk_buff`.
    SchedCls = 3,
    /// `BPF_PROG_TYPE_SCHED_ACT` (tc actions): as tc classifiers.
    SchedAct = 4,
    /// `BPF_PROG_TYPE_XDP`: `r1` is a `struct xdp_md`, whose loads are
    /// converted at load time.
    Xdp = 6,
}

impl ProgType {
    /// Every type the runtime provides.
    pub const ALL: [ProgType; 5] = [
        ProgType::Generic,
        ProgType::SocketFilter,
        ProgType::SchedCls,
        ProgType::SchedAct,
        ProgType::Xdp,
    ];

    /// The type with Linux's number `n`; `EINVAL` for any other, as
    /// `bpf(2)` answers an unknown type.
    pub fn from_u32(n: u32) -> Result<Self, Errno> {
        Self::ALL
            .into_iter()
            .find(|t| *t as u32 == n)
            .ok_or(Errno::EINVAL)
    }

    /// What the runtime knows about the type.
    pub fn spec(self) -> &'static TypeSpec {
        match self {
            ProgType::Generic => &generic::SPEC,
            ProgType::SocketFilter => &socket_filter::SPEC,
            ProgType::SchedCls => &sched_cls::SPEC,
            ProgType::SchedAct => sched_act::SPEC,
            ProgType::Xdp => &xdp::SPEC,
        }
    }

    /// The helpers the type's programs may call.
    pub fn helpers(self) -> HelperSet {
        HelperSet(self.spec().helpers)
    }

    /// The structure `r1` points to for a program of the type meant to run
    /// at `attach`, if the type has one.
    pub fn context_layout(self, attach: AttachPoint) -> Option<&'static ContextLayout> {
        match (self, attach) {
            (ProgType::Xdp, AttachPoint::XdpDevmap) => Some(&XDP_MD_DEVMAP),
            _ => self.spec().context,
        }
    }

    /// The load-time rewrite of the type's context accesses: the converted
    /// instructions, or `None` when the type has no context to convert.
    pub(crate) fn rewrite(
        self,
        attach: AttachPoint,
        insns: &[Insn],
    ) -> Result<Option<Vec<Insn>>, LoadError> {
        let Some(layout) = self.context_layout(attach) else {
            return Ok(None);
        };
        let mut converted = Vec::new();
        converted
            .try_reserve_exact(insns.len())
            .map_err(|_| LoadError::OutOfMemory)?;
        converted.extend_from_slice(insns);
        context::convert(&mut converted, layout)?;
        Ok(Some(converted))
    }

    /// What a `PROG_TEST_RUN` on `frame` passes the program.
    pub fn test_input(self, frame: &[u8]) -> TestInput {
        (self.spec().test_input)(frame)
    }

    /// Takes a test run's `ctx_in` (if given) into `input` for a frame of
    /// `frame_len` bytes; returns the bytes of metadata at its start.
    pub fn context_in(
        self,
        input: &mut TestInput,
        given: Option<&[u8]>,
        frame_len: usize,
    ) -> Result<usize, Errno> {
        (self.spec().context_in)(input, given, frame_len)
    }

    /// The context a test run with `input` gives back, from the one the
    /// caller passed (`given`), if the type has one.
    pub fn context_out(self, input: &TestInput, given: Option<&[u8]>) -> Option<ContextOut> {
        (self.spec().context_out)(input, given)
    }

    /// Linux's name for it, as bpftool prints it.
    pub fn name(self) -> &'static str {
        match self {
            ProgType::Generic => "generic",
            ProgType::SocketFilter => "socket_filter",
            ProgType::SchedCls => "sched_cls",
            ProgType::SchedAct => "sched_act",
            ProgType::Xdp => "xdp",
        }
    }
}

/// Where a program is meant to run, for the types where that changes what
/// it may do (Linux's `expected_attach_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AttachPoint {
    /// Where programs of its type usually run (for XDP: an interface).
    #[default]
    Default,
    /// An XDP program run from a devmap entry after a redirect
    /// (`BPF_XDP_DEVMAP`): it may read `xdp_md.egress_ifindex`.
    XdpDevmap,
    /// An XDP program run from a cpumap entry (`BPF_XDP_CPUMAP`).
    XdpCpumap,
}

impl AttachPoint {
    /// The attach point Linux's `expected_attach_type` `n` names for a
    /// program of `prog_type`: 0 for any type; for XDP also
    /// [`abi::ATTACH_XDP`](crate::abi::ATTACH_XDP) and the devmap and
    /// cpumap ones. `EINVAL` for anything else.
    pub fn from_linux(prog_type: ProgType, n: u32) -> Result<Self, Errno> {
        use crate::abi::{ATTACH_XDP, ATTACH_XDP_CPUMAP, ATTACH_XDP_DEVMAP};
        match (prog_type, n) {
            (_, 0) | (ProgType::Xdp, ATTACH_XDP) => Ok(AttachPoint::Default),
            (ProgType::Xdp, ATTACH_XDP_DEVMAP) => Ok(AttachPoint::XdpDevmap),
            (ProgType::Xdp, ATTACH_XDP_CPUMAP) => Ok(AttachPoint::XdpCpumap),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Whether the program runs from a map entry, not on an interface:
    /// it is neither attached to interfaces nor test-run (Linux refuses
    /// both with `EINVAL`).
    pub fn runs_from_map_entry(self) -> bool {
        matches!(self, AttachPoint::XdpDevmap | AttachPoint::XdpCpumap)
    }
}

/// What the runtime knows about one program type.
pub struct TypeSpec {
    /// The structure `r1` points to, if the type has one.
    pub context: Option<&'static ContextLayout>,
    /// The ids of the helpers its programs may call.
    pub helpers: &'static [u32],
    /// What a test run on a frame passes the program.
    pub test_input: fn(&[u8]) -> TestInput,
    /// Where its context keeps the packet, for the packet helpers.
    pub packet: Option<PacketLayout>,
    /// Takes the context a test run's caller passes (`ctx_in`; `None`
    /// when not given) into the run's, as Linux's test run does for the
    /// type; returns how many bytes at the frame's start are metadata.
    pub context_in: ContextIn,
    /// The context a test run gives back (`ctx_out`), from the one the
    /// caller passed (if any), if the type has one.
    pub context_out: fn(&TestInput, Option<&[u8]>) -> Option<ContextOut>,
}

/// How a type takes a test run's `ctx_in`: into the input, for a frame of
/// the given length; the bytes of metadata at the frame's start.
pub type ContextIn = fn(&mut TestInput, Option<&[u8]>, usize) -> Result<usize, Errno>;

/// The bytes of a context a test run gives back.
pub struct ContextOut {
    bytes: [u8; skb::SK_BUFF_SIZE],
    len: usize,
}

impl ContextOut {
    /// `len` bytes: what the caller passed, zeros after it.
    fn new(len: usize, given: Option<&[u8]>) -> Self {
        let mut out = ContextOut {
            bytes: [0; skb::SK_BUFF_SIZE],
            len: len.min(skb::SK_BUFF_SIZE),
        };
        if let Some(given) = given {
            let n = given.len().min(out.len);
            out.bytes[..n].copy_from_slice(&given[..n]);
        }
        out
    }

    fn set_u32(&mut self, off: usize, v: u32) {
        self.bytes[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A caller's context of `size` bytes from `given`: zeros past what was
/// given; `E2BIG` when it gives more that is not zero (Linux's
/// `bpf_ctx_init`).
fn caller_context<const N: usize>(given: &[u8]) -> Result<[u8; N], Errno> {
    if given.len() > N && given[N..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let mut out = [0u8; N];
    let n = given.len().min(N);
    out[..n].copy_from_slice(&given[..n]);
    Ok(out)
}

/// For types without a context structure: no `ctx_in` may be given.
fn no_context_in(_: &mut TestInput, given: Option<&[u8]>, _: usize) -> Result<usize, Errno> {
    match given {
        Some(_) => Err(Errno::EINVAL),
        None => Ok(0),
    }
}

/// How a context structure shows its packet to the packet helpers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketLayout {
    /// Where the native structure keeps the `data`, `data_end` and
    /// `data_meta` pointers.
    pub pointers: [usize; 3],
    /// Where it keeps the start and the end of the room the packet may
    /// move in (Linux's `data_hard_start` and `data_hard_end`; not
    /// visible to programs).
    pub room: [usize; 2],
    /// Where the link-layer (Ethernet) header starts, before `data`: 0
    /// when `data` is the link-layer header; 14 for socket filters, whose
    /// `data` is the network header.
    pub link_header: u8,
    /// The structure is a `struct __sk_buff` (else a `struct xdp_md`).
    pub skb: bool,
}

/// Bytes of an Ethernet header.
pub const ETH_HLEN: usize = 14;

/// Bytes of the largest context a test run builds.
const MAX_TEST_CONTEXT: usize = 256;

/// Bytes of room in front of a test run's frame, into which helpers may
/// move its start (`bpf_xdp_adjust_head`, `bpf_skb_change_head`): Linux's
/// `XDP_PACKET_HEADROOM`.
pub const TEST_HEADROOM: usize = 256;

/// Bytes of a test run's buffer up to where helpers may move the frame's
/// end, unless the frame is longer: a page less Linux's
/// `skb_shared_info`, as the `data_hard_end` of Linux's XDP test run.
pub const TEST_ROOM_END: usize = 4096 - 320;

/// The buffer of one test run: the frame, with room around it for the
/// helpers that move its start or its end.
pub struct TestFrame {
    buf: Vec<u8>,
    /// Bytes of the frame: metadata, then the packet.
    len: usize,
    /// Bytes of metadata in front of the packet (XDP's `data_meta`).
    meta: usize,
}

impl TestFrame {
    /// A buffer holding `frame`, whose first `meta` bytes are metadata.
    pub fn new(frame: &[u8], meta: usize) -> Result<Self, Errno> {
        let size = TEST_ROOM_END.max(TEST_HEADROOM + frame.len());
        let mut buf = Vec::new();
        buf.try_reserve_exact(size).map_err(|_| Errno::ENOMEM)?;
        buf.resize(size, 0);
        let mut f = TestFrame {
            buf,
            len: 0,
            meta: 0,
        };
        f.reset(frame, meta);
        Ok(f)
    }

    /// Puts `frame` in the buffer, all zeroes around it.
    fn reset(&mut self, frame: &[u8], meta: usize) {
        self.buf.fill(0);
        self.buf[TEST_HEADROOM..TEST_HEADROOM + frame.len()].copy_from_slice(frame);
        self.len = frame.len();
        self.meta = meta.min(frame.len());
    }

    /// The frame as passed (metadata included).
    pub fn frame(&self) -> &[u8] {
        &self.buf[TEST_HEADROOM..TEST_HEADROOM + self.len]
    }
}

/// A context built for one test run: the native structure's bytes, where
/// it keeps the packet's pointers, which bytes programs may write, and how
/// much of the frame comes before the packet the program sees.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub struct TestContext {
    bytes: [u8; MAX_TEST_CONTEXT],
    len: usize,
    packet: PacketLayout,
    writable: [(u16, u16); 8],
    writable_len: usize,
}

impl TestContext {
    /// `len` zero bytes; `packet`: where the packet's pointers go and how
    /// much link-layer header the packet leaves out; `writable`: (offset,
    /// size) of what programs may write.
    fn new(len: usize, packet: PacketLayout, writable: &[(u16, u16)]) -> Self {
        let mut w = [(0, 0); 8];
        let n = writable.len().min(w.len());
        w[..n].copy_from_slice(&writable[..n]);
        TestContext {
            bytes: [0; MAX_TEST_CONTEXT],
            len: len.min(MAX_TEST_CONTEXT),
            packet,
            writable: w,
            writable_len: n,
        }
    }

    fn set_u32(&mut self, off: usize, v: u32) {
        self.bytes[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn set_u64(&mut self, off: usize, v: u64) {
        self.bytes[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }

    fn u64_at(&self, off: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[off..off + 8]);
        u64::from_ne_bytes(b)
    }

    /// The 32-bit field at `off`.
    pub fn u32_at(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.bytes[off..off + 4]);
        u32::from_ne_bytes(b)
    }

    /// The structure's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What a test run passes a program in its registers. (One lives on the
/// stack of each test run; boxing the context would allocate per run.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug)]
pub enum TestInput {
    /// `r1` = the packet, `r2` = its length.
    DataAndLength,
    /// `r1` = this context.
    Context(TestContext),
}

impl TestInput {
    /// The program's `r1`-`r5` for a run on `frame`, granting the packet
    /// (the part of the frame the type shows, movable inside the frame's
    /// room) and the context (read-only but for its writable fields) in
    /// `mem` for as long as `self` and `frame` are borrowed.
    pub fn args<'a>(
        &'a mut self,
        mem: &mut MemoryMap<'a>,
        frame: &'a mut TestFrame,
    ) -> Result<[u64; 5], TooManyRegions> {
        let (len, meta) = (frame.len, frame.meta);
        self.args_in(mem, &mut frame.buf, TEST_HEADROOM, len, meta)
    }

    /// The program's `r1`-`r5` for a run on the `len` bytes of `room` at
    /// `start` (of which the first `meta` are metadata), the packet free
    /// to move inside `room`: as [`args`](Self::args), for a buffer the
    /// caller owns (a frame of live traffic).
    pub fn args_in<'a>(
        &'a mut self,
        mem: &mut MemoryMap<'a>,
        room: &'a mut [u8],
        start: usize,
        len: usize,
        meta: usize,
    ) -> Result<[u64; 5], TooManyRegions> {
        let start = start.min(room.len());
        let len = len.min(room.len() - start);
        let meta = meta.min(len);
        let TestInput::Context(ctx) = self else {
            let addr = mem.add_packet(room, start, len);
            return Ok([addr, len as u64, 0, 0, 0]);
        };
        let skip = (ctx.packet.link_header as usize).min(len);
        let (room_base, room_len, meta_at);
        if skip > 0 {
            // The link-layer header, which only helpers that start from it
            // read, then the packet, which cannot move into it (socket
            // filters have no helper that moves it).
            let (head, room) = room.split_at_mut(start + skip);
            mem.add_ref(&head[start..], RegionKind::LinkHeader)?;
            (room_base, room_len) = (room.as_ptr() as u64, room.len() as u64);
            meta_at = mem.add_packet(room, 0, len - skip);
        } else {
            (room_base, room_len) = (room.as_ptr() as u64, room.len() as u64);
            meta_at = mem.add_packet(room, start, len);
        }
        let (data, end) = (meta_at + meta as u64, meta_at + (len - skip) as u64);
        let p = ctx.packet;
        for (at, value) in p.pointers.into_iter().zip([data, end, meta_at]) {
            ctx.set_u64(at, value);
        }
        ctx.set_u64(p.room[0], room_base);
        ctx.set_u64(p.room[1], room_base + room_len);
        let base = ctx.bytes.as_mut_ptr() as u64;
        // SAFETY: the context lives in `self`, borrowed mutably for 'a,
        // as long as `mem` may grant it: nothing else touches it while a
        // program runs (helpers write its fields through `mem`). The whole
        // structure is granted read-only, and the writable fields (inside
        // it) writable.
        unsafe {
            mem.add_raw(Region::contiguous(
                base,
                ctx.len as u64,
                false,
                RegionKind::Context,
            ))?;
            for &(off, size) in &ctx.writable[..ctx.writable_len] {
                let at = base + off as u64;
                mem.add_raw(Region::contiguous(
                    at,
                    size as u64,
                    true,
                    RegionKind::Context,
                ))?;
            }
        }
        Ok([base, 0, 0, 0, 0])
    }
}

/// Where the packet of a finished test run is in its frame's buffer.
impl TestInput {
    /// The frame after a run with this input: what `PROG_TEST_RUN` copies
    /// out (`data_out`). XDP: from the metadata on; tc: from the link-layer
    /// header; socket filters: the link-layer header zeroed, as Linux gives
    /// it back.
    pub fn frame_after<'f>(&self, frame: &'f mut TestFrame) -> &'f [u8] {
        let TestInput::Context(ctx) = self else {
            return &frame.buf[TEST_HEADROOM..TEST_HEADROOM + frame.len];
        };
        let p = ctx.packet;
        let base = frame.buf.as_ptr() as u64;
        let offset = |addr: u64| (addr.saturating_sub(base) as usize).min(frame.buf.len());
        let skip = (p.link_header as usize).min(frame.len);
        let start = offset(ctx.u64_at(p.pointers[2])).saturating_sub(skip);
        let end = offset(ctx.u64_at(p.pointers[1])).max(start);
        if skip > 0 {
            frame.buf[start..start + skip].fill(0);
        }
        &frame.buf[start..end]
    }

    /// Where the packet is after a run in a buffer starting at address
    /// `base` of `len` bytes (as [`args_in`](Self::args_in) granted it):
    /// the offsets of its metadata, its first byte and one past its last,
    /// clamped to the buffer. `None` for an input without a context.
    pub fn packet_after(&self, base: u64, len: usize) -> Option<(usize, usize, usize)> {
        let TestInput::Context(ctx) = self else {
            return None;
        };
        let p = ctx.packet;
        let offset = |addr: u64| (addr.saturating_sub(base) as usize).min(len);
        let meta = offset(ctx.u64_at(p.pointers[2]));
        let data = offset(ctx.u64_at(p.pointers[0])).max(meta);
        let end = offset(ctx.u64_at(p.pointers[1])).max(data);
        Some((meta, data, end))
    }

    /// The context after a run: its bytes, as a program sees them.
    pub fn context(&self) -> Option<&TestContext> {
        match self {
            TestInput::Context(ctx) => Some(ctx),
            TestInput::DataAndLength => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_linuxs_and_round_trip() {
        assert_eq!(ProgType::Xdp as u32, 6, "BPF_PROG_TYPE_XDP");
        assert_eq!(ProgType::SchedCls as u32, 3, "BPF_PROG_TYPE_SCHED_CLS");
        assert_eq!(ProgType::SocketFilter as u32, 1);
        for t in ProgType::ALL {
            assert_eq!(ProgType::from_u32(t as u32), Ok(t));
        }
        assert_eq!(
            ProgType::from_u32(2),
            Err(Errno::EINVAL),
            "kprobe: not provided"
        );
    }
}
