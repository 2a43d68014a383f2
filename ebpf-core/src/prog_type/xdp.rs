//! `BPF_PROG_TYPE_XDP`: `r1` is a `struct xdp_md`. Programs read its
//! 32-bit fields; the runtime passes [`XdpContext`], whose packet fields are
//! real pointers, and the loader converts every access
//! ([`context`](super::context)).

use super::context::{ContextLayout, CtxField, CtxFieldKind};
use core::mem::offset_of;

use super::{TestContext, TestInput};
use crate::errno::Errno;
use crate::helpers::ids;

/// What an XDP program's `r1` points to at run time.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpContext {
    /// First byte of the packet.
    pub data: u64,
    /// One past the last byte.
    pub data_end: u64,
    /// Start of the metadata area (equal to `data`: none).
    pub data_meta: u64,
    /// `xdp_md.ingress_ifindex`.
    pub ingress_ifindex: u32,
    /// `xdp_md.rx_queue_index`.
    pub rx_queue_index: u32,
    /// `xdp_md.egress_ifindex`.
    pub egress_ifindex: u32,
    /// Zero.
    pub reserved: u32,
    /// Start of the room the packet may move in (Linux's
    /// `data_hard_start`; not visible to programs).
    pub hard_start: u64,
    /// End of that room (`data_hard_end`).
    pub hard_end: u64,
}

const _: () = assert!(size_of::<XdpContext>() == 56);

/// The fields of `struct xdp_md`, read-only; `egress_ifindex` (20), last,
/// is for programs run from a devmap entry only (`BPF_XDP_DEVMAP`).
const XDP_MD_FIELDS: [CtxField; 6] = [
    CtxField::read_only("data", 0, CtxFieldKind::PacketStart, (0, 8)),
    CtxField::read_only("data_end", 4, CtxFieldKind::PacketEnd, (8, 8)),
    CtxField::read_only("data_meta", 8, CtxFieldKind::PacketMeta, (16, 8)),
    CtxField::read_only("ingress_ifindex", 12, CtxFieldKind::Scalar, (24, 4)),
    CtxField::read_only("rx_queue_index", 16, CtxFieldKind::Scalar, (28, 4)),
    CtxField::read_only("egress_ifindex", 20, CtxFieldKind::Scalar, (32, 4)),
];

/// `struct xdp_md` as Linux's uapi defines it, read-only, without
/// `egress_ifindex`, which Linux refuses to programs not run from a devmap
/// entry.
pub static XDP_MD: ContextLayout = ContextLayout {
    name: "struct xdp_md",
    size: 24,
    fields: XDP_MD_FIELDS.split_at(5).0,
};

/// `struct xdp_md` for a program run from a devmap entry
/// (`BPF_XDP_DEVMAP`): `egress_ifindex` is readable too.
pub static XDP_MD_DEVMAP: ContextLayout = ContextLayout {
    name: "struct xdp_md",
    size: 24,
    fields: &XDP_MD_FIELDS,
};

/// The device a test run's packet arrives on: the loopback device, index
/// 1, with one receive queue, as in Linux's test run.
const LOOPBACK_IFINDEX: u32 = 1;

impl XdpContext {
    /// A test run's `ctx_in` (`struct xdp_md`), as Linux's
    /// `bpf_prog_test_run_xdp` takes it: `data` is the length of the
    /// metadata at the frame's start (a multiple of 4, at most 216: the
    /// headroom less Linux's `struct xdp_frame`), `data_end` the frame's
    /// length (shorter puts the rest in fragments on Linux, which this
    /// runtime does not have: `EOPNOTSUPP`), `data_meta` and
    /// `egress_ifindex` 0; the packet arrives on an existing device and
    /// queue.
    fn context_in(
        input: &mut TestInput,
        given: Option<&[u8]>,
        frame_len: usize,
    ) -> Result<usize, Errno> {
        let Some(given) = given else {
            return Ok(0);
        };
        let md: [u8; 24] = super::caller_context(given)?;
        let field =
            |i: usize| u32::from_ne_bytes([md[4 * i], md[4 * i + 1], md[4 * i + 2], md[4 * i + 3]]);
        let [data, data_end, data_meta, ingress, rx_queue, egress] = [0, 1, 2, 3, 4, 5].map(field);
        // Metadata comes out of the headroom, which keeps Linux's
        // `struct xdp_frame` (40 bytes).
        let metalen_invalid = data % 4 != 0 || data > 255 || data > 256 - 40;
        let too_short = (frame_len as u32).saturating_sub(data) < 14;
        if data_meta != 0
            || data_end as usize > frame_len
            || data > data_end
            || metalen_invalid
            || too_short
        {
            return Err(Errno::EINVAL);
        }
        if (data_end as usize) < frame_len {
            // Linux puts the rest in fragments (multi-buffer XDP).
            return Err(Errno::EOPNOTSUPP);
        }
        if egress != 0 || (ingress == 0 && rx_queue != 0) {
            return Err(Errno::EINVAL);
        }
        if ingress != 0 && ingress != LOOPBACK_IFINDEX {
            return Err(Errno::ENODEV);
        }
        if rx_queue >= 1 {
            return Err(Errno::EINVAL);
        }
        let _ = input;
        Ok(data as usize)
    }

    /// What a test run gives back as `ctx_out`: the caller's context with
    /// `data` and `data_end` the packet's offsets from its metadata after
    /// the run (Linux's `xdp_convert_buff_to_md`).
    fn context_out(input: &TestInput, given: Option<&[u8]>) -> Option<super::ContextOut> {
        let ctx = input.context()?;
        let at = |off: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&ctx.as_bytes()[off..off + 8]);
            u64::from_ne_bytes(b)
        };
        let (data, end, meta) = (at(0), at(8), at(16));
        let mut out = super::ContextOut::new(XDP_MD.size as usize, given);
        out.set_u32(0, data.saturating_sub(meta) as u32);
        out.set_u32(4, end.saturating_sub(meta) as u32);
        Some(out)
    }

    /// Where the native structure keeps the packet's pointers and room,
    /// which a test run fills in.
    pub const PACKET: super::PacketLayout = super::PacketLayout {
        pointers: [0, 8, 16],
        room: [40, 48],
        link_header: 0,
        skb: false,
    };

    /// The context of a test run: the packet's pointers filled in at run
    /// time, received on the loopback device's queue 0 (as Linux's test
    /// run without `ctx_in`).
    fn test_input(_frame: &[u8]) -> TestInput {
        let mut ctx = TestContext::new(size_of::<XdpContext>(), Self::PACKET, &[]);
        ctx.set_u32(offset_of!(XdpContext, ingress_ifindex), LOOPBACK_IFINDEX);
        TestInput::Context(ctx)
    }
}

impl XdpContext {
    /// The context of a run on a frame of live traffic received on
    /// interface `ifindex`, queue `rx_queue` (the packet's pointers are
    /// filled in by [`TestInput::args_in`]).
    pub fn live_input(ifindex: u32, rx_queue: u32) -> TestInput {
        let mut ctx = TestContext::new(size_of::<XdpContext>(), Self::PACKET, &[]);
        ctx.set_u32(offset_of!(XdpContext, ingress_ifindex), ifindex);
        ctx.set_u32(offset_of!(XdpContext, rx_queue_index), rx_queue);
        TestInput::Context(ctx)
    }
}

const HELPERS: [u32; ids::BASE.len() + ids::XDP.len()] = ids::with_base(ids::XDP);

/// The type's description.
pub(super) static SPEC: super::TypeSpec = super::TypeSpec {
    context: Some(&XDP_MD),
    helpers: &HELPERS,
    test_input: XdpContext::test_input,
    packet: Some(XdpContext::PACKET),
    context_in: XdpContext::context_in,
    context_out: XdpContext::context_out,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_the_native_structure() {
        let native = |name: &str| {
            XDP_MD
                .fields
                .iter()
                .find(|f| f.name == name)
                .unwrap()
                .native
        };
        assert_eq!(
            native("data").0 as usize,
            core::mem::offset_of!(XdpContext, data)
        );
        assert_eq!(
            native("data_end").0 as usize,
            core::mem::offset_of!(XdpContext, data_end)
        );
        assert_eq!(
            native("data_meta").0 as usize,
            core::mem::offset_of!(XdpContext, data_meta)
        );
        assert_eq!(
            native("ingress_ifindex").0 as usize,
            core::mem::offset_of!(XdpContext, ingress_ifindex)
        );
        assert!(
            XDP_MD.access(20, 4, false).is_none(),
            "egress_ifindex: devmap programs only"
        );
        assert!(XDP_MD_DEVMAP.access(20, 4, false).is_some());
        assert_eq!(
            XDP_MD_DEVMAP.fields[5].native.0 as usize,
            core::mem::offset_of!(XdpContext, egress_ifindex)
        );
        // Whole 4-byte fields only, read-only.
        assert!(XDP_MD.access(12, 4, false).is_some());
        assert!(XDP_MD.access(12, 2, false).is_none());
        assert!(XDP_MD.access(12, 4, true).is_none());
    }
}
