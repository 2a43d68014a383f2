//! Programs bound to their maps ([`LoadedProgram`], made by the load
//! pipeline in [`crate::load`]), and how they run: inside a read-side
//! section on one CPU, with Linux's helpers served by a per-run
//! [`RunContext`], tail calls followed up to Linux's limit; timers in map
//! values ([`timer`]) and the deferred freeing they need ([`reaper`]).

pub mod reaper;
pub mod timer;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use crate::error::RunError;
use crate::graph::{Graph, ProgramObjects};
use crate::helpers::RunContext;
use crate::interp::{Exit, Stack};
use crate::maps::{Map, ProgramHeader, ProgramRef};
use crate::memory::MemoryMap;
use crate::platform::{PlatformRef, ReadGuard};
use crate::prog_type::{AttachPoint, ProgType};
use crate::program::Program;
use crate::quota::Charge;
use crate::shared::Shared;

/// Run statistics, kept as Linux keeps them with
/// `kernel.bpf_stats_enabled`: only while enabled, since reading the clock
/// twice per run costs more than a short program.
#[derive(Default)]
pub struct RunStats {
    enabled: AtomicBool,
    runs: AtomicU64,
    run_ns: AtomicU64,
}

impl RunStats {
    /// Starts or stops counting.
    pub fn enable(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether runs are counted.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Number of completed runs and their total time in ns.
    pub fn get(&self) -> (u64, u64) {
        (
            self.runs.load(Ordering::Relaxed),
            self.run_ns.load(Ordering::Relaxed),
        )
    }

    fn add(&self, ns: u64) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        self.run_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

/// A validated program with the maps it references.
#[repr(C)]
pub struct LoadedProgram {
    /// First, so that a prog_array slot, which knows only the header, holds
    /// the program's address (see [`crate::maps::ProgramHeader`]).
    header: ProgramHeader,
    platform: PlatformRef,
    prog_type: ProgType,
    program: Program,
    maps: Vec<Shared<Map>>,
    stats: RunStats,
    /// What it holds of its device's limits, given back when it is freed.
    charge: Option<Charge>,
    /// The verifier accepted it: it runs without run-time checks.
    verified: bool,
    /// Where it is meant to run.
    attach: AttachPoint,
    /// The device's object graph and the object types it allocates, as
    /// (BTF id, index), if it allocates any.
    objects: Option<ProgramObjects>,
    /// It lives inside a [`Shared`] ([`into_shared`](Self::into_shared)):
    /// a timer may hold it.
    shared: bool,
    /// The reaper's list, once its last reference is gone from atomic
    /// context.
    reap_next: AtomicPtr<LoadedProgram>,
}

impl LoadedProgram {
    /// A program that passed the load pipeline ([`crate::load`]).
    pub(crate) fn new(
        platform: PlatformRef,
        id: u32,
        prog_type: ProgType,
        program: Program,
        maps: Vec<Shared<Map>>,
    ) -> Self {
        LoadedProgram {
            // SAFETY: the header is the first field of this #[repr(C)]
            // struct, which reaches prog_array slots only inside a
            // `Shared` (`From<Shared<LoadedProgram>> for ProgramRef`), and
            // `release_slot_reference` drops exactly such a reference.
            header: unsafe { ProgramHeader::new(id, prog_type as u32, release_slot_reference) },
            platform,
            prog_type,
            program,
            maps,
            stats: RunStats::default(),
            charge: None,
            verified: false,
            attach: AttachPoint::Default,
            objects: None,
            shared: false,
            reap_next: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Moves it into a [`Shared`], where timers may hold it (a program
    /// that is not shared cannot set a timer's callback: `EOPNOTSUPP`).
    pub fn into_shared(mut self) -> Result<Shared<LoadedProgram>, crate::Errno> {
        self.shared = true;
        Shared::try_new(self)
    }

    /// Records the object graph it allocates from and its object types.
    pub(crate) fn set_objects(&mut self, objects: ProgramObjects) {
        self.objects = Some(objects);
    }

    /// Fills the object pool for its types (process context, before test
    /// runs).
    pub fn top_up_objects(&self) {
        if let Some(o) = &self.objects {
            for &(_, i) in &o.types {
                let _ = o.graph.top_up(i);
            }
        }
    }

    /// What a run's helpers need of its object graph: for verified
    /// programs only.
    fn objects(&self) -> Option<(&Graph, &[(u32, u32)])> {
        if !self.verified {
            return None;
        }
        self.objects
            .as_ref()
            .map(|o| (&*o.graph, o.types.as_slice()))
    }

    /// Records where it is meant to run.
    pub(crate) fn set_attach(&mut self, attach: AttachPoint) {
        self.attach = attach;
    }

    /// Where it is meant to run (Linux's `expected_attach_type`).
    pub fn attach(&self) -> AttachPoint {
        self.attach
    }

    /// Records that the verifier accepted it.
    pub(crate) fn set_verified(&mut self, verified: bool) {
        self.verified = verified;
    }

    /// Whether the verifier accepted it (it runs without run-time checks).
    pub fn is_verified(&self) -> bool {
        self.verified
    }

    /// Makes the program hold `charge` until it is freed (device
    /// accounting).
    pub fn set_charge(&mut self, charge: Charge) {
        self.charge = Some(charge);
    }

    /// The program's id.
    pub fn id(&self) -> u32 {
        self.header.id()
    }

    /// The program type.
    pub fn prog_type(&self) -> ProgType {
        self.prog_type
    }

    /// The validated program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The maps it references.
    pub fn maps(&self) -> &[Shared<Map>] {
        &self.maps
    }

    /// Run count and total run time.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// Runs the program on this CPU with `args` in `r1`-`r5` and the memory
    /// in `mem`, following tail calls. The run happens inside a read-side
    /// section: maps and programs it reaches stay alive until it returns.
    pub fn run(
        &self,
        stack: &mut Stack,
        mem: &MemoryMap<'_>,
        args: [u64; 5],
    ) -> Result<u64, RunError> {
        let section = ReadGuard::new(self.platform);
        self.run_in(&section, stack, mem, args)
    }

    /// Runs the program like [`run`](Self::run), inside the read-side
    /// section `_section` the caller holds (repeated runs share one, as
    /// Linux's test runs do; the caller leaves it between batches so that
    /// the CPU can be rescheduled).
    pub fn run_in(
        &self,
        _section: &ReadGuard,
        stack: &mut Stack,
        mem: &MemoryMap<'_>,
        args: [u64; 5],
    ) -> Result<u64, RunError> {
        let platform = self.platform;
        let timed = self.stats.is_enabled();
        let start = if timed { platform.monotonic_ns() } else { 0 };
        let mut ctx = RunContext::new(platform, &self.maps, args[0], self.prog_type as u32);
        ctx.set_objects(self.objects());
        ctx.set_program(self.timer_holder());
        let mut current = self;
        let mut args = args;
        // One budget for the whole chain of tail calls.
        let budget = core::cell::Cell::new(self.program.budget());
        let result = loop {
            match current
                .program
                .run_with_budget(stack, mem, args, &mut ctx, &budget)
            {
                Ok(Exit::TailCall) => {
                    let Some((ctx_arg, target)) = ctx.take_tail_call() else {
                        break Err(RunError::UnfollowedTailCall);
                    };
                    // SAFETY: every header in a prog_array slot starts a
                    // LoadedProgram (`new`); the slot's reference keeps it
                    // alive until a grace period after it is unpublished,
                    // and we are inside the run's read-side section.
                    current = unsafe { &*(target as *const LoadedProgram) };
                    ctx.switch_to(&current.maps);
                    ctx.set_objects(current.objects());
                    ctx.set_program(current.timer_holder());
                    args[0] = ctx_arg;
                    // A checked program's budget holds even when a verified
                    // one (which has none) tail-calls it.
                    budget.set(budget.get().min(current.program.budget()));
                }
                Ok(Exit::Return(r0)) => break Ok(r0),
                Err(e) => break Err(e),
            }
        };
        ctx.finish();
        if timed {
            self.stats
                .add(platform.monotonic_ns().saturating_sub(start));
        }
        result
    }
}

impl LoadedProgram {
    /// Itself, for `bpf_timer_set_callback`, if a timer may hold it.
    fn timer_holder(&self) -> Option<&Self> {
        (self.shared && self.verified).then_some(self)
    }

    /// Runs the program's function `func` (as `lddw rX, func` gave its
    /// address) as the callback of `timer`, with `args` (the timer's map,
    /// key and value), inside `_section`; `key` is the key's bytes, which
    /// `args[1]` points to and the callback may read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_timer_callback(
        &self,
        _section: &ReadGuard,
        stack: &mut Stack,
        func: u64,
        args: [u64; 5],
        key: &[u8],
        map: &Map,
        timer: &timer::TimerCell,
    ) -> Result<u64, RunError> {
        let index = self
            .program
            .function_index(func)
            .ok_or(RunError::UnfollowedTailCall)?;
        let mut ctx = RunContext::new(self.platform, &self.maps, 0, self.prog_type as u32);
        ctx.set_objects(self.objects());
        ctx.set_program(self.timer_holder());
        ctx.set_timer_callback(timer, map, (key.as_ptr() as u64, key.len()));
        let budget = core::cell::Cell::new(self.program.budget());
        let mem = MemoryMap::new();
        let result = self
            .program
            .run_function(index, stack, &mem, args, &mut ctx, &budget);
        ctx.finish();
        match result {
            Ok(Exit::Return(r0)) => Ok(r0),
            Ok(Exit::TailCall) => Err(RunError::UnfollowedTailCall),
            Err(e) => Err(e),
        }
    }
}

/// Gives back the reference a prog_array slot held.
///
/// # Safety
/// `header` heads a `LoadedProgram` inside a `Shared` whose reference the
/// caller owns (`ProgramHeader::new`'s contract).
unsafe fn release_slot_reference(header: *const ProgramHeader) {
    // SAFETY: per the contract, the header's address is the program's
    // (first field of a #[repr(C)] struct) and one reference is ours.
    drop(unsafe { Shared::from_raw(header as *const LoadedProgram) });
}

impl From<Shared<LoadedProgram>> for ProgramRef {
    fn from(p: Shared<LoadedProgram>) -> Self {
        let header = Shared::into_raw(p) as *const ProgramHeader;
        // SAFETY: the header starts a live program (first field of a
        // #[repr(C)] struct) and we hand over the reference `p` was.
        unsafe { ProgramRef::from_raw(header) }
    }
}
