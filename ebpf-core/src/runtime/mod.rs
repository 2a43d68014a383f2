//! Programs bound to their maps, and how they run: inside a read-side
//! section on one CPU, with Linux's helpers ([`ids`]) served by a per-run
//! context, tail calls followed up to Linux's limit.

mod context;
pub mod ctx;
pub mod format;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::error::{HelperError, LoadError, RunError};
use crate::insn::Insn;
use crate::interp::Stack;
use crate::maps::Map;
use crate::memory::MemoryMap;
use crate::opcode::{
    BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE,
};
use crate::platform::{PlatformRef, ReadGuard};
use crate::prog_type::ProgType;
use crate::program::{LoadOptions, Program, PseudoResolver};
use crate::quota::Charge;
use crate::shared::Shared;

pub use context::RunContext;

/// Linux's helper ids, as `enum bpf_func_id` numbers them.
pub mod ids {
    #![allow(missing_docs)]
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const KTIME_GET_NS: u32 = 5;
    pub const TRACE_PRINTK: u32 = 6;
    pub const GET_PRANDOM_U32: u32 = 7;
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    pub const TAIL_CALL: u32 = 12;
    pub const GET_NUMA_NODE_ID: u32 = 42;
    pub const MAP_PUSH_ELEM: u32 = 87;
    pub const MAP_POP_ELEM: u32 = 88;
    pub const MAP_PEEK_ELEM: u32 = 89;
    pub const JIFFIES64: u32 = 118;
    pub const KTIME_GET_BOOT_NS: u32 = 125;
    pub const RINGBUF_OUTPUT: u32 = 130;
    pub const RINGBUF_RESERVE: u32 = 131;
    pub const RINGBUF_SUBMIT: u32 = 132;
    pub const RINGBUF_DISCARD: u32 = 133;
    pub const RINGBUF_QUERY: u32 = 134;
    pub const KTIME_GET_COARSE_NS: u32 = 160;
    pub const FOR_EACH_MAP_ELEM: u32 = 164;
    pub const SNPRINTF: u32 = 165;
    pub const LOOP: u32 = 181;

    /// Every helper the runtime provides.
    pub const ALL: &[u32] = &[
        MAP_LOOKUP_ELEM,
        MAP_UPDATE_ELEM,
        MAP_DELETE_ELEM,
        KTIME_GET_NS,
        TRACE_PRINTK,
        GET_PRANDOM_U32,
        GET_SMP_PROCESSOR_ID,
        TAIL_CALL,
        GET_NUMA_NODE_ID,
        MAP_PUSH_ELEM,
        MAP_POP_ELEM,
        MAP_PEEK_ELEM,
        JIFFIES64,
        KTIME_GET_BOOT_NS,
        RINGBUF_OUTPUT,
        RINGBUF_RESERVE,
        RINGBUF_SUBMIT,
        RINGBUF_DISCARD,
        RINGBUF_QUERY,
        KTIME_GET_COARSE_NS,
        FOR_EACH_MAP_ELEM,
        SNPRINTF,
        LOOP,
    ];
}

/// Tail calls one run may make (Linux's `MAX_TAIL_CALL_CNT`).
pub const MAX_TAIL_CALLS: u32 = 33;

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
pub struct LoadedProgram {
    platform: PlatformRef,
    id: u32,
    prog_type: ProgType,
    program: Program,
    maps: Vec<Shared<Map>>,
    stats: RunStats,
    /// What it holds of its device's limits, given back when it is freed.
    charge: Option<Charge>,
}

/// Resolves `LD_IMM64` map references against the program's maps: by
/// index (`map_idx`, `map_idx_value`) or by handle through `by_fd`
/// (`map_fd`, `map_value`).
struct MapRefs<'a> {
    maps: &'a [Shared<Map>],
    by_fd: &'a dyn Fn(i32) -> Option<usize>,
}

impl PseudoResolver for MapRefs<'_> {
    fn resolve(&self, pc: usize, src: u8, imm: i32, next_imm: i32) -> Result<u64, LoadError> {
        let bad = LoadError::BadMapReference {
            pc,
            map: imm,
            offset: next_imm,
        };
        let index = match src {
            BPF_PSEUDO_MAP_IDX | BPF_PSEUDO_MAP_IDX_VALUE => usize::try_from(imm).ok(),
            BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE => (self.by_fd)(imm),
            _ => {
                return Err(LoadError::Unsupported {
                    pc,
                    what: "lddw BTF variable reference",
                })
            }
        };
        let map = index.and_then(|i| self.maps.get(i)).ok_or(bad)?;
        match src {
            BPF_PSEUDO_MAP_IDX | BPF_PSEUDO_MAP_FD => {
                if next_imm != 0 {
                    return Err(bad);
                }
                Ok(Shared::as_ptr(map) as u64)
            }
            _ => {
                let offset = u32::try_from(next_imm).map_err(|_| bad)?;
                map.value_addr(offset).map_err(|_| bad)
            }
        }
    }
}

/// Whether the runtime provides helper `id`.
struct KnownHelpers;

impl crate::helpers::Helpers for KnownHelpers {
    fn supports(&self, id: u32) -> bool {
        ids::ALL.contains(&id)
    }

    fn call(
        &mut self,
        _id: u32,
        _args: [u64; 5],
        _mem: &crate::memory::ProgramMemory<'_, '_>,
    ) -> Result<u64, HelperError> {
        Err(HelperError::NotAvailable)
    }
}

impl LoadedProgram {
    /// Validates `insns` and binds them to `maps`. Map references in the
    /// code name a map by its index in `maps`, or by a handle that `by_fd`
    /// turns into such an index. `options` sets the budget and limits (its
    /// helpers and resolver are replaced by the runtime's).
    pub fn load(
        platform: PlatformRef,
        id: u32,
        prog_type: ProgType,
        insns: &[Insn],
        maps: Vec<Shared<Map>>,
        by_fd: &dyn Fn(i32) -> Option<usize>,
        options: LoadOptions<'_>,
    ) -> Result<Self, LoadError> {
        let refs = MapRefs { maps: &maps, by_fd };
        let opts = options.helpers(&KnownHelpers).resolver(&refs);
        let program = if prog_type == ProgType::Xdp {
            let mut converted = Vec::new();
            converted
                .try_reserve_exact(insns.len())
                .map_err(|_| LoadError::OutOfMemory)?;
            converted.extend_from_slice(insns);
            ctx::convert_xdp(&mut converted)?;
            Program::load(&converted, &opts)?
        } else {
            Program::load(insns, &opts)?
        };
        Ok(LoadedProgram {
            platform,
            id,
            prog_type,
            program,
            maps,
            stats: RunStats::default(),
            charge: None,
        })
    }

    /// Makes the program hold `charge` until it is freed (device
    /// accounting).
    pub fn set_charge(&mut self, charge: Charge) {
        self.charge = Some(charge);
    }

    /// The program's id.
    pub fn id(&self) -> u32 {
        self.id
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
        let platform = self.platform;
        let _section = ReadGuard::new(platform);
        let timed = self.stats.is_enabled();
        let start = if timed { platform.monotonic_ns() } else { 0 };
        let mut ctx = RunContext::new(platform, self);
        let mut args = args;
        // One budget for the whole chain of tail calls.
        let budget = core::cell::Cell::new(self.program.budget());
        let result = loop {
            let current = ctx.current();
            match current
                .program
                .run_with_budget(stack, mem, args, &mut ctx, &budget)
            {
                Err(RunError::Helper {
                    error: HelperError::TailCall,
                    ..
                }) => {
                    args[0] = ctx.take_tail_call_ctx();
                }
                other => break other,
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
