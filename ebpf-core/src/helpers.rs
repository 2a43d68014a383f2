//! The helper-call interface between programs and the embedder.

use crate::error::HelperError;
use crate::memory::ProgramMemory;

/// The helpers a program may call with `call id`, supplied by the embedder.
///
/// Arguments arrive in `r1`-`r5` and the result goes to `r0`, as in Linux.
/// A helper that wants the program to see a failure returns it as a value
/// (a negative errno); an `Err` ends the run.
pub trait Helpers {
    /// Whether helper `id` exists; checked for every `call` at load time.
    fn supports(&self, id: u32) -> bool;

    /// Calls helper `id`. Pointer arguments must be accessed through `mem`,
    /// which checks them against the program's memory.
    fn call(
        &mut self,
        id: u32,
        args: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Result<u64, HelperError>;

    /// Whether `len` bytes at `addr` may be accessed (written, if `write`)
    /// besides the granted regions and the stack: memory the helpers handed
    /// out during the run, such as map values. Checked-mode runs ask this
    /// when an access misses every region.
    fn allows(&self, _addr: u64, _len: u64, _write: bool) -> bool {
        false
    }
}

/// No helpers at all: every `call` of a helper is refused at load time.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHelpers;

impl Helpers for NoHelpers {
    fn supports(&self, _id: u32) -> bool {
        false
    }

    fn call(
        &mut self,
        _id: u32,
        _args: [u64; 5],
        _mem: &ProgramMemory<'_, '_>,
    ) -> Result<u64, HelperError> {
        Err(HelperError::NotAvailable)
    }
}
