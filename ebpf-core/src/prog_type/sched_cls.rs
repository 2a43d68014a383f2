//! `BPF_PROG_TYPE_SCHED_CLS` (tc): `r1` is a `struct __sk_buff`
//! ([`skb`](super::skb)) with direct packet access through `data` and
//! `data_end`; a test run shows it the whole frame.

use super::skb::{self, SK_BUFF_TC};
use super::{PacketLayout, TypeSpec};
use crate::helpers::ids;

const HELPERS: [u32; ids::BASE.len() + ids::SCHED_CLS.len()] = ids::with_base(ids::SCHED_CLS);

/// The type's description.
pub(super) static SPEC: TypeSpec = TypeSpec {
    context: Some(&SK_BUFF_TC),
    helpers: &HELPERS,
    test_input: |frame| skb::test_input(&SK_BUFF_TC, frame, true),
    packet: Some(PacketLayout {
        pointers: skb::POINTERS,
        link_header: 0,
        skb: true,
    }),
};
