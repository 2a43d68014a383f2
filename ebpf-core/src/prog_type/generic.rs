//! Generic programs (type 0, not Linux's): `r1` points at the data, `r2`
//! holds its length, the convention of eBPF conformance tests and of the
//! runtime's ancestors. There is no context structure.

use super::{TestInput, TypeSpec};
use crate::helpers::ids;

/// The type's description.
pub(super) static SPEC: TypeSpec = TypeSpec {
    context: None,
    helpers: ids::BASE,
    test_input: |_| TestInput::DataAndLength,
    packet: None,
    context_in: super::no_context_in,
    context_out: |_, _| None,
};
