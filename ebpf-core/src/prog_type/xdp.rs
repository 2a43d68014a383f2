//! `BPF_PROG_TYPE_XDP`: `r1` is a `struct xdp_md`. Programs read its
//! 32-bit fields; the runtime passes [`XdpContext`], whose packet fields are
//! real pointers, and the loader converts every access
//! ([`context`](super::context)).

use super::context::{ContextLayout, CtxField, CtxFieldKind};
use super::TestContext;

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
    /// The context of a run on the packet at `data` of `len` bytes, with no
    /// metadata, received on no particular interface (as Linux's test run
    /// without `ctx_in`).
    pub fn for_packet(data: u64, len: u64) -> Self {
        XdpContext {
            data,
            data_end: data + len,
            data_meta: data,
            ..Default::default()
        }
    }

    /// The structure's bytes, as a test run passes them.
    pub(super) fn to_test_context(self) -> TestContext {
        let mut ctx = TestContext::empty();
        for w in [self.data, self.data_end, self.data_meta] {
            ctx.push(&w.to_ne_bytes());
        }
        for w in [
            self.ingress_ifindex,
            self.rx_queue_index,
            self.egress_ifindex,
            self.reserved,
        ] {
            ctx.push(&w.to_ne_bytes());
        }
        ctx
    }
}

/// The type's description.
pub(super) static SPEC: super::TypeSpec = super::TypeSpec {
    context: Some(&XDP_MD),
    helpers: crate::helpers::ids::ALL,
    test_input: |data, len| {
        super::TestInput::Context(XdpContext::for_packet(data, len).to_test_context())
    },
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
            native("ingress_ifindex").0 as usize,
            core::mem::offset_of!(XdpContext, ingress_ifindex)
        );
        assert_eq!(
            native("egress_ifindex").0 as usize,
            core::mem::offset_of!(XdpContext, egress_ifindex)
        );
        let ctx = XdpContext {
            data: 0x1000,
            data_end: 0x1040,
            data_meta: 0x1000,
            ingress_ifindex: 7,
            rx_queue_index: 3,
            ..Default::default()
        };
        let bytes = ctx.to_test_context();
        let word = |off: usize, n: usize| {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&bytes.as_bytes()[off..off + n]);
            if n == 8 {
                u64::from_ne_bytes(b)
            } else {
                u64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            }
        };
        assert_eq!(word(8, 8), 0x1040);
        assert_eq!(word(24, 4), 7);
        assert_eq!(word(28, 4), 3);
    }
}
