//! `BPF_PROG_TYPE_SOCKET_FILTER`. Linux passes a `struct __sk_buff`; until
//! this runtime provides one, such programs run as generic ones (`r1` the
//! packet, `r2` its length) and have no context structure.

use super::{TestInput, TypeSpec};
use crate::helpers::ids;

/// The type's description.
pub(super) static SPEC: TypeSpec = TypeSpec {
    context: None,
    helpers: ids::ALL,
    test_input: |_, _| TestInput::DataAndLength,
};
