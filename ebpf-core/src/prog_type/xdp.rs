//! `BPF_PROG_TYPE_XDP`: `r1` is a `struct xdp_md`. Programs read its
//! 32-bit fields; the runtime passes [`XdpContext`], whose packet fields are
//! real pointers, and the loader converts every access
//! ([`context`](super::context)).

use super::context::{ContextLayout, CtxField, CtxFieldKind, Narrow};
use super::{TestContext, TestInput};
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
}

const _: () = assert!(size_of::<XdpContext>() == 40);

const fn field(name: &'static str, offset: i16, kind: CtxFieldKind, native: (i16, u8)) -> CtxField {
    CtxField {
        name,
        offset,
        size: 4,
        writable: false,
        kind,
        native,
        narrow: Narrow::Exact,
    }
}

/// `struct xdp_md` as Linux's uapi defines it, read-only.
pub static XDP_MD: ContextLayout = ContextLayout {
    name: "struct xdp_md",
    size: 24,
    fields: &[
        field("data", 0, CtxFieldKind::PacketStart, (0, 8)),
        field("data_end", 4, CtxFieldKind::PacketEnd, (8, 8)),
        field("data_meta", 8, CtxFieldKind::PacketMeta, (16, 8)),
        field("ingress_ifindex", 12, CtxFieldKind::Scalar, (24, 4)),
        field("rx_queue_index", 16, CtxFieldKind::Scalar, (28, 4)),
        field("egress_ifindex", 20, CtxFieldKind::Scalar, (32, 4)),
    ],
};

impl XdpContext {
    /// Where the native structure keeps `data`, `data_end` and
    /// `data_meta`, which a test run fills in.
    const POINTERS: [usize; 3] = [0, 8, 16];

    /// The context of a test run: the packet's pointers filled in at run
    /// time, received on no particular interface (as Linux's test run
    /// without `ctx_in`).
    fn test_input(_frame: &[u8]) -> TestInput {
        TestInput::Context(TestContext::new(
            size_of::<XdpContext>(),
            Self::POINTERS,
            &[],
            0,
        ))
    }
}

const HELPERS: [u32; ids::BASE.len() + ids::XDP.len()] = ids::with_base(ids::XDP);

/// The type's description.
pub(super) static SPEC: super::TypeSpec = super::TypeSpec {
    context: Some(&XDP_MD),
    helpers: &HELPERS,
    test_input: XdpContext::test_input,
    packet: Some(super::PacketLayout {
        pointers: XdpContext::POINTERS,
        link_header: 0,
        skb: false,
    }),
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
        assert_eq!(
            native("egress_ifindex").0 as usize,
            core::mem::offset_of!(XdpContext, egress_ifindex)
        );
        // Whole 4-byte fields only, read-only.
        assert!(XDP_MD.access(12, 4, false).is_some());
        assert!(XDP_MD.access(12, 2, false).is_none());
        assert!(XDP_MD.access(12, 4, true).is_none());
    }
}
