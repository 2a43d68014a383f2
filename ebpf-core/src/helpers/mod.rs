//! Helpers: the calls a program makes with `call id`.
//!
//! - this module: the interface between the interpreter and whoever serves
//!   the calls ([`Helpers`]), the view of the program's memory a helper
//!   gets ([`ProgramMemory`]), and what a call does to the run ([`Flow`]);
//! - [`ids`]: Linux's helper numbers;
//! - [`proto`]: each helper's prototype (argument and return kinds), which
//!   the load-time checks and the program types read;
//! - [`linux`]: the implementations of Linux's helpers on this runtime's
//!   maps ([`RunContext`]);
//! - [`format`]: `bpf_trace_printk`/`bpf_snprintf` formatting.

mod dynptr;
mod ecn;
pub mod format;
pub mod ids;
pub mod kfunc;
mod linux;
mod objects;
mod packet;
pub mod proto;
mod socket;
mod string;
mod syncookie;
mod timer;
mod tunnel;

use core::cell::Cell;

use crate::error::{HelperError, RunError};
use crate::memory::{MemoryMap, RegionKind};

pub use linux::{RunContext, MAX_TAIL_CALLS};
pub use packet::NetDevice;

/// What a helper call does to the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// The program continues with this value in `r0`.
    Return(u64),
    /// `bpf_tail_call` succeeded: the current program ends here and the run
    /// continues in the target, which the helper recorded for whoever runs
    /// the program (the runtime follows the chain).
    TailCall,
    /// The helper ends the whole program, from whatever function or
    /// callback it was called in: the run returns this value (the
    /// conformance suites' unwinding helper, `bpf_throw`).
    Exit(u64),
}

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
    ) -> Result<Flow, HelperError>;

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
    ) -> Result<Flow, HelperError> {
        Err(HelperError::NotAvailable)
    }
}

/// The helpers a program of some type may call: checked at load time;
/// the calls themselves are served by whoever runs the program.
#[derive(Clone, Copy, Debug)]
pub struct HelperSet(pub &'static [u32]);

impl Helpers for HelperSet {
    fn supports(&self, id: u32) -> bool {
        self.0.contains(&id)
    }

    fn call(
        &mut self,
        id: u32,
        args: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Result<Flow, HelperError> {
        NoHelpers.call(id, args, mem)
    }
}

/// Why calling a BPF function back failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackError {
    /// The value is not the address of one of the program's functions.
    NotAFunction,
    /// The function ran and failed; the run ends with this error.
    Failed(RunError),
}

/// The running program, as a helper that calls back into it sees it
/// (`bpf_loop`, `bpf_for_each_map_elem`). The interpreter implements it;
/// helpers reach it only through [`ProgramMemory::call_function`].
pub trait Callee {
    /// Runs the BPF function at `func` (as `lddw rX, func` produced it)
    /// with `args` in `r1`-`r5`, on a new frame below `caller`'s, sharing
    /// its budget; returns its `r0`.
    fn call_function(
        &self,
        caller: &ProgramMemory<'_, '_>,
        helpers: &mut dyn Helpers,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, CallbackError>;

    /// The program's own exception callback, as `lddw rX, func` would
    /// give its address; `None` for the default one (the program returns
    /// `bpf_throw`'s cookie).
    fn exception_callback(&self) -> Option<u64>;
}

/// The memory of a running program as a helper sees it: granted regions
/// plus the live part of the stack. Helpers move bytes through it instead of
/// dereferencing program pointers themselves, and call the program's BPF
/// functions back through it (`bpf_loop`, `bpf_for_each_map_elem`).
pub struct ProgramMemory<'r, 'a> {
    pub(crate) map: &'r MemoryMap<'a>,
    pub(crate) stack_lo: u64,
    pub(crate) stack_hi: u64,
    pub(crate) stack_base: u64,
    pub(crate) depth: usize,
    pub(crate) budget: &'r Cell<u64>,
    pub(crate) callee: Option<&'r dyn Callee>,
    pub(crate) failure: &'r Cell<Option<RunError>>,
}

impl<'r, 'a> ProgramMemory<'r, 'a> {
    /// A view of `map` alone, with no stack and no program to call back:
    /// for tests of helpers and for embedders calling helpers directly.
    pub fn detached(
        map: &'r MemoryMap<'a>,
        budget: &'r Cell<u64>,
        failure: &'r Cell<Option<RunError>>,
    ) -> Self {
        ProgramMemory {
            map,
            stack_lo: 0,
            stack_hi: 0,
            stack_base: 0,
            depth: 0,
            budget,
            callee: None,
            failure,
        }
    }

    /// Charges `units` of work a helper does for the program to the run's
    /// instruction budget; the run ends when the budget is spent.
    pub fn charge(&self, units: u64) -> Result<(), HelperError> {
        match self.budget.get().checked_sub(units) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => {
                self.budget.set(0);
                Err(HelperError::BudgetExhausted)
            }
        }
    }

    /// Whether `len` bytes at `addr` are accessible (writable if `write`),
    /// counting also the memory `extra` grants (map values handed out
    /// during the run).
    pub fn allows_with(&self, addr: u64, len: usize, write: bool, extra: &dyn Helpers) -> bool {
        self.allows(addr, len, write) || extra.allows(addr, len as u64, write)
    }

    /// What the program returns when it throws `cookie` (`bpf_throw`):
    /// its exception callback's return value, the callback called with
    /// the cookie on the stack every frame of the program has left
    /// (Linux unwinds them first); the cookie without one.
    pub fn throw(&self, helpers: &mut dyn Helpers, cookie: u64) -> Result<u64, HelperError> {
        let Some(callback) = self.callee.and_then(|c| c.exception_callback()) else {
            return Ok(cookie);
        };
        let unwound = ProgramMemory {
            stack_lo: self.stack_hi,
            depth: 0,
            ..*self
        };
        unwound.call_function(helpers, callback, [cookie, 0, 0, 0, 0])
    }

    /// Calls the program's BPF function whose address (as `lddw rX, func`
    /// produces it) is `func`, with `args` in `r1`-`r5`, on a new stack
    /// frame; returns its `r0`. `helpers` serves the callee's own calls.
    ///
    /// When the callee fails, the helper should return the
    /// [`HelperError::Callback`] this returns: the run then ends with the
    /// callee's own error.
    pub fn call_function(
        &self,
        helpers: &mut dyn Helpers,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, HelperError> {
        let callee = self.callee.ok_or(HelperError::NotAvailable)?;
        callee
            .call_function(self, helpers, func, args)
            .map_err(|e| match e {
                CallbackError::NotAFunction => HelperError::BadCallback(func),
                CallbackError::Failed(e) => {
                    self.failure.set(Some(e));
                    HelperError::Callback
                }
            })
    }

    /// Copies from `addr` like [`read`](Self::read), also accepting memory
    /// that `extra` grants.
    pub fn read_with(
        &self,
        addr: u64,
        out: &mut [u8],
        extra: &dyn Helpers,
    ) -> Result<(), HelperError> {
        if out.is_empty() {
            // Nothing to copy: no pointer to check (a null one may come).
            return Ok(());
        }
        if !self.allows_with(addr, out.len(), false, extra) {
            return Err(HelperError::BadPointer {
                addr,
                len: out.len(),
            });
        }
        // SAFETY: the range lies in a granted region, the live stack or
        // memory the embedder vouches for (`Helpers::allows`), all valid for
        // reads for the whole run.
        unsafe { core::ptr::copy(addr as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies to `addr` like [`write`](Self::write), also accepting memory
    /// that `extra` grants.
    pub fn write_with(
        &self,
        addr: u64,
        data: &[u8],
        extra: &dyn Helpers,
    ) -> Result<(), HelperError> {
        if data.is_empty() {
            // Nothing to copy: no pointer to check (a null one may come).
            return Ok(());
        }
        if !self.allows_with(addr, data.len(), true, extra) {
            return Err(HelperError::BadPointer {
                addr,
                len: data.len(),
            });
        }
        // SAFETY: as for `read_with`, for writable memory.
        unsafe { core::ptr::copy(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }

    /// Whether `len` bytes at `addr` are accessible (writable if `write`);
    /// no bytes always are.
    pub fn allows(&self, addr: u64, len: usize, write: bool) -> bool {
        if len == 0 {
            return true;
        }
        let len = len as u64;
        let in_stack = addr >= self.stack_lo
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= self.stack_hi);
        in_stack || self.map.allows(addr, len, write)
    }

    /// Copies `out.len()` bytes from program address `addr` into `out`.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), HelperError> {
        if out.is_empty() {
            // Nothing to copy: no pointer to check (a null one may come).
            return Ok(());
        }
        if !self.allows(addr, out.len(), false) {
            return Err(HelperError::BadPointer {
                addr,
                len: out.len(),
            });
        }
        // SAFETY: the range lies in a granted region or the live stack, both
        // valid for reads for the whole run (MemoryMap::add_raw's contract).
        unsafe { core::ptr::copy(addr as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Moves the packet programs see to the `len` bytes at `start`, inside
    /// the room the run granted it (`bpf_xdp_adjust_head` and the like);
    /// `false`, and no change, outside it.
    pub fn set_packet(&self, start: u64, len: u64) -> bool {
        self.map.set_packet(start, len)
    }

    /// Copies `data` into the program's context at `addr`, in a field
    /// programs may only read: helpers change the packet's metadata (its
    /// hash, VLAN tag) on the kernel's behalf.
    pub fn write_context(&self, addr: u64, data: &[u8]) -> Result<(), HelperError> {
        if data.is_empty() {
            // Nothing to copy: no pointer to check (a null one may come).
            return Ok(());
        }
        let len = data.len() as u64;
        if !self
            .map
            .allows_kind(addr, len, false, Some(RegionKind::Context))
        {
            return Err(HelperError::BadPointer {
                addr,
                len: data.len(),
            });
        }
        // SAFETY: the range lies in a context region, which the runtime
        // grants over memory it holds mutably for the run and only marks
        // read-only to keep programs from writing it (`TestInput::args`).
        unsafe { core::ptr::copy(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }

    /// Copies `data` to program address `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), HelperError> {
        if data.is_empty() {
            // Nothing to copy: no pointer to check (a null one may come).
            return Ok(());
        }
        if !self.allows(addr, data.len(), true) {
            return Err(HelperError::BadPointer {
                addr,
                len: data.len(),
            });
        }
        // SAFETY: the range lies in a writable granted region or the live
        // stack, both valid for writes for the whole run.
        unsafe { core::ptr::copy(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }
}
