//! Socket lookups (`bpf_sk_lookup_tcp`, `bpf_sk_lookup_udp`,
//! `bpf_skc_lookup_tcp`) and the helpers that take the socket one found.
//!
//! A lookup searches the sockets of the network the program's packets
//! belong to. Only platforms whose network holds no socket hidden from the
//! runtime provide these helpers
//! ([`Platform::socket_lookups`](crate::platform::Platform::socket_lookups)):
//! the embedded backend, whose software network has no sockets at all.
//! There every lookup answers, truthfully, NULL, as Linux answers for a
//! tuple no socket matches. The kernel modules do not show their kernel's
//! sockets to the runtime, so they refuse programs calling these helpers
//! rather than answer NULL where a socket exists.
//!
//! The verifier tracks what a found socket would be (its fields, its
//! reference); since none is ever found, a helper given one was given a
//! pointer no lookup returned: only a program the verifier did not check
//! can do that, and its run ends with an error.

use crate::error::HelperError;

use super::{ids, ProgramMemory, RunContext};

impl RunContext<'_> {
    /// The socket helpers; `None` for another id.
    pub(super) fn call_socket(
        &mut self,
        id: u32,
        a: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Option<Result<u64, HelperError>> {
        Some(match id {
            ids::SK_LOOKUP_TCP | ids::SK_LOOKUP_UDP | ids::SKC_LOOKUP_TCP => {
                // The tuple must be the program's memory, whatever the
                // answer.
                self.arg_slice(mem, a[1], a[2] as usize).map(|_| 0)
            }
            ids::SK_RELEASE
            | ids::SK_FULLSOCK
            | ids::TCP_SOCK
            | ids::GET_LISTENER_SOCK
            | ids::TCP_CHECK_SYNCOOKIE
            | ids::TCP_GEN_SYNCOOKIE
            | ids::SK_ASSIGN => Err(HelperError::Other(
                "not a socket: no socket lookup of this runtime finds one",
            )),
            _ => return None,
        })
    }
}
