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
mod socket_filter;
mod xdp;

use alloc::vec::Vec;

use crate::errno::Errno;
use crate::error::LoadError;
use crate::helpers::HelperSet;
use crate::insn::Insn;
use crate::memory::{MemoryMap, Region, RegionKind, TooManyRegions};

pub use context::{ContextLayout, CtxField, CtxFieldKind, Narrow};

pub use xdp::{XdpContext, XDP_MD};

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

    /// The load-time rewrite of the type's context accesses: the converted
    /// instructions, or `None` when the type has no context to convert.
    pub(crate) fn rewrite(self, insns: &[Insn]) -> Result<Option<Vec<Insn>>, LoadError> {
        let Some(layout) = self.spec().context else {
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
}

/// How a context structure shows its packet to the packet helpers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketLayout {
    /// Where the native structure keeps the `data`, `data_end` and
    /// `data_meta` pointers.
    pub pointers: [usize; 3],
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

/// A context built for one test run: the native structure's bytes, where
/// the packet pointers go, which bytes programs may write, and how much of
/// the frame comes before the packet the program sees.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub struct TestContext {
    bytes: [u8; MAX_TEST_CONTEXT],
    len: usize,
    pointers: [usize; 3],
    writable: [(u16, u16); 8],
    writable_len: usize,
    skip: usize,
}

impl TestContext {
    /// `len` zero bytes; `pointers`: where `data`, `data_end` and
    /// `data_meta` go; `writable`: (offset, size) of what programs may
    /// write; `skip`: bytes of the frame before `data`.
    fn new(len: usize, pointers: [usize; 3], writable: &[(u16, u16)], skip: usize) -> Self {
        let mut w = [(0, 0); 8];
        let n = writable.len().min(w.len());
        w[..n].copy_from_slice(&writable[..n]);
        TestContext {
            bytes: [0; MAX_TEST_CONTEXT],
            len: len.min(MAX_TEST_CONTEXT),
            pointers,
            writable: w,
            writable_len: n,
            skip,
        }
    }

    fn set_u32(&mut self, off: usize, v: u32) {
        self.bytes[off..off + 4].copy_from_slice(&v.to_ne_bytes());
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
    /// (the part of the frame the type shows) and the context (read-only
    /// but for its writable fields) in `mem` for as long as `self` and
    /// `frame` are borrowed.
    pub fn args<'a>(
        &'a mut self,
        mem: &mut MemoryMap<'a>,
        frame: &'a mut [u8],
    ) -> Result<[u64; 5], TooManyRegions> {
        let skip = match self {
            TestInput::DataAndLength => 0,
            TestInput::Context(ctx) => ctx.skip.min(frame.len()),
        };
        let (link_header, packet) = frame.split_at_mut(skip);
        if !link_header.is_empty() {
            // Only helpers that start from the link-layer header read it.
            mem.add_ref(link_header, RegionKind::LinkHeader)?;
        }
        let len = packet.len() as u64;
        let addr = if packet.is_empty() {
            0
        } else {
            mem.add_mut(packet, RegionKind::Packet)?
        };
        let TestInput::Context(ctx) = self else {
            return Ok([addr, len, 0, 0, 0]);
        };
        // No metadata: data_meta = data.
        for (at, value) in ctx.pointers.into_iter().zip([addr, addr + len, addr]) {
            ctx.bytes[at..at + 8].copy_from_slice(&value.to_ne_bytes());
        }
        let base = ctx.bytes.as_mut_ptr() as u64;
        // SAFETY: the context lives in `self`, borrowed mutably for 'a,
        // as long as `mem` may grant it: nothing else touches it while a
        // program runs. The whole structure is granted read-only, and the
        // writable fields (inside it) writable.
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
