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
mod sched_cls;
mod socket_filter;
mod xdp;

use alloc::vec::Vec;

use crate::errno::Errno;
use crate::error::LoadError;
use crate::helpers::HelperSet;
use crate::insn::Insn;
use crate::memory::{MemoryMap, RegionKind, TooManyRegions};

pub use context::{ContextLayout, CtxField, CtxFieldKind};
pub use xdp::{XdpContext, XDP_MD};

/// A program type the runtime provides.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgType {
    /// Not Linux's: `r1` points at the data, `r2` holds its length.
    Generic = 0,
    /// `BPF_PROG_TYPE_SOCKET_FILTER` (run as generic until `__sk_buff`
    /// exists).
    SocketFilter = 1,
    /// `BPF_PROG_TYPE_SCHED_CLS` (run as generic until `__sk_buff`
    /// exists).
    SchedCls = 3,
    /// `BPF_PROG_TYPE_XDP`: `r1` is a `struct xdp_md`, whose loads are
    /// converted at load time.
    Xdp = 6,
}

impl ProgType {
    /// Every type the runtime provides.
    pub const ALL: [ProgType; 4] = [
        ProgType::Generic,
        ProgType::SocketFilter,
        ProgType::SchedCls,
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

    /// What a `PROG_TEST_RUN` on `len` bytes at `data` passes the program.
    pub fn test_input(self, data: u64, len: u64) -> TestInput {
        (self.spec().test_input)(data, len)
    }

    /// Linux's name for it, as bpftool prints it.
    pub fn name(self) -> &'static str {
        match self {
            ProgType::Generic => "generic",
            ProgType::SocketFilter => "socket_filter",
            ProgType::SchedCls => "sched_cls",
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
    /// What a test run on a packet passes the program.
    pub test_input: fn(u64, u64) -> TestInput,
}

/// Bytes of the largest context a test run builds.
const MAX_TEST_CONTEXT: usize = 64;

/// A context built for one test run: the native structure's bytes.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug)]
pub struct TestContext {
    bytes: [u8; MAX_TEST_CONTEXT],
    len: usize,
}

impl TestContext {
    fn empty() -> Self {
        TestContext {
            bytes: [0; MAX_TEST_CONTEXT],
            len: 0,
        }
    }

    fn push(&mut self, b: &[u8]) {
        self.bytes[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    /// The structure's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What a test run passes a program in its registers.
#[derive(Clone, Copy, Debug)]
pub enum TestInput {
    /// `r1` = the packet, `r2` = its length.
    DataAndLength,
    /// `r1` = this context, granted read-only for the run.
    Context(TestContext),
}

impl TestInput {
    /// The program's `r1`-`r5` for a run on `len` bytes at `data`, granting
    /// the context (if any) in `mem` for as long as `self` lives.
    pub fn args<'a>(
        &'a self,
        mem: &mut MemoryMap<'a>,
        data: u64,
        len: u64,
    ) -> Result<[u64; 5], TooManyRegions> {
        match self {
            TestInput::DataAndLength => Ok([data, len, 0, 0, 0]),
            TestInput::Context(ctx) => {
                let addr = mem.add_ref(ctx.as_bytes(), RegionKind::Context)?;
                Ok([addr, 0, 0, 0, 0])
            }
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
