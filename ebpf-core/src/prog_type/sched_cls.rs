//! `BPF_PROG_TYPE_SCHED_CLS` (tc): `r1` is a `struct __sk_buff`
//! ([`skb`](super::skb)) with direct packet access through `data` and
//! `data_end`; a test run shows it the whole frame.

use super::skb::{self, SK_BUFF_TC};
use super::TypeSpec;
use crate::helpers::ids;

const HELPERS: [u32; ids::BASE.len() + ids::SCHED_CLS.len()] = ids::with_base(ids::SCHED_CLS);

/// The type's description.
pub(super) static SPEC: TypeSpec = TypeSpec {
    context: Some(&SK_BUFF_TC),
    helpers: &HELPERS,
    test_input: |frame| skb::test_input(&SK_BUFF_TC, skb::PACKET_TC, frame),
    packet: Some(skb::PACKET_TC),
    context_in: skb::context_in,
    context_out: skb::context_out,
};
