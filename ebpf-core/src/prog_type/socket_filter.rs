//! `BPF_PROG_TYPE_SOCKET_FILTER`: `r1` is a `struct __sk_buff`
//! ([`skb`](super::skb)); a test run shows it the frame from its network
//! header on, as Linux does.

use super::skb::{self, SK_BUFF_SOCKET};
use super::{PacketLayout, TypeSpec, ETH_HLEN};
use crate::helpers::ids;

const HELPERS: [u32; ids::BASE.len() + ids::SOCKET_FILTER.len()] =
    ids::with_base(ids::SOCKET_FILTER);

/// The type's description.
pub(super) static SPEC: TypeSpec = TypeSpec {
    context: Some(&SK_BUFF_SOCKET),
    helpers: &HELPERS,
    test_input: |frame| skb::test_input(&SK_BUFF_SOCKET, frame, false),
    packet: Some(PacketLayout {
        pointers: skb::POINTERS,
        link_header: ETH_HLEN as u8,
        skb: true,
    }),
};
