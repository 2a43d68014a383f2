//! A kernel's own eBPF JIT for verified programs (Linux: a module gets no
//! executable memory, but `bpf_prog_alloc` and `bpf_prog_select_runtime`
//! compile instructions with the kernel's JIT).
//!
//! What the kernel's JIT is handed is the program after the core's
//! rewrites, one image per eBPF function, with what the kernel's verifier
//! would otherwise have arranged:
//!
//! - maps and global data as the 64-bit constants the core's helpers take
//!   (as loaded; nothing of the kernel's `struct bpf_map`);
//! - every helper call as `r0 = id; call entry`, where `entry`
//!   ([`KernelJit::helper_entry`]) passes the id and the arguments to
//!   [`dispatch`], which serves it from the run this CPU is making (the
//!   platform keeps one pointer per CPU: runs do not migrate);
//! - calls of local functions as calls of their images (compiled first),
//!   addressed like helpers relative to the kernel's call base;
//! - division and modulo by a register guarded where x86 would trap (by
//!   zero, and signed `MIN / -1`), as Linux's verifier patches them;
//! - a tail call (main function only) followed by `exit` when it was
//!   taken: the run then continues in the target, as in the interpreter.
//!
//! - a legacy packet load (`LD_ABS`/`LD_IND`, in programs without local
//!   calls, as Linux allows them) as a call of the dispatcher, the program
//!   ending with 0 when the load is out of the packet.
//!
//! Programs with `callx`, tail calls inside a function, `bpf_throw`, or
//! legacy loads and local calls together keep the interpreter. The eBPF stack lives
//! in the frames the kernel's JIT lays out on the kernel stack, where the
//! core cannot see it: helpers of these runs accept the pointers the
//! verifier proved (the run's memory view grants the whole address space
//! as stack).

use alloc::vec::Vec;
use core::cell::Cell;
use core::ffi::c_void;
use core::ptr::NonNull;

use super::map_constant::R1Constant;
use super::run::Activation;
use super::{DirectLookup, JitError};
use crate::error::RunError;
use crate::helpers::{CallbackError, Callee, Flow, Helpers, ProgramMemory};
use crate::insn::Insn;
use crate::interp::Exit;
use crate::maps::InlineArray;
use crate::memory::MemoryMap;
use crate::opcode::*;
use crate::program::{Program, STACK_SIZE};

/// A kernel's JIT, as the platform exposes it.
pub trait KernelJit: Sync {
    /// The address call immediates are relative to (`__bpf_call_base`).
    fn call_base(&self) -> u64;

    /// The code helper calls go to: with the helper id in `r0` and the
    /// arguments in `r1`-`r5`, it calls [`dispatch`] with the run
    /// [`swap_current`](KernelJit::swap_current) made current on this CPU.
    fn helper_entry(&self) -> u64;

    /// Compiles one function's instructions with `stack_depth` bytes of
    /// stack; returns the kernel's handle, the code's address and size, or
    /// `None` when the kernel did not JIT-compile it (its JIT off, or it
    /// failed). Called outside program context.
    fn compile(&self, insns: &[Insn], stack_depth: u32) -> Option<(NonNull<c_void>, u64, u32)>;

    /// Frees what `compile` returned.
    ///
    /// # Safety
    /// `prog` came from `compile` and its code is not running nor run
    /// afterwards (a grace period has passed since the program was
    /// unpublished).
    unsafe fn free(&self, prog: NonNull<c_void>);

    /// Calls compiled code at `code` with `args` in `r1`-`r5`.
    ///
    /// # Safety
    /// `code` is the address `compile` returned for a live program, called
    /// inside a read-side section with this CPU's current run set.
    unsafe fn call(&self, code: u64, args: [u64; 5]) -> u64;

    /// Makes `run` this CPU's current run and returns the previous one
    /// (runs nest: a program may run inside another's helper or an
    /// interrupt).
    fn swap_current(&self, run: *mut c_void) -> *mut c_void;
}

/// `r0` of a program that made a tail call (an immediate no helper
/// returns: helpers' results are 0, small numbers or negative errnos).
const TAIL_CALL_TAKEN: i32 = 0x5441_494c;

/// The id [`dispatch`] takes for a legacy packet load (`LD_ABS`/`LD_IND`:
/// `r1` the offset, `r2` the size); no helper has it.
const LEGACY_LOAD: i32 = -2;

/// What a legacy packet load out of the packet returns: more than 32 bits,
/// which no load does.
const LEGACY_OUT_OF_BOUNDS: u64 = 1 << 32;

/// A program's functions compiled by the kernel.
pub(crate) struct KernelImage {
    jit: &'static dyn KernelJit,
    /// (slot index of a function, the kernel's handle, its code).
    functions: Vec<(u32, NonNull<c_void>, u64)>,
    size: usize,
}

// SAFETY: the handles are the kernel's compiled programs, immutable once
// made; the kernel allows running them on any CPU.
unsafe impl Send for KernelImage {}
// SAFETY: as above.
unsafe impl Sync for KernelImage {}

impl core::fmt::Debug for KernelImage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "KernelImage({} functions, {} bytes)",
            self.functions.len(),
            self.size
        )
    }
}

impl Drop for KernelImage {
    fn drop(&mut self) {
        for &(_, prog, _) in &self.functions {
            // SAFETY: each came from `compile`; the program (and so the
            // image) is dropped only after its last run.
            unsafe { self.jit.free(prog) };
        }
    }
}

impl KernelImage {
    /// The code's total size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.size
    }

    fn code(&self, slot: usize) -> Option<u64> {
        let i = self
            .functions
            .binary_search_by_key(&(slot as u32), |f| f.0)
            .ok()?;
        Some(self.functions[i].2)
    }

    /// Compiles `program` (verified: no run-time checks) function by
    /// function, callees first.
    pub(crate) fn compile(
        jit: &'static dyn KernelJit,
        program: &Program,
        direct_lookup: &dyn Fn(u64) -> Option<DirectLookup>,
    ) -> Result<KernelImage, JitError> {
        if program.checked {
            return Err(JitError::Checked);
        }
        let mut image = KernelImage {
            jit,
            functions: Vec::new(),
            size: 0,
        };
        image
            .functions
            .try_reserve_exact(program.functions.len())
            .map_err(|_| JitError::OutOfMemory)?;
        for f in callees_first(program)? {
            let insns = translate(jit, program, f, &image, direct_lookup)?;
            let (prog, code, size) = jit
                .compile(&insns, STACK_SIZE as u32)
                .ok_or(JitError::NoExecutableMemory)?;
            let at = image
                .functions
                .binary_search_by_key(&(f as u32), |e| e.0)
                .unwrap_or_else(|i| i);
            image.functions.insert(at, (f as u32, prog, code));
            image.size += size as usize;
        }
        Ok(image)
    }

    /// Runs the compiled program: the main function, or the callback at
    /// slot `at.function`, with `at.args` (the stack fields are unused: the
    /// kernel's JIT keeps the stack).
    pub(crate) fn run(
        &self,
        program: &Program,
        at: Activation<'_, '_>,
        helpers: &mut dyn Helpers,
    ) -> Result<Exit, RunError> {
        let code = self.code(at.function).ok_or(RunError::UnfollowedTailCall)?;
        let args = at.args;
        let mut run = KernelRun {
            callee: KernelCallee {
                program,
                image: self,
            },
            mem: at.mem,
            helpers,
            budget: at.budget,
            failure: at.failure,
            tail_call: false,
            error: None,
        };
        let previous = self
            .jit
            .swap_current(&mut run as *mut KernelRun<'_, '_> as *mut c_void);
        // SAFETY: `code` is a live function of this image; the caller runs
        // inside a read-side section (LoadedProgram::run); the run is
        // current on this CPU until the call returns.
        let r0 = unsafe { self.jit.call(code, args) };
        self.jit.swap_current(previous);
        if let Some(e) = run.error.take() {
            return Err(e);
        }
        if run.tail_call {
            return Ok(Exit::TailCall);
        }
        Ok(Exit::Return(r0))
    }
}

/// One run of compiled code, as [`dispatch`] finds it.
struct KernelRun<'r, 'a> {
    callee: KernelCallee<'r>,
    mem: &'r MemoryMap<'a>,
    helpers: &'r mut dyn Helpers,
    budget: &'r Cell<u64>,
    failure: &'r Cell<Option<RunError>>,
    tail_call: bool,
    error: Option<RunError>,
}

/// Callbacks of helpers: the program's function, compiled.
struct KernelCallee<'r> {
    program: &'r Program,
    image: &'r KernelImage,
}

impl Callee for KernelCallee<'_> {
    fn exception_callback(&self) -> Option<u64> {
        self.program.exception_callback()
    }

    fn call_function(
        &self,
        caller: &ProgramMemory<'_, '_>,
        helpers: &mut dyn Helpers,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, CallbackError> {
        let index = self
            .program
            .function_index(func)
            .ok_or(CallbackError::NotAFunction)?;
        let at = Activation {
            function: index,
            frame_pointer: 0,
            stack_base: 0,
            stack_hi: 0,
            args,
            mem: caller.map,
            budget: caller.budget,
            failure: caller.failure,
        };
        crate::interp::callback_result(self.image.run(self.program, at, helpers))
    }
}

/// Serves helper `id` for the run `run` (this CPU's current one), called by
/// the platform's helper entry.
///
/// # Safety
/// `run` is the pointer [`KernelImage::run`] made current on this CPU, and
/// the call comes from that run's code.
pub unsafe fn dispatch(run: *mut c_void, id: u64, args: [u64; 5]) -> u64 {
    // SAFETY: per the contract, a live KernelRun that only this call uses.
    let run = unsafe { &mut *(run as *mut KernelRun<'_, '_>) };
    if id as i64 == i64::from(LEGACY_LOAD) {
        return super::run::legacy_value(run.mem, args[0], args[1]).unwrap_or(LEGACY_OUT_OF_BOUNDS);
    }
    let view = ProgramMemory {
        map: run.mem,
        // The eBPF stack is in the kernel JIT's frames, unknown here: the
        // verifier proved the program's pointers.
        stack_lo: 0,
        stack_hi: u64::MAX,
        stack_base: 0,
        depth: 0,
        budget: run.budget,
        callee: Some(&run.callee),
        failure: run.failure,
    };
    match crate::interp::call_helper(run.helpers, id as u32, args, &view, 0) {
        Ok(Flow::Return(r0)) => r0,
        Ok(Flow::TailCall) => {
            run.tail_call = true;
            TAIL_CALL_TAKEN as u64
        }
        // The code cannot be unwound from here; no helper of a verified
        // program ends it this way.
        Ok(Flow::Exit(_)) => {
            if run.error.is_none() {
                run.error = Some(RunError::Helper {
                    pc: 0,
                    id: id as u32,
                    error: crate::HelperError::NotAvailable,
                });
            }
            0
        }
        Err(e) => {
            // The code cannot be stopped from here: it goes on with 0 and
            // the run ends with the error.
            if run.error.is_none() {
                run.error = Some(e);
            }
            0
        }
    }
}

/// The functions' slot indices, each after every function it calls.
fn callees_first(program: &Program) -> Result<Vec<usize>, JitError> {
    let functions = &program.functions;
    let n = functions.len();
    let mut order = Vec::new();
    order
        .try_reserve_exact(n)
        .map_err(|_| JitError::OutOfMemory)?;
    // 0: not seen, 1: in progress, 2: done. Depth is bounded by the
    // number of functions (the verifier limits calls to 8 frames).
    let mut state = Vec::new();
    state
        .try_reserve_exact(n)
        .map_err(|_| JitError::OutOfMemory)?;
    state.resize(n, 0u8);
    let mut stack: Vec<(usize, usize)> = Vec::new();
    stack
        .try_reserve_exact(n + 1)
        .map_err(|_| JitError::OutOfMemory)?;
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        stack.push((root, functions[root] as usize));
        while let Some(&mut (f, ref mut pc)) = stack.last_mut() {
            let end = functions
                .get(f + 1)
                .map_or(program.code.len(), |&e| e as usize);
            let mut next = None;
            while *pc < end {
                let s = program.code[*pc];
                *pc += 1;
                if s.op == crate::decoded::Op::CallLocal {
                    let callee = functions
                        .binary_search(&(s.off as u32))
                        .map_err(|_| JitError::Unsupported)?;
                    match state[callee] {
                        0 => {
                            next = Some(callee);
                            break;
                        }
                        1 => return Err(JitError::Unsupported), // recursion
                        _ => {}
                    }
                }
            }
            match next {
                Some(c) => {
                    state[c] = 1;
                    if stack.len() > n {
                        return Err(JitError::Unsupported);
                    }
                    stack.push((c, functions[c] as usize));
                }
                None => {
                    state[f] = 2;
                    order.push(functions[f] as usize);
                    stack.pop();
                }
            }
        }
    }
    Ok(order)
}

/// A jump waiting for its target's new index.
struct Jump {
    at: usize,
    target: usize,
    /// `gotol`: the offset is in the immediate.
    long: bool,
}

/// The instructions of the function starting at slot `start`, as the
/// kernel's JIT takes them (see the module's documentation).
fn translate(
    jit: &dyn KernelJit,
    program: &Program,
    start: usize,
    image: &KernelImage,
    direct_lookup: &dyn Fn(u64) -> Option<DirectLookup>,
) -> Result<Vec<Insn>, JitError> {
    let f = program
        .functions
        .binary_search(&(start as u32))
        .map_err(|_| JitError::Unsupported)?;
    let end = program
        .functions
        .get(f + 1)
        .map_or(program.code.len(), |&e| e as usize);
    let relative = |address: u64| -> Result<i32, JitError> {
        i32::try_from(address.wrapping_sub(jit.call_base()) as i64)
            .map_err(|_| JitError::Unsupported)
    };
    let entry = relative(jit.helper_entry())?;
    let lookup = relative(super::run::lookup_direct as *const () as u64)?;
    let mut r1 = R1Constant::new(&program.code, &program.functions)?;
    let mut out: Vec<Insn> = Vec::new();
    out.try_reserve(2 * (end - start) + 8)
        .map_err(|_| JitError::OutOfMemory)?;
    let mut index = Vec::new();
    index
        .try_reserve_exact(end - start + 1)
        .map_err(|_| JitError::OutOfMemory)?;
    let mut jumps: Vec<Jump> = Vec::new();
    let push = |out: &mut Vec<Insn>, i: Insn| -> Result<(), JitError> {
        out.try_reserve(1).map_err(|_| JitError::OutOfMemory)?;
        out.push(i);
        Ok(())
    };
    let mut pc = start;
    while pc < end {
        index.push(out.len());
        let insn = program.insns[pc];
        let slot = program.code[pc];
        let r1_map = r1.at(pc);
        r1.after(slot);
        let class = insn.opcode & 0x07;
        let op = insn.opcode & 0xf0;
        let wide = class == BPF_ALU64 || class == BPF_JMP;
        match class {
            BPF_LD if insn.is_lddw() => {
                // The constant as resolved at load (maps, global data,
                // function addresses).
                push(
                    &mut out,
                    Insn::new(insn.opcode, insn.dst, 0, 0, slot.imm as u32 as i32),
                )?;
                push(&mut out, Insn::new(0, 0, 0, 0, (slot.imm >> 32) as i32))?;
                index.push(out.len() - 1);
                pc += 2;
                continue;
            }
            // LD_ABS / LD_IND, which Linux allows only without local calls:
            // a call of the dispatcher, and 0 from the program out of the
            // packet.
            BPF_LD if program.functions.len() == 1 => {
                let size = match insn.opcode & 0x18 {
                    BPF_W => 4,
                    BPF_H => 2,
                    BPF_B => 1,
                    _ => return Err(JitError::Unsupported),
                };
                if insn.opcode & 0xe0 == BPF_IND {
                    push(
                        &mut out,
                        Insn::new(BPF_ALU | BPF_MOV | BPF_X, 1, insn.src, 0, 0),
                    )?;
                    push(
                        &mut out,
                        Insn::new(BPF_ALU | BPF_ADD | BPF_K, 1, 0, 0, insn.imm),
                    )?;
                } else {
                    push(
                        &mut out,
                        Insn::new(BPF_ALU | BPF_MOV | BPF_K, 1, 0, 0, insn.imm),
                    )?;
                }
                for i in [
                    Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, size),
                    Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, LEGACY_LOAD),
                    Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, entry),
                    Insn::new(BPF_ALU64 | BPF_MOV | BPF_X, 1, 0, 0, 0),
                    Insn::new(BPF_ALU64 | BPF_RSH | BPF_K, 1, 0, 0, 32),
                    Insn::new(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 2, 0),
                    Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
                    Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
                ] {
                    push(&mut out, i)?;
                }
            }
            BPF_LD => return Err(JitError::Unsupported), // legacy loads with calls
            BPF_JMP if op == BPF_CALL => {
                let direct = r1_map
                    .filter(|_| {
                        insn.src == BPF_PSEUDO_HELPER
                            && insn.opcode & BPF_X == 0
                            && slot.imm == u64::from(crate::helpers::ids::MAP_LOOKUP_ELEM)
                    })
                    .and_then(direct_lookup);
                match insn.src {
                    BPF_PSEUDO_HELPER if direct == Some(DirectLookup::Call) => {
                        // The map's lookup, called directly (r1 the map,
                        // r2 the key, as the C ABI has them).
                        push(&mut out, Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, lookup))?;
                    }
                    BPF_PSEUDO_HELPER if matches!(direct, Some(DirectLookup::Array(_))) => {
                        if let Some(DirectLookup::Array(a)) = direct {
                            for i in array_lookup(a) {
                                push(&mut out, i)?;
                            }
                        }
                    }
                    // `bpf_throw` unwinds every frame, which the kernel's
                    // JIT code cannot be made to do from here.
                    BPF_PSEUDO_HELPER if slot.imm == u64::from(crate::helpers::ids::THROW) => {
                        return Err(JitError::Unsupported);
                    }
                    BPF_PSEUDO_HELPER if insn.opcode & BPF_X == 0 => {
                        let id = slot.imm as i32;
                        push(
                            &mut out,
                            Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, id),
                        )?;
                        push(&mut out, Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, entry))?;
                        if slot.imm == u64::from(crate::helpers::ids::TAIL_CALL) {
                            if f != 0 {
                                return Err(JitError::Unsupported);
                            }
                            push(
                                &mut out,
                                Insn::new(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 1, TAIL_CALL_TAKEN),
                            )?;
                            push(&mut out, Insn::new(BPF_JMP | BPF_EXIT, 0, 0, 0, 0))?;
                        }
                    }
                    BPF_PSEUDO_CALL if insn.opcode & BPF_X == 0 => {
                        let code = image.code(slot.off as usize).ok_or(JitError::Unsupported)?;
                        push(
                            &mut out,
                            Insn::new(BPF_JMP | BPF_CALL, 0, 0, 0, relative(code)?),
                        )?;
                    }
                    _ => return Err(JitError::Unsupported), // callx, kfuncs
                }
            }
            BPF_JMP | BPF_JMP32 if op != BPF_EXIT => {
                let long = class == BPF_JMP32 && op == BPF_JA;
                jumps.push(Jump {
                    at: out.len(),
                    target: slot.off as usize,
                    long,
                });
                push(&mut out, insn)?;
            }
            BPF_ALU | BPF_ALU64 if matches!(op, BPF_DIV | BPF_MOD) => {
                guarded_division(&mut out, insn, wide)?;
            }
            _ => push(&mut out, insn)?,
        }
        pc += 1;
    }
    index.push(out.len());
    for j in jumps {
        let local = j.target.checked_sub(start).ok_or(JitError::Unsupported)?;
        let to = *index.get(local).ok_or(JitError::Unsupported)?;
        let rel = to as i64 - (j.at as i64 + 1);
        if j.long {
            out[j.at].imm = i32::try_from(rel).map_err(|_| JitError::Unsupported)?;
        } else {
            out[j.at].off = i16::try_from(rel).map_err(|_| JitError::Unsupported)?;
        }
    }
    Ok(out)
}

/// `r0` = the address of the value of the array `a` at the index `r2`
/// points to, or NULL past its end, as Linux's verifier rewrites the call
/// (`array_map_gen_lookup`); r1-r5 are free after a call.
fn array_lookup(a: InlineArray) -> [Insn; 8] {
    let [lo, hi] = Insn::lddw(1, 0, a.base);
    [
        lo,
        hi,
        Insn::new(BPF_LDX | BPF_MEM | BPF_W, 0, 2, 0, 0),
        // Unsigned, on 32 bits: every max_entries is a u32.
        Insn::new(BPF_JMP32 | BPF_JGE | BPF_K, 0, 0, 3, a.max_entries as i32),
        Insn::new(BPF_ALU64 | BPF_MUL | BPF_K, 0, 0, 0, a.stride as i32),
        Insn::new(BPF_ALU64 | BPF_ADD | BPF_X, 0, 1, 0, 0),
        Insn::new(BPF_JMP | BPF_JA, 0, 0, 1, 0),
        Insn::new(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
    ]
}

/// Division and modulo with eBPF's results where x86's `div`/`idiv` would
/// trap, as Linux's verifier patches them: by zero, quotient 0 and the
/// dividend kept (zero-extended for 32 bits); signed by -1, the negation
/// and 0.
fn guarded_division(out: &mut Vec<Insn>, insn: Insn, wide: bool) -> Result<(), JitError> {
    let mut emit = |i: Insn| -> Result<(), JitError> {
        out.try_reserve(1).map_err(|_| JitError::OutOfMemory)?;
        out.push(i);
        Ok(())
    };
    let (alu, jmp) = if wide {
        (BPF_ALU64, BPF_JMP)
    } else {
        (BPF_ALU, BPF_JMP32)
    };
    let quotient = insn.opcode & 0xf0 == BPF_DIV;
    let signed = insn.off == 1;
    let d = insn.dst;
    // What x86 cannot do, as eBPF defines it.
    let by_minus_one = if quotient {
        Insn::new(alu | BPF_NEG, d, 0, 0, 0)
    } else {
        Insn::new(BPF_ALU | BPF_MOV | BPF_K, d, 0, 0, 0)
    };
    let by_zero = if quotient {
        Insn::new(BPF_ALU | BPF_MOV | BPF_K, d, 0, 0, 0)
    } else if wide {
        Insn::new(BPF_JMP | BPF_JA, 0, 0, 0, 0)
    } else {
        Insn::new(BPF_ALU | BPF_MOV | BPF_X, d, d, 0, 0)
    };
    if insn.opcode & BPF_X == 0 {
        // By a constant: zero is refused by the verifier; -1 is rewritten.
        if signed && insn.imm == -1 {
            return emit(by_minus_one);
        }
        return emit(insn);
    }
    let s = insn.src;
    if signed {
        // if src != -1 goto +2; the -1 result; goto end (past the four
        // below)
        emit(Insn::new(jmp | BPF_JNE | BPF_K, s, 0, 2, -1))?;
        emit(by_minus_one)?;
        emit(Insn::new(BPF_JMP | BPF_JA, 0, 0, 4, 0))?;
    }
    // if src != 0 goto +2; the zero result; goto end (+1); divide
    emit(Insn::new(jmp | BPF_JNE | BPF_K, s, 0, 2, 0))?;
    emit(by_zero)?;
    emit(Insn::new(BPF_JMP | BPF_JA, 0, 0, 1, 0))?;
    emit(insn)
}
