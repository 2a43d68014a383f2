//! The interpreter: runs a pre-decoded [`Program`].
//!
//! Registers live in a local array, dispatch is one `match` on the dense
//! operation code, and nothing allocates. In checked mode every load, store
//! and atomic is checked against the live stack and the granted regions
//! before it touches memory.

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::decoded::{Op, Slot};
use crate::error::{AccessKind, HelperError, RunError};
use crate::helpers::{CallbackError, Callee, Flow, Helpers, NoHelpers, ProgramMemory};
use crate::jit::run::Activation;
use crate::memory::{MemoryMap, RegionKind};
use crate::opcode::{BPF_ADD, BPF_AND, BPF_CMPXCHG, BPF_FETCH, BPF_OR, BPF_XCHG, BPF_XOR};
use crate::program::{Program, FUNC_ADDR_TAG, MAX_CALL_FRAMES, STACK_SIZE};

const STACK_WORDS: usize = MAX_CALL_FRAMES * STACK_SIZE / 8;

/// Stack memory for one run: [`STACK_SIZE`] bytes for each of
/// [`MAX_CALL_FRAMES`] frames (4 KiB). An embedder keeps one per CPU (or per
/// thread) and reuses it; its contents are not cleared between runs.
#[derive(Clone)]
pub struct Stack {
    words: [u64; STACK_WORDS],
}

impl Default for Stack {
    fn default() -> Self {
        Self::new()
    }
}

impl Stack {
    /// A zeroed stack on the heap, or `None` when memory is short. Kernel
    /// stacks are 16 KiB: the interpreter's stack does not belong there.
    pub fn try_new_boxed() -> Option<alloc::boxed::Box<Stack>> {
        let layout = core::alloc::Layout::new::<Stack>();
        // SAFETY: the layout is not zero-sized.
        let p = unsafe { alloc::alloc::alloc_zeroed(layout) }.cast::<Stack>();
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` is a fresh allocation with Stack's layout, and all
        // zeroes is a valid Stack (an array of u64); Box frees it with the
        // same layout.
        Some(unsafe { alloc::boxed::Box::from_raw(p) })
    }

    /// A zeroed stack.
    pub const fn new() -> Self {
        Stack {
            words: [0; STACK_WORDS],
        }
    }

    fn bounds(&mut self) -> (u64, u64) {
        let lo = self.words.as_mut_ptr() as u64;
        (lo, lo + (STACK_WORDS * 8) as u64)
    }
}

/// How a program's run ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It returned `r0` from its main function.
    Return(u64),
    /// A helper made a tail call: the program ended there, and the run
    /// continues in the target the helper recorded.
    TailCall,
}

/// Where an activation of the interpreter starts: the whole run, or a
/// callback a helper invokes.
struct Entry<'f> {
    pc: usize,
    frame_pointer: u64,
    depth: usize,
    stack_base: u64,
    stack_hi: u64,
    args: [u64; 5],
    failure: &'f Cell<Option<RunError>>,
}

#[derive(Clone, Copy, Default)]
struct Frame {
    return_pc: usize,
    callee_saved: [u64; 4],
    frame_pointer: u64,
}

/// Atomic read-modify-write on naturally aligned memory, 32 or 64 bits.
macro_rules! atomic_op {
    ($atomic:ty, $int:ty, $addr:expr, $op:expr, $reg:expr, $src:expr) => {{
        // SAFETY: the caller checked that the address is naturally aligned
        // and lies in writable memory granted for the whole run (or the
        // program was proven to do so).
        let cell = unsafe { <$atomic>::from_ptr($addr as *mut $int) };
        let val = $reg[$src] as $int;
        let relaxed = Ordering::Relaxed;
        let seq = Ordering::SeqCst;
        match $op {
            op if op == BPF_ADD as i32 => {
                cell.fetch_add(val, relaxed);
            }
            op if op == BPF_OR as i32 => {
                cell.fetch_or(val, relaxed);
            }
            op if op == BPF_AND as i32 => {
                cell.fetch_and(val, relaxed);
            }
            op if op == BPF_XOR as i32 => {
                cell.fetch_xor(val, relaxed);
            }
            op if op == BPF_ADD as i32 | BPF_FETCH => $reg[$src] = cell.fetch_add(val, seq) as u64,
            op if op == BPF_OR as i32 | BPF_FETCH => $reg[$src] = cell.fetch_or(val, seq) as u64,
            op if op == BPF_AND as i32 | BPF_FETCH => $reg[$src] = cell.fetch_and(val, seq) as u64,
            op if op == BPF_XOR as i32 | BPF_FETCH => $reg[$src] = cell.fetch_xor(val, seq) as u64,
            BPF_XCHG => $reg[$src] = cell.swap(val, seq) as u64,
            BPF_CMPXCHG => {
                let expected = $reg[0] as $int;
                $reg[0] = match cell.compare_exchange(expected, val, seq, seq) {
                    Ok(old) | Err(old) => old as u64,
                };
            }
            // The loader accepts only the operations above.
            _ => {}
        }
    }};
}

// Division and modulo as RFC 9669 and Linux define them: division by zero
// gives 0, modulo by zero leaves the dividend (zero-extended for 32 bits),
// and the signed overflow case (MIN / -1) wraps: MIN / -1 = MIN,
// MIN % -1 = 0.

#[inline(always)]
fn div32(a: u64, b: u64) -> u64 {
    (a as u32).checked_div(b as u32).unwrap_or(0) as u64
}

#[inline(always)]
fn mod32(a: u64, b: u64) -> u64 {
    let a = a as u32;
    a.checked_rem(b as u32).unwrap_or(a) as u64
}

#[inline(always)]
fn sdiv32(a: u64, b: u64) -> u64 {
    match b as i32 {
        0 => 0,
        b => (a as i32).wrapping_div(b) as u32 as u64,
    }
}

#[inline(always)]
fn smod32(a: u64, b: u64) -> u64 {
    let a = a as i32;
    match b as i32 {
        0 => a as u32 as u64,
        b => a.wrapping_rem(b) as u32 as u64,
    }
}

#[inline(always)]
fn sdiv64(a: u64, b: u64) -> u64 {
    match b as i64 {
        0 => 0,
        b => (a as i64).wrapping_div(b) as u64,
    }
}

#[inline(always)]
fn smod64(a: u64, b: u64) -> u64 {
    match b as i64 {
        0 => a,
        b => (a as i64).wrapping_rem(b) as u64,
    }
}

impl Program {
    /// Runs the program with `args` in `r1`-`r5`, the memory regions in
    /// `mem`, and `helpers` for `call`. Returns `r0` at the final `exit`.
    /// A tail call a helper makes ends the run with
    /// [`RunError::UnfollowedTailCall`]: following them is the runtime's
    /// job ([`crate::LoadedProgram::run`]).
    pub fn run(
        &self,
        stack: &mut Stack,
        mem: &MemoryMap<'_>,
        args: [u64; 5],
        helpers: &mut dyn Helpers,
    ) -> Result<u64, RunError> {
        match self.run_with_budget(stack, mem, args, helpers, &Cell::new(self.budget))? {
            Exit::Return(r0) => Ok(r0),
            Exit::TailCall => Err(RunError::UnfollowedTailCall),
        }
    }

    /// Runs the program like [`run`](Program::run), charging instructions
    /// to `budget`, which several runs can share (a chain of tail calls is
    /// one run: its programs share one budget), and reporting a tail call
    /// as [`Exit::TailCall`].
    pub fn run_with_budget(
        &self,
        stack: &mut Stack,
        mem: &MemoryMap<'_>,
        args: [u64; 5],
        helpers: &mut dyn Helpers,
        budget: &Cell<u64>,
    ) -> Result<Exit, RunError> {
        self.run_function(0, stack, mem, args, helpers, budget)
    }

    /// Runs the program's function that starts at instruction `function`
    /// (0: the program itself; a timer's callback otherwise) as a run of
    /// its own, like [`run_with_budget`](Self::run_with_budget).
    pub(crate) fn run_function(
        &self,
        function: usize,
        stack: &mut Stack,
        mem: &MemoryMap<'_>,
        args: [u64; 5],
        helpers: &mut dyn Helpers,
        budget: &Cell<u64>,
    ) -> Result<Exit, RunError> {
        let (stack_base, stack_hi) = stack.bounds();
        let failure = Cell::new(None);
        let at = Activation {
            function,
            frame_pointer: stack_hi,
            stack_base,
            stack_hi,
            args,
            mem,
            budget,
            failure: &failure,
        };
        let result = if let Some(image) = &self.kernel {
            image.run(self, at, helpers)
        } else if let Some(image) = &self.native {
            let target = image
                .function(function)
                .ok_or(RunError::UnfollowedTailCall)?;
            crate::jit::run::enter(self, image.entry(), target, at, helpers)
        } else {
            let entry = Entry {
                pc: function,
                frame_pointer: stack_hi,
                depth: 0,
                stack_base,
                stack_hi,
                args,
                failure: &failure,
            };
            self.enter(&entry, mem, helpers, budget)
        };
        match result {
            // A helper ended the program: this is the run's end.
            Err(RunError::Unwound { value }) => Ok(Exit::Return(value)),
            other => other,
        }
    }

    /// Runs the program on one buffer, with no helpers: `r1` points to
    /// `memory` and `r2` holds its length (the convention of eBPF
    /// conformance tests). The buffer is also the packet that `LD_ABS` and
    /// `LD_IND` read.
    pub fn run_on(&self, memory: &mut [u8]) -> Result<u64, RunError> {
        self.run_on_with(memory, &mut NoHelpers)
    }

    /// Runs the program on one buffer like [`run_on`](Program::run_on),
    /// with `helpers`.
    pub fn run_on_with(
        &self,
        memory: &mut [u8],
        helpers: &mut dyn Helpers,
    ) -> Result<u64, RunError> {
        let len = memory.len() as u64;
        let mut map = MemoryMap::new();
        let addr = if memory.is_empty() {
            0
        } else {
            // A fresh map always has room for one region.
            map.add_mut(memory, RegionKind::Packet).unwrap_or(0)
        };
        let mut stack = Stack::try_new_boxed().ok_or(RunError::OutOfMemory)?;
        self.run(&mut stack, &map, [addr, len, 0, 0, 0], helpers)
    }

    fn enter(
        &self,
        entry: &Entry<'_>,
        mem: &MemoryMap<'_>,
        helpers: &mut dyn Helpers,
        budget: &Cell<u64>,
    ) -> Result<Exit, RunError> {
        if self.checked {
            self.interpret::<true>(entry, mem, helpers, budget)
        } else {
            self.interpret::<false>(entry, mem, helpers, budget)
        }
    }

    #[inline(never)]
    fn interpret<const CHECKED: bool>(
        &self,
        entry: &Entry<'_>,
        mem: &MemoryMap<'_>,
        helpers: &mut dyn Helpers,
        budget: &Cell<u64>,
    ) -> Result<Exit, RunError> {
        let code: &[Slot] = &self.code;
        let stack_hi = entry.stack_hi;
        let mut stack_lo = entry.frame_pointer - STACK_SIZE as u64;
        let mut reg = [0u64; 16];
        reg[1..6].copy_from_slice(&entry.args);
        reg[10] = entry.frame_pointer;
        let mut frames = [Frame::default(); MAX_CALL_FRAMES];
        let base_depth = entry.depth;
        let mut depth = base_depth;
        let mut remaining = budget.get();
        let mut pc = entry.pc;

        macro_rules! fail_access {
            ($addr:expr, $size:expr, $kind:expr) => {
                return Err(RunError::OutOfBounds {
                    pc: pc - 1,
                    addr: $addr,
                    size: $size,
                    kind: $kind,
                })
            };
        }
        // Checks `$size` bytes at `$addr` in checked mode; evaluates to the
        // address.
        macro_rules! checked {
            ($addr:expr, $size:expr, $kind:expr) => {{
                let addr: u64 = $addr;
                if CHECKED {
                    let in_stack = addr.wrapping_sub(stack_lo) <= (stack_hi - stack_lo) - $size;
                    let write = !matches!($kind, AccessKind::Load);
                    if !in_stack
                        && !mem.allows(addr, $size, write)
                        && !helpers.allows(addr, $size, write)
                    {
                        fail_access!(addr, $size as usize, $kind);
                    }
                }
                addr
            }};
        }
        macro_rules! load {
            ($s:expr, $ty:ty) => {{
                let size = core::mem::size_of::<$ty>() as u64;
                let base = reg[($s.src & 15) as usize];
                let addr = checked!(
                    base.wrapping_add($s.off as i64 as u64),
                    size,
                    AccessKind::Load
                );
                // SAFETY: the access lies in the live stack or a granted
                // region (checked just above), or the program was proven
                // safe when it was loaded unchecked.
                unsafe { (addr as *const $ty).read_unaligned() }
            }};
        }
        macro_rules! store {
            ($s:expr, $ty:ty, $val:expr) => {{
                let size = core::mem::size_of::<$ty>() as u64;
                let base = reg[($s.dst & 15) as usize];
                let addr = checked!(
                    base.wrapping_add($s.off as i64 as u64),
                    size,
                    AccessKind::Store
                );
                // SAFETY: as for loads, for writable memory.
                unsafe { (addr as *mut $ty).write_unaligned($val as $ty) }
            }};
        }
        macro_rules! atomic {
            ($s:expr, $atomic:ty, $int:ty) => {{
                let size = core::mem::size_of::<$int>() as u64;
                let addr = reg[($s.dst & 15) as usize].wrapping_add($s.off as i64 as u64);
                if addr % size != 0 {
                    return Err(RunError::Misaligned {
                        pc: pc - 1,
                        addr,
                        size: size as usize,
                    });
                }
                let addr = checked!(addr, size, AccessKind::Atomic);
                atomic_op!(
                    $atomic,
                    $int,
                    addr,
                    $s.imm as i32,
                    reg,
                    ($s.src & 15) as usize
                );
            }};
        }
        macro_rules! packet_load {
            ($offset:expr, $ty:ty) => {{
                let size = core::mem::size_of::<$ty>() as u64;
                match mem.legacy_packet_load(($offset) as u32 as i32, size) {
                    Some(at) => {
                        let mut bytes = [0u8; core::mem::size_of::<$ty>()];
                        // SAFETY: the bytes lie inside the packet or the
                        // link-layer header in front of it, both granted
                        // (`legacy_packet_load` checked the range).
                        unsafe {
                            core::ptr::copy_nonoverlapping(
                                at as *const u8,
                                bytes.as_mut_ptr(),
                                bytes.len(),
                            )
                        };
                        reg[0] = <$ty>::from_be_bytes(bytes) as u64;
                    }
                    // Linux ends the program with r0 = 0 when a legacy
                    // packet load is out of bounds.
                    None => return Ok(Exit::Return(0)),
                }
            }};
        }
        // Calls helper `$id` with `r1`-`r5`; `r0` gets its result, unless
        // it ends the program (a tail call, or unwinding).
        macro_rules! helper_call {
            ($id:expr) => {{
                budget.set(remaining);
                let view = self.view(entry, mem, budget, (stack_lo, stack_hi, depth));
                let args = [reg[1], reg[2], reg[3], reg[4], reg[5]];
                match call_helper(helpers, $id, args, &view, pc - 1)? {
                    Flow::Return(r0) => reg[0] = r0,
                    Flow::TailCall => return Ok(Exit::TailCall),
                    Flow::Exit(value) => return Err(RunError::Unwound { value }),
                }
                remaining = budget.get();
            }};
        }
        macro_rules! call_local {
            ($target:expr) => {{
                if depth + 1 >= MAX_CALL_FRAMES {
                    return Err(RunError::CallDepthExceeded {
                        pc: pc - 1,
                        max: MAX_CALL_FRAMES,
                    });
                }
                frames[depth - base_depth] = Frame {
                    return_pc: pc,
                    callee_saved: [reg[6], reg[7], reg[8], reg[9]],
                    frame_pointer: reg[10],
                };
                depth += 1;
                reg[10] -= STACK_SIZE as u64;
                stack_lo = reg[10] - STACK_SIZE as u64;
                pc = $target;
            }};
        }

        loop {
            let s = code[pc];
            if remaining == 0 {
                return Err(RunError::BudgetExhausted {
                    pc,
                    budget: self.budget,
                });
            }
            remaining -= 1;
            pc += 1;
            let d = (s.dst & 15) as usize;
            let r = (s.src & 15) as usize;
            match s.op {
                Op::Add64Imm => reg[d] = reg[d].wrapping_add(s.imm),
                Op::Add64Reg => reg[d] = reg[d].wrapping_add(reg[r]),
                Op::Sub64Imm => reg[d] = reg[d].wrapping_sub(s.imm),
                Op::Sub64Reg => reg[d] = reg[d].wrapping_sub(reg[r]),
                Op::Mul64Imm => reg[d] = reg[d].wrapping_mul(s.imm),
                Op::Mul64Reg => reg[d] = reg[d].wrapping_mul(reg[r]),
                Op::Div64Imm => reg[d] = reg[d].checked_div(s.imm).unwrap_or(0),
                Op::Div64Reg => reg[d] = reg[d].checked_div(reg[r]).unwrap_or(0),
                Op::Sdiv64Imm => reg[d] = sdiv64(reg[d], s.imm),
                Op::Sdiv64Reg => reg[d] = sdiv64(reg[d], reg[r]),
                Op::Mod64Imm => reg[d] = reg[d].checked_rem(s.imm).unwrap_or(reg[d]),
                Op::Mod64Reg => reg[d] = reg[d].checked_rem(reg[r]).unwrap_or(reg[d]),
                Op::Smod64Imm => reg[d] = smod64(reg[d], s.imm),
                Op::Smod64Reg => reg[d] = smod64(reg[d], reg[r]),
                Op::Or64Imm => reg[d] |= s.imm,
                Op::Or64Reg => reg[d] |= reg[r],
                Op::And64Imm => reg[d] &= s.imm,
                Op::And64Reg => reg[d] &= reg[r],
                Op::Lsh64Imm => reg[d] = reg[d].wrapping_shl(s.imm as u32),
                Op::Lsh64Reg => reg[d] = reg[d].wrapping_shl(reg[r] as u32),
                Op::Rsh64Imm => reg[d] = reg[d].wrapping_shr(s.imm as u32),
                Op::Rsh64Reg => reg[d] = reg[d].wrapping_shr(reg[r] as u32),
                Op::Arsh64Imm => reg[d] = (reg[d] as i64).wrapping_shr(s.imm as u32) as u64,
                Op::Arsh64Reg => reg[d] = (reg[d] as i64).wrapping_shr(reg[r] as u32) as u64,
                Op::Xor64Imm => reg[d] ^= s.imm,
                Op::Xor64Reg => reg[d] ^= reg[r],
                Op::Mov64Imm => reg[d] = s.imm,
                Op::Mov64Reg => reg[d] = reg[r],
                Op::Movsx64B => reg[d] = reg[r] as i8 as i64 as u64,
                Op::Movsx64H => reg[d] = reg[r] as i16 as i64 as u64,
                Op::Movsx64W => reg[d] = reg[r] as i32 as i64 as u64,
                Op::Neg64 => reg[d] = reg[d].wrapping_neg(),

                Op::Add32Imm => reg[d] = (reg[d] as u32).wrapping_add(s.imm as u32) as u64,
                Op::Add32Reg => reg[d] = (reg[d] as u32).wrapping_add(reg[r] as u32) as u64,
                Op::Sub32Imm => reg[d] = (reg[d] as u32).wrapping_sub(s.imm as u32) as u64,
                Op::Sub32Reg => reg[d] = (reg[d] as u32).wrapping_sub(reg[r] as u32) as u64,
                Op::Mul32Imm => reg[d] = (reg[d] as u32).wrapping_mul(s.imm as u32) as u64,
                Op::Mul32Reg => reg[d] = (reg[d] as u32).wrapping_mul(reg[r] as u32) as u64,
                Op::Div32Imm => reg[d] = div32(reg[d], s.imm),
                Op::Div32Reg => reg[d] = div32(reg[d], reg[r]),
                Op::Sdiv32Imm => reg[d] = sdiv32(reg[d], s.imm),
                Op::Sdiv32Reg => reg[d] = sdiv32(reg[d], reg[r]),
                Op::Mod32Imm => reg[d] = mod32(reg[d], s.imm),
                Op::Mod32Reg => reg[d] = mod32(reg[d], reg[r]),
                Op::Smod32Imm => reg[d] = smod32(reg[d], s.imm),
                Op::Smod32Reg => reg[d] = smod32(reg[d], reg[r]),
                Op::Or32Imm => reg[d] = (reg[d] as u32 | s.imm as u32) as u64,
                Op::Or32Reg => reg[d] = (reg[d] as u32 | reg[r] as u32) as u64,
                Op::And32Imm => reg[d] = (reg[d] as u32 & s.imm as u32) as u64,
                Op::And32Reg => reg[d] = (reg[d] as u32 & reg[r] as u32) as u64,
                Op::Lsh32Imm => reg[d] = (reg[d] as u32).wrapping_shl(s.imm as u32) as u64,
                Op::Lsh32Reg => reg[d] = (reg[d] as u32).wrapping_shl(reg[r] as u32) as u64,
                Op::Rsh32Imm => reg[d] = (reg[d] as u32).wrapping_shr(s.imm as u32) as u64,
                Op::Rsh32Reg => reg[d] = (reg[d] as u32).wrapping_shr(reg[r] as u32) as u64,
                Op::Arsh32Imm => reg[d] = (reg[d] as i32).wrapping_shr(s.imm as u32) as u32 as u64,
                Op::Arsh32Reg => reg[d] = (reg[d] as i32).wrapping_shr(reg[r] as u32) as u32 as u64,
                Op::Xor32Imm => reg[d] = (reg[d] as u32 ^ s.imm as u32) as u64,
                Op::Xor32Reg => reg[d] = (reg[d] as u32 ^ reg[r] as u32) as u64,
                Op::Mov32Imm => reg[d] = s.imm as u32 as u64,
                Op::Mov32Reg => reg[d] = reg[r] as u32 as u64,
                Op::Movsx32B => reg[d] = reg[r] as i8 as i32 as u32 as u64,
                Op::Movsx32H => reg[d] = reg[r] as i16 as i32 as u32 as u64,
                Op::Neg32 => reg[d] = (reg[d] as u32).wrapping_neg() as u64,

                Op::Le16 => reg[d] = (reg[d] as u16).to_le() as u64,
                Op::Le32 => reg[d] = (reg[d] as u32).to_le() as u64,
                Op::Le64 => reg[d] = reg[d].to_le(),
                Op::Be16 => reg[d] = (reg[d] as u16).to_be() as u64,
                Op::Be32 => reg[d] = (reg[d] as u32).to_be() as u64,
                Op::Be64 => reg[d] = reg[d].to_be(),
                Op::Bswap16 => reg[d] = (reg[d] as u16).swap_bytes() as u64,
                Op::Bswap32 => reg[d] = (reg[d] as u32).swap_bytes() as u64,
                Op::Bswap64 => reg[d] = reg[d].swap_bytes(),

                Op::LdImm64 => {
                    reg[d] = s.imm;
                    pc += 1;
                }
                Op::LdxB => reg[d] = load!(s, u8) as u64,
                Op::LdxH => reg[d] = load!(s, u16) as u64,
                Op::LdxW => reg[d] = load!(s, u32) as u64,
                Op::LdxDW => reg[d] = load!(s, u64),
                Op::LdxsB => reg[d] = load!(s, i8) as i64 as u64,
                Op::LdxsH => reg[d] = load!(s, i16) as i64 as u64,
                Op::LdxsW => reg[d] = load!(s, i32) as i64 as u64,
                Op::StB => store!(s, u8, s.imm),
                Op::StH => store!(s, u16, s.imm),
                Op::StW => store!(s, u32, s.imm),
                Op::StDW => store!(s, u64, s.imm),
                Op::StxB => store!(s, u8, reg[r]),
                Op::StxH => store!(s, u16, reg[r]),
                Op::StxW => store!(s, u32, reg[r]),
                Op::StxDW => store!(s, u64, reg[r]),
                Op::AtomicW => atomic!(s, AtomicU32, u32),
                Op::AtomicDW => atomic!(s, AtomicU64, u64),
                Op::LdAbsB => packet_load!(s.imm as u32, u8),
                Op::LdAbsH => packet_load!(s.imm as u32, u16),
                Op::LdAbsW => packet_load!(s.imm as u32, u32),
                Op::LdIndB => packet_load!((reg[r] as u32).wrapping_add(s.imm as u32), u8),
                Op::LdIndH => packet_load!((reg[r] as u32).wrapping_add(s.imm as u32), u16),
                Op::LdIndW => packet_load!((reg[r] as u32).wrapping_add(s.imm as u32), u32),

                Op::Ja => pc = s.off as usize,
                Op::Jeq64Imm => {
                    if reg[d] == s.imm {
                        pc = s.off as usize
                    }
                }
                Op::Jeq64Reg => {
                    if reg[d] == reg[r] {
                        pc = s.off as usize
                    }
                }
                Op::Jgt64Imm => {
                    if reg[d] > s.imm {
                        pc = s.off as usize
                    }
                }
                Op::Jgt64Reg => {
                    if reg[d] > reg[r] {
                        pc = s.off as usize
                    }
                }
                Op::Jge64Imm => {
                    if reg[d] >= s.imm {
                        pc = s.off as usize
                    }
                }
                Op::Jge64Reg => {
                    if reg[d] >= reg[r] {
                        pc = s.off as usize
                    }
                }
                Op::Jset64Imm => {
                    if reg[d] & s.imm != 0 {
                        pc = s.off as usize
                    }
                }
                Op::Jset64Reg => {
                    if reg[d] & reg[r] != 0 {
                        pc = s.off as usize
                    }
                }
                Op::Jne64Imm => {
                    if reg[d] != s.imm {
                        pc = s.off as usize
                    }
                }
                Op::Jne64Reg => {
                    if reg[d] != reg[r] {
                        pc = s.off as usize
                    }
                }
                Op::Jsgt64Imm => {
                    if (reg[d] as i64) > s.imm as i64 {
                        pc = s.off as usize
                    }
                }
                Op::Jsgt64Reg => {
                    if (reg[d] as i64) > reg[r] as i64 {
                        pc = s.off as usize
                    }
                }
                Op::Jsge64Imm => {
                    if (reg[d] as i64) >= s.imm as i64 {
                        pc = s.off as usize
                    }
                }
                Op::Jsge64Reg => {
                    if (reg[d] as i64) >= reg[r] as i64 {
                        pc = s.off as usize
                    }
                }
                Op::Jlt64Imm => {
                    if reg[d] < s.imm {
                        pc = s.off as usize
                    }
                }
                Op::Jlt64Reg => {
                    if reg[d] < reg[r] {
                        pc = s.off as usize
                    }
                }
                Op::Jle64Imm => {
                    if reg[d] <= s.imm {
                        pc = s.off as usize
                    }
                }
                Op::Jle64Reg => {
                    if reg[d] <= reg[r] {
                        pc = s.off as usize
                    }
                }
                Op::Jslt64Imm => {
                    if (reg[d] as i64) < s.imm as i64 {
                        pc = s.off as usize
                    }
                }
                Op::Jslt64Reg => {
                    if (reg[d] as i64) < reg[r] as i64 {
                        pc = s.off as usize
                    }
                }
                Op::Jsle64Imm => {
                    if (reg[d] as i64) <= s.imm as i64 {
                        pc = s.off as usize
                    }
                }
                Op::Jsle64Reg => {
                    if (reg[d] as i64) <= reg[r] as i64 {
                        pc = s.off as usize
                    }
                }
                Op::Jeq32Imm => {
                    if reg[d] as u32 == s.imm as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jeq32Reg => {
                    if reg[d] as u32 == reg[r] as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jgt32Imm => {
                    if reg[d] as u32 > s.imm as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jgt32Reg => {
                    if reg[d] as u32 > reg[r] as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jge32Imm => {
                    if reg[d] as u32 >= s.imm as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jge32Reg => {
                    if reg[d] as u32 >= reg[r] as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jset32Imm => {
                    if reg[d] as u32 & s.imm as u32 != 0 {
                        pc = s.off as usize
                    }
                }
                Op::Jset32Reg => {
                    if reg[d] as u32 & reg[r] as u32 != 0 {
                        pc = s.off as usize
                    }
                }
                Op::Jne32Imm => {
                    if reg[d] as u32 != s.imm as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jne32Reg => {
                    if reg[d] as u32 != reg[r] as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jsgt32Imm => {
                    if (reg[d] as i32) > s.imm as i32 {
                        pc = s.off as usize
                    }
                }
                Op::Jsgt32Reg => {
                    if (reg[d] as i32) > reg[r] as i32 {
                        pc = s.off as usize
                    }
                }
                Op::Jsge32Imm => {
                    if (reg[d] as i32) >= s.imm as i32 {
                        pc = s.off as usize
                    }
                }
                Op::Jsge32Reg => {
                    if (reg[d] as i32) >= reg[r] as i32 {
                        pc = s.off as usize
                    }
                }
                Op::Jlt32Imm => {
                    if (reg[d] as u32) < s.imm as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jlt32Reg => {
                    if (reg[d] as u32) < reg[r] as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jle32Imm => {
                    if reg[d] as u32 <= s.imm as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jle32Reg => {
                    if reg[d] as u32 <= reg[r] as u32 {
                        pc = s.off as usize
                    }
                }
                Op::Jslt32Imm => {
                    if (reg[d] as i32) < s.imm as i32 {
                        pc = s.off as usize
                    }
                }
                Op::Jslt32Reg => {
                    if (reg[d] as i32) < reg[r] as i32 {
                        pc = s.off as usize
                    }
                }
                Op::Jsle32Imm => {
                    if (reg[d] as i32) <= s.imm as i32 {
                        pc = s.off as usize
                    }
                }
                Op::Jsle32Reg => {
                    if (reg[d] as i32) <= reg[r] as i32 {
                        pc = s.off as usize
                    }
                }

                Op::CallHelper => helper_call!(s.imm as u32),
                Op::CallLocal => call_local!(s.off as usize),
                Op::CallReg => {
                    let value = reg[d];
                    let index = value as u32;
                    let is_function = value & !0xffff_ffff == FUNC_ADDR_TAG
                        && self.functions.binary_search(&index).is_ok();
                    if !is_function {
                        budget.set(remaining);
                        let args = [reg[1], reg[2], reg[3], reg[4], reg[5]];
                        let frame = (stack_lo, stack_hi, depth);
                        match self.callx_helper(
                            entry,
                            mem,
                            helpers,
                            budget,
                            frame,
                            value,
                            args,
                            pc - 1,
                        )? {
                            Flow::Return(r0) => reg[0] = r0,
                            Flow::TailCall => return Ok(Exit::TailCall),
                            Flow::Exit(value) => return Err(RunError::Unwound { value }),
                        }
                        remaining = budget.get();
                        continue;
                    }
                    call_local!(index as usize)
                }
                Op::Exit => {
                    if depth == base_depth {
                        budget.set(remaining);
                        return Ok(Exit::Return(reg[0]));
                    }
                    depth -= 1;
                    let frame = frames[depth - base_depth];
                    reg[6..10].copy_from_slice(&frame.callee_saved);
                    reg[10] = frame.frame_pointer;
                    stack_lo = reg[10] - STACK_SIZE as u64;
                    pc = frame.return_pc;
                }
                // Never reached: the first slot of an LD_IMM64 skips it and
                // no jump may target it. Stop rather than continue.
                Op::LddwHigh => {
                    return Err(RunError::BadCallTarget {
                        pc: pc - 1,
                        value: 0,
                    })
                }
            }
        }
    }
}

impl Program {
    /// `callx` of a value that names no function: the helper it names,
    /// for programs loaded with [`LoadOptions::callx_helpers`], else the
    /// run ends. Out of the interpreter's loop (rare; the loop stays small).
    ///
    /// [`LoadOptions::callx_helpers`]: crate::LoadOptions::callx_helpers
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn callx_helper(
        &self,
        entry: &Entry<'_>,
        mem: &MemoryMap<'_>,
        helpers: &mut dyn Helpers,
        budget: &Cell<u64>,
        (stack_lo, stack_hi, depth): (u64, u64, usize),
        value: u64,
        args: [u64; 5],
        pc: usize,
    ) -> Result<Flow, RunError> {
        if !self.callx_helpers {
            return Err(RunError::BadCallTarget { pc, value });
        }
        let view = self.view(entry, mem, budget, (stack_lo, stack_hi, depth));
        call_helper(helpers, value as u32, args, &view, pc)
    }

    /// The program's memory as a helper called from the frame
    /// `(stack_lo, stack_hi, depth)` sees it.
    #[inline(always)]
    fn view<'r, 'a>(
        &'r self,
        entry: &Entry<'r>,
        mem: &'r MemoryMap<'a>,
        budget: &'r Cell<u64>,
        (stack_lo, stack_hi, depth): (u64, u64, usize),
    ) -> ProgramMemory<'r, 'a> {
        ProgramMemory {
            map: mem,
            stack_lo,
            stack_hi,
            stack_base: entry.stack_base,
            depth,
            budget,
            callee: Some(self),
            failure: entry.failure,
        }
    }
}

/// Calls helper `id` for the instruction at `pc`, out of the interpreter's
/// loop (which stays small: the call is rare next to ALU work).
#[inline(never)]
pub(crate) fn call_helper(
    helpers: &mut dyn Helpers,
    id: u32,
    args: [u64; 5],
    view: &ProgramMemory<'_, '_>,
    pc: usize,
) -> Result<Flow, RunError> {
    helpers
        .call(id, args, view)
        .map_err(|error| match (error, view.failure.take()) {
            (HelperError::Callback, Some(inner)) => inner,
            (error, _) => RunError::Helper { pc, id, error },
        })
}

/// Callbacks of helpers (`bpf_loop`, `bpf_for_each_map_elem`): the
/// program's function run on a new frame below the caller's.
impl Callee for Program {
    fn exception_callback(&self) -> Option<u64> {
        self.exception_cb.map(|e| FUNC_ADDR_TAG | u64::from(e))
    }

    fn call_function(
        &self,
        caller: &ProgramMemory<'_, '_>,
        helpers: &mut dyn Helpers,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, CallbackError> {
        let index = self
            .function_index(func)
            .ok_or(CallbackError::NotAFunction)?;
        let depth = caller.depth + 1;
        if depth >= MAX_CALL_FRAMES {
            return Err(CallbackError::Failed(RunError::CallDepthExceeded {
                pc: index,
                max: MAX_CALL_FRAMES,
            }));
        }
        if let Some(image) = &self.native {
            let target = image.function(index).ok_or(CallbackError::NotAFunction)?;
            let at = Activation {
                function: index,
                frame_pointer: caller.stack_lo,
                stack_base: caller.stack_base,
                stack_hi: caller.stack_hi,
                args,
                mem: caller.map,
                budget: caller.budget,
                failure: caller.failure,
            };
            return callback_result(crate::jit::run::enter(
                self,
                image.entry(),
                target,
                at,
                helpers,
            ));
        }
        let entry = Entry {
            pc: index,
            frame_pointer: caller.stack_lo,
            depth,
            stack_base: caller.stack_base,
            stack_hi: caller.stack_hi,
            args,
            failure: caller.failure,
        };
        callback_result(self.enter(&entry, caller.map, helpers, caller.budget))
    }
}

/// A callback's `r0` from how its activation ended (any engine's).
pub(crate) fn callback_result(end: Result<Exit, RunError>) -> Result<u64, CallbackError> {
    match end {
        Ok(Exit::Return(r0)) => Ok(r0),
        // A callback's tail call would have to end the helper that called
        // it: not a thing Linux allows either.
        Ok(Exit::TailCall) => Err(CallbackError::Failed(RunError::UnfollowedTailCall)),
        Err(e) => Err(CallbackError::Failed(e)),
    }
}
