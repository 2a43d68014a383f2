//! `BPF_PROG_TYPE_SOCKET_FILTER`: `r1` is a `struct __sk_buff`
//! ([`skb`](super::skb)); a test run shows it the frame from its network
//! header on, as Linux does.

use super::skb::{self, SK_BUFF_SOCKET};
use super::TypeSpec;
use crate::helpers::ids;

const HELPERS: [u32; ids::BASE.len() + ids::SOCKET_FILTER.len()] =
    ids::with_base(ids::SOCKET_FILTER);

/// The type's description.
pub(super) static SPEC: TypeSpec = TypeSpec {
    context: Some(&SK_BUFF_SOCKET),
    helpers: &HELPERS,
    test_input: |frame| skb::test_input(&SK_BUFF_SOCKET, skb::PACKET_SOCKET, frame),
    packet: Some(skb::PACKET_SOCKET),
    context_in: skb::context_in,
    context_out: skb::context_out,
};
