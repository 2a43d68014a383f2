//! The x86-64 back end: one pass over the pre-decoded slots, each eBPF
//! register pinned to a hardware register, every eBPF function a native
//! subroutine.
//!
//! Register assignment (as Linux's x86-64 JIT has it, so helpers' argument
//! registers are the System V ones): `r0` = `rax`, `r1`-`r5` = `rdi`,
//! `rsi`, `rdx`, `rcx`, `r8`; `r6`-`r9` = `rbx`, `r13`, `r14`, `r15`;
//! `r10` = `rbp`. `r12` holds the run record ([`RunRecord`]) for the whole
//! run; `r9`, `r10` and `r11` are scratch.
//!
//! The image starts with the entry (`extern "sysv64" fn(record, target,
//! args, frame_pointer) -> r0`), which saves the callee-saved registers and
//! the stack pointer, loads the arguments and calls the eBPF function at
//! `target`; `exit` is `ret`. A local call saves `r6`-`r10`, moves `r10`
//! one frame down (after checking the frame exists, as the interpreter
//! does) and calls. Helper calls, `LD_ABS`/`LD_IND` and `callx` go through
//! the run record to Rust ([`super::run`]); when that says the run must
//! end (an error, a tail call, an out-of-bounds legacy load) the code
//! jumps to the unwind stub, which restores the entry's stack pointer.

mod emit;

use alloc::vec::Vec;

use self::emit::{Alu, Cond, Emitter, Reg, Shift, Width};
use self::emit::{R10, R11, R12, R13, R14, R15, R8, R9, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP};
use super::map_constant::R1Constant;
use super::run::{self, RunRecord, Status};
use super::{Compiled, DirectLookup, JitError};
use crate::decoded::{Op, Slot};
use crate::helpers::ids::MAP_LOOKUP_ELEM;
use crate::maps::InlineArray;
use crate::opcode::{BPF_ADD, BPF_AND, BPF_CMPXCHG, BPF_FETCH, BPF_OR, BPF_XCHG, BPF_XOR};
use crate::program::STACK_SIZE;

/// The hardware register of each eBPF register.
const REG: [Reg; 11] = [RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP];

/// The run record's register.
const RUN: Reg = R12;

/// Scratch registers no eBPF register uses.
const TMP: Reg = R11;
const AUX: Reg = R10;
const AUX2: Reg = R9;

/// Offsets of the run record's fields the code reads or writes.
fn field(offset: usize) -> i32 {
    offset as i32
}

const STATUS: usize = core::mem::offset_of!(RunRecord<'static, 'static>, status);
const SAVED_RSP: usize = core::mem::offset_of!(RunRecord<'static, 'static>, saved_rsp);
const STACK_BASE: usize = core::mem::offset_of!(RunRecord<'static, 'static>, stack_base);
const FRAME_POINTER: usize = core::mem::offset_of!(RunRecord<'static, 'static>, frame_pointer);
const CALL_ID: usize = core::mem::offset_of!(RunRecord<'static, 'static>, call_id);
const CALL_PC: usize = core::mem::offset_of!(RunRecord<'static, 'static>, call_pc);
const FAIL_PC: usize = core::mem::offset_of!(RunRecord<'static, 'static>, fail_pc);

/// A jump or call whose displacement waits for its target slot's address.
struct Fixup {
    at: usize,
    slot: usize,
}

/// A run-ending check, its stub emitted after the code.
struct Failure {
    at: usize,
    pc: u32,
    status: Status,
}

struct Compiler<'s> {
    code: &'s [Slot],
    /// The key constants are blinded with, if they are.
    blind: Option<u32>,
    /// `callx` of a helper id calls the helper.
    callx_helpers: bool,
    /// How lookups in a constant map may be done directly, if they may.
    direct_lookup: &'s dyn Fn(u64) -> Option<DirectLookup>,
    /// Follows the constant in `r1`.
    r1: R1Constant,
    /// The constant `r1` holds at the slot being compiled.
    r1_constant: Option<u64>,
    e: Emitter,
    /// Native offset of each slot.
    offsets: Vec<u32>,
    fixups: Vec<Fixup>,
    failures: Vec<Failure>,
    /// Jumps to the unwind stub.
    unwinds: Vec<usize>,
}

/// Compiles `code` (a program's slots); `functions` are the slot indices
/// where its functions start.
pub(super) fn compile(
    code: &[Slot],
    functions: &[u32],
    callx_helpers: bool,
    direct_lookup: &dyn Fn(u64) -> Option<DirectLookup>,
    blind: Option<u32>,
) -> Result<Compiled, JitError> {
    let mut c = Compiler {
        code,
        blind,
        callx_helpers,
        direct_lookup,
        r1: R1Constant::new(code, functions)?,
        r1_constant: None,
        e: Emitter::new(),
        offsets: Vec::new(),
        fixups: Vec::new(),
        failures: Vec::new(),
        unwinds: Vec::new(),
    };
    c.offsets
        .try_reserve_exact(code.len())
        .map_err(|_| JitError::OutOfMemory)?;
    let unwind = c.entry();
    for (pc, &slot) in code.iter().enumerate() {
        c.offsets.push(c.e.pos() as u32);
        c.r1_constant = c.r1.at(pc);
        c.slot(pc)?;
        c.r1.after(slot);
    }
    c.stubs(unwind);
    for f in &c.fixups {
        let target = c.offsets[f.slot] as usize;
        c.e.bind(f.at, target);
    }
    let mut entries = Vec::new();
    entries
        .try_reserve_exact(functions.len())
        .map_err(|_| JitError::OutOfMemory)?;
    for &f in functions {
        entries.push((f, c.offsets[f as usize]));
    }
    let code = c.e.finish().map_err(|_| JitError::OutOfMemory)?;
    Ok(Compiled {
        code,
        functions: entries,
    })
}

impl Compiler<'_> {
    /// The entry and, after it, the unwind stub; returns the stub's offset.
    fn entry(&mut self) -> usize {
        let e = &mut self.e;
        for r in [RBP, RBX, R12, R13, R14, R15] {
            e.push(r);
        }
        // Six pushes after the return address: realign for the call.
        e.alu_imm(Width::B64, Alu::Sub, RSP, 8);
        e.mov(Width::B64, RUN, RDI);
        e.store(Width::B64, RUN, field(SAVED_RSP), RSP);
        e.mov(Width::B64, TMP, RSI);
        e.mov(Width::B64, RBP, RCX);
        e.mov(Width::B64, RAX, RDX);
        for (i, &r) in REG[1..6].iter().enumerate() {
            e.load(Width::B64, r, RAX, 8 * i as i32);
        }
        // r0 and r6-r9 start at zero, as in the interpreter.
        for r in [RAX, RBX, R13, R14, R15] {
            e.alu(Width::B32, Alu::Xor, r, r);
        }
        e.call_reg(TMP);
        let epilogue = e.pos();
        e.alu_imm(Width::B64, Alu::Add, RSP, 8);
        for r in [R15, R14, R13, R12, RBX, RBP] {
            e.pop(r);
        }
        e.ret();
        let unwind = e.pos();
        e.load(Width::B64, RSP, RUN, field(SAVED_RSP));
        e.alu(Width::B32, Alu::Xor, RAX, RAX);
        let back = e.jmp();
        e.bind(back, epilogue);
        unwind
    }

    /// The stubs of the run-ending checks, then every jump to the unwind.
    fn stubs(&mut self, unwind: usize) {
        for f in core::mem::take(&mut self.failures) {
            let here = self.e.pos();
            self.e.bind(f.at, here);
            self.e.store_imm32(RUN, field(FAIL_PC), f.pc);
            self.e
                .store_imm(Width::B64, RUN, field(STATUS), f.status as i32);
            let j = self.e.jmp();
            self.unwinds.push(j);
        }
        for at in core::mem::take(&mut self.unwinds) {
            self.e.bind(at, unwind);
        }
    }

    fn jump_to(&mut self, at: usize, slot: usize) {
        self.fixups.push(Fixup { at, slot });
    }

    fn fail_if(&mut self, cond: Cond, pc: usize, status: Status) {
        let at = self.e.jcc(cond);
        self.failures.push(Failure {
            at,
            pc: pc as u32,
            status,
        });
    }

    /// Calls the Rust function at `target` with the stack aligned, then
    /// leaves the run if it said so.
    fn call_out(&mut self, target: usize) {
        let e = &mut self.e;
        e.mov_imm64(RAX, target as u64);
        e.alu_imm(Width::B64, Alu::Sub, RSP, 8);
        e.call_reg(RAX);
        e.alu_imm(Width::B64, Alu::Add, RSP, 8);
        e.cmp_mem_imm8(RUN, field(STATUS), 0);
        let at = e.jcc(Cond::NotEqual);
        self.unwinds.push(at);
    }

    fn slot(&mut self, pc: usize) -> Result<(), JitError> {
        let s = self.code[pc];
        let d = REG[usize::from(s.dst & 15).min(10)];
        let r = REG[usize::from(s.src & 15).min(10)];
        let imm = s.imm as i32;
        let e = &mut self.e;
        use Width::{B16, B32, B64, B8};
        match s.op {
            Op::Add64Imm => self.alu_k(B64, Alu::Add, d, imm),
            Op::Add64Reg => e.alu(B64, Alu::Add, d, r),
            Op::Sub64Imm => self.alu_k(B64, Alu::Sub, d, imm),
            Op::Sub64Reg => e.alu(B64, Alu::Sub, d, r),
            Op::Mul64Imm => self.imul_k(B64, d, imm),
            Op::Mul64Reg => e.imul(B64, d, r),
            Op::Or64Imm => self.alu_k(B64, Alu::Or, d, imm),
            Op::Or64Reg => e.alu(B64, Alu::Or, d, r),
            Op::And64Imm => self.alu_k(B64, Alu::And, d, imm),
            Op::And64Reg => e.alu(B64, Alu::And, d, r),
            Op::Xor64Imm => self.alu_k(B64, Alu::Xor, d, imm),
            Op::Xor64Reg => e.alu(B64, Alu::Xor, d, r),
            Op::Mov64Imm => self.mov_k(B64, d, imm),
            Op::Mov64Reg => {
                if d != r {
                    e.mov(B64, d, r)
                }
            }
            Op::Movsx64B => e.movsx(B64, B8, d, r),
            Op::Movsx64H => e.movsx(B64, B16, d, r),
            Op::Movsx64W => e.movsx(B64, B32, d, r),
            Op::Neg64 => e.neg(B64, d),
            Op::Lsh64Imm => shift_imm(e, B64, Shift::Shl, d, s.imm),
            Op::Rsh64Imm => shift_imm(e, B64, Shift::Shr, d, s.imm),
            Op::Arsh64Imm => shift_imm(e, B64, Shift::Sar, d, s.imm),
            Op::Lsh64Reg => shift_reg(e, B64, Shift::Shl, d, r),
            Op::Rsh64Reg => shift_reg(e, B64, Shift::Shr, d, r),
            Op::Arsh64Reg => shift_reg(e, B64, Shift::Sar, d, r),
            Op::Div64Imm => divide(
                &mut self.e,
                self.blind,
                B64,
                Division::Quotient,
                false,
                d,
                Operand::Imm(s.imm),
            ),
            Op::Div64Reg => divide(
                &mut self.e,
                self.blind,
                B64,
                Division::Quotient,
                false,
                d,
                Operand::Reg(r),
            ),
            Op::Sdiv64Imm => divide(
                &mut self.e,
                self.blind,
                B64,
                Division::Quotient,
                true,
                d,
                Operand::Imm(s.imm),
            ),
            Op::Sdiv64Reg => divide(
                &mut self.e,
                self.blind,
                B64,
                Division::Quotient,
                true,
                d,
                Operand::Reg(r),
            ),
            Op::Mod64Imm => divide(
                &mut self.e,
                self.blind,
                B64,
                Division::Remainder,
                false,
                d,
                Operand::Imm(s.imm),
            ),
            Op::Mod64Reg => divide(
                &mut self.e,
                self.blind,
                B64,
                Division::Remainder,
                false,
                d,
                Operand::Reg(r),
            ),
            Op::Smod64Imm => divide(
                &mut self.e,
                self.blind,
                B64,
                Division::Remainder,
                true,
                d,
                Operand::Imm(s.imm),
            ),
            Op::Smod64Reg => divide(
                &mut self.e,
                self.blind,
                B64,
                Division::Remainder,
                true,
                d,
                Operand::Reg(r),
            ),

            Op::Add32Imm => self.alu_k(B32, Alu::Add, d, imm),
            Op::Add32Reg => e.alu(B32, Alu::Add, d, r),
            Op::Sub32Imm => self.alu_k(B32, Alu::Sub, d, imm),
            Op::Sub32Reg => e.alu(B32, Alu::Sub, d, r),
            Op::Mul32Imm => self.imul_k(B32, d, imm),
            Op::Mul32Reg => e.imul(B32, d, r),
            Op::Or32Imm => self.alu_k(B32, Alu::Or, d, imm),
            Op::Or32Reg => e.alu(B32, Alu::Or, d, r),
            Op::And32Imm => self.alu_k(B32, Alu::And, d, imm),
            Op::And32Reg => e.alu(B32, Alu::And, d, r),
            Op::Xor32Imm => self.alu_k(B32, Alu::Xor, d, imm),
            Op::Xor32Reg => e.alu(B32, Alu::Xor, d, r),
            Op::Mov32Imm => self.mov_k(B32, d, imm),
            Op::Mov32Reg => e.mov(B32, d, r),
            Op::Movsx32B => e.movsx(B32, B8, d, r),
            Op::Movsx32H => e.movsx(B32, B16, d, r),
            Op::Neg32 => e.neg(B32, d),
            Op::Lsh32Imm => shift_imm(e, B32, Shift::Shl, d, s.imm),
            Op::Rsh32Imm => shift_imm(e, B32, Shift::Shr, d, s.imm),
            Op::Arsh32Imm => shift_imm(e, B32, Shift::Sar, d, s.imm),
            Op::Lsh32Reg => shift_reg(e, B32, Shift::Shl, d, r),
            Op::Rsh32Reg => shift_reg(e, B32, Shift::Shr, d, r),
            Op::Arsh32Reg => shift_reg(e, B32, Shift::Sar, d, r),
            Op::Div32Imm => divide(
                &mut self.e,
                self.blind,
                B32,
                Division::Quotient,
                false,
                d,
                Operand::Imm(s.imm),
            ),
            Op::Div32Reg => divide(
                &mut self.e,
                self.blind,
                B32,
                Division::Quotient,
                false,
                d,
                Operand::Reg(r),
            ),
            Op::Sdiv32Imm => divide(
                &mut self.e,
                self.blind,
                B32,
                Division::Quotient,
                true,
                d,
                Operand::Imm(s.imm),
            ),
            Op::Sdiv32Reg => divide(
                &mut self.e,
                self.blind,
                B32,
                Division::Quotient,
                true,
                d,
                Operand::Reg(r),
            ),
            Op::Mod32Imm => divide(
                &mut self.e,
                self.blind,
                B32,
                Division::Remainder,
                false,
                d,
                Operand::Imm(s.imm),
            ),
            Op::Mod32Reg => divide(
                &mut self.e,
                self.blind,
                B32,
                Division::Remainder,
                false,
                d,
                Operand::Reg(r),
            ),
            Op::Smod32Imm => divide(
                &mut self.e,
                self.blind,
                B32,
                Division::Remainder,
                true,
                d,
                Operand::Imm(s.imm),
            ),
            Op::Smod32Reg => divide(
                &mut self.e,
                self.blind,
                B32,
                Division::Remainder,
                true,
                d,
                Operand::Reg(r),
            ),

            Op::Le16 => e.movzx16(d, d),
            Op::Le32 => e.mov(B32, d, d),
            Op::Le64 => {}
            Op::Be16 | Op::Bswap16 => {
                e.shift_imm(B16, Shift::Ror, d, 8);
                e.movzx16(d, d);
            }
            Op::Be32 | Op::Bswap32 => e.bswap(B32, d),
            Op::Be64 | Op::Bswap64 => e.bswap(B64, d),

            Op::LdImm64 => self.ld_imm64(d, s.imm),
            Op::LddwHigh => {}
            Op::LdxB => e.load(B8, d, r, s.off),
            Op::LdxH => e.load(B16, d, r, s.off),
            Op::LdxW => e.load(B32, d, r, s.off),
            Op::LdxDW => e.load(B64, d, r, s.off),
            Op::LdxsB => e.load_signed(B8, d, r, s.off),
            Op::LdxsH => e.load_signed(B16, d, r, s.off),
            Op::LdxsW => e.load_signed(B32, d, r, s.off),
            Op::StB => self.store_k(B8, d, s.off, imm),
            Op::StH => self.store_k(B16, d, s.off, imm),
            Op::StW => self.store_k(B32, d, s.off, imm),
            Op::StDW => self.store_k(B64, d, s.off, imm),
            Op::StxB => e.store(B8, d, s.off, r),
            Op::StxH => e.store(B16, d, s.off, r),
            Op::StxW => e.store(B32, d, s.off, r),
            Op::StxDW => e.store(B64, d, s.off, r),
            Op::AtomicW => atomic(e, B32, s.imm as i32, d, s.off, r)?,
            Op::AtomicDW => atomic(e, B64, s.imm as i32, d, s.off, r)?,
            Op::LdAbsB | Op::LdAbsH | Op::LdAbsW | Op::LdIndB | Op::LdIndH | Op::LdIndW => {
                self.legacy_load(s, r)
            }

            Op::Ja => {
                let at = e.jmp();
                self.jump_to(at, s.off as usize);
            }
            Op::Jeq64Imm => self.branch_imm(B64, Cond::Equal, d, imm, s.off),
            Op::Jeq64Reg => self.branch_reg(B64, Cond::Equal, d, r, s.off),
            Op::Jgt64Imm => self.branch_imm(B64, Cond::Above, d, imm, s.off),
            Op::Jgt64Reg => self.branch_reg(B64, Cond::Above, d, r, s.off),
            Op::Jge64Imm => self.branch_imm(B64, Cond::AboveEqual, d, imm, s.off),
            Op::Jge64Reg => self.branch_reg(B64, Cond::AboveEqual, d, r, s.off),
            Op::Jset64Imm => self.branch_test_imm(B64, d, imm, s.off),
            Op::Jset64Reg => self.branch_test(B64, d, r, s.off),
            Op::Jne64Imm => self.branch_imm(B64, Cond::NotEqual, d, imm, s.off),
            Op::Jne64Reg => self.branch_reg(B64, Cond::NotEqual, d, r, s.off),
            Op::Jsgt64Imm => self.branch_imm(B64, Cond::Greater, d, imm, s.off),
            Op::Jsgt64Reg => self.branch_reg(B64, Cond::Greater, d, r, s.off),
            Op::Jsge64Imm => self.branch_imm(B64, Cond::GreaterEqual, d, imm, s.off),
            Op::Jsge64Reg => self.branch_reg(B64, Cond::GreaterEqual, d, r, s.off),
            Op::Jlt64Imm => self.branch_imm(B64, Cond::Below, d, imm, s.off),
            Op::Jlt64Reg => self.branch_reg(B64, Cond::Below, d, r, s.off),
            Op::Jle64Imm => self.branch_imm(B64, Cond::BelowEqual, d, imm, s.off),
            Op::Jle64Reg => self.branch_reg(B64, Cond::BelowEqual, d, r, s.off),
            Op::Jslt64Imm => self.branch_imm(B64, Cond::Less, d, imm, s.off),
            Op::Jslt64Reg => self.branch_reg(B64, Cond::Less, d, r, s.off),
            Op::Jsle64Imm => self.branch_imm(B64, Cond::LessEqual, d, imm, s.off),
            Op::Jsle64Reg => self.branch_reg(B64, Cond::LessEqual, d, r, s.off),
            Op::Jeq32Imm => self.branch_imm(B32, Cond::Equal, d, imm, s.off),
            Op::Jeq32Reg => self.branch_reg(B32, Cond::Equal, d, r, s.off),
            Op::Jgt32Imm => self.branch_imm(B32, Cond::Above, d, imm, s.off),
            Op::Jgt32Reg => self.branch_reg(B32, Cond::Above, d, r, s.off),
            Op::Jge32Imm => self.branch_imm(B32, Cond::AboveEqual, d, imm, s.off),
            Op::Jge32Reg => self.branch_reg(B32, Cond::AboveEqual, d, r, s.off),
            Op::Jset32Imm => self.branch_test_imm(B32, d, imm, s.off),
            Op::Jset32Reg => self.branch_test(B32, d, r, s.off),
            Op::Jne32Imm => self.branch_imm(B32, Cond::NotEqual, d, imm, s.off),
            Op::Jne32Reg => self.branch_reg(B32, Cond::NotEqual, d, r, s.off),
            Op::Jsgt32Imm => self.branch_imm(B32, Cond::Greater, d, imm, s.off),
            Op::Jsgt32Reg => self.branch_reg(B32, Cond::Greater, d, r, s.off),
            Op::Jsge32Imm => self.branch_imm(B32, Cond::GreaterEqual, d, imm, s.off),
            Op::Jsge32Reg => self.branch_reg(B32, Cond::GreaterEqual, d, r, s.off),
            Op::Jlt32Imm => self.branch_imm(B32, Cond::Below, d, imm, s.off),
            Op::Jlt32Reg => self.branch_reg(B32, Cond::Below, d, r, s.off),
            Op::Jle32Imm => self.branch_imm(B32, Cond::BelowEqual, d, imm, s.off),
            Op::Jle32Reg => self.branch_reg(B32, Cond::BelowEqual, d, r, s.off),
            Op::Jslt32Imm => self.branch_imm(B32, Cond::Less, d, imm, s.off),
            Op::Jslt32Reg => self.branch_reg(B32, Cond::Less, d, r, s.off),
            Op::Jsle32Imm => self.branch_imm(B32, Cond::LessEqual, d, imm, s.off),
            Op::Jsle32Reg => self.branch_reg(B32, Cond::LessEqual, d, r, s.off),

            Op::CallHelper => {
                let direct = self
                    .r1_constant
                    .filter(|_| s.imm == u64::from(MAP_LOOKUP_ELEM))
                    .and_then(|map| (self.direct_lookup)(map));
                match direct {
                    // r1 (the map) and r2 (the key) are already the
                    // arguments.
                    Some(DirectLookup::Call) => {
                        self.call_direct(run::lookup_direct as *const () as usize)
                    }
                    Some(DirectLookup::Array(a)) => self.array_lookup(a),
                    None => self.call_helper(pc, s.imm as u32),
                }
            }
            Op::CallLocal => self.call_local(pc, Callee::Slot(s.off as usize)),
            Op::CallReg => self.call_reg(pc, d),
            Op::Exit => e.ret(),
        }
        Ok(())
    }

    /// `dst op= imm`, the constant blinded when asked for.
    fn alu_k(&mut self, w: Width, op: Alu, dst: Reg, imm: i32) {
        if self.blind.is_some() {
            load_constant(&mut self.e, self.blind, w, AUX, imm);
            self.e.alu(w, op, dst, AUX);
        } else {
            self.e.alu_imm(w, op, dst, imm);
        }
    }

    /// `dst *= imm`.
    fn imul_k(&mut self, w: Width, dst: Reg, imm: i32) {
        if self.blind.is_some() {
            load_constant(&mut self.e, self.blind, w, AUX, imm);
            self.e.imul(w, dst, AUX);
        } else {
            self.e.imul_imm(w, dst, imm);
        }
    }

    /// `dst = imm` (sign-extended for 64 bits, zero-extended for 32).
    fn mov_k(&mut self, w: Width, dst: Reg, imm: i32) {
        load_constant(&mut self.e, self.blind, w, dst, imm);
    }

    /// `*(w *)(base + off) = imm`.
    fn store_k(&mut self, w: Width, base: Reg, off: i32, imm: i32) {
        if self.blind.is_some() {
            let wide = if w == Width::B64 {
                Width::B64
            } else {
                Width::B32
            };
            load_constant(&mut self.e, self.blind, wide, AUX, imm);
            self.e.store(w, base, off, AUX);
        } else {
            self.e.store_imm(w, base, off, imm);
        }
    }

    /// `dst = imm64` (`lddw`): blinded with the key in both halves.
    fn ld_imm64(&mut self, dst: Reg, imm: u64) {
        match self.blind {
            Some(key) => {
                let key = u64::from(key) << 32 | u64::from(key);
                self.e.mov_imm64(dst, imm ^ key);
                self.e.mov_imm64(AUX, key);
                self.e.alu(Width::B64, Alu::Xor, dst, AUX);
            }
            None => self.e.mov_imm64(dst, imm),
        }
    }

    fn branch_imm(&mut self, w: Width, cond: Cond, d: Reg, imm: i32, target: i32) {
        if self.blind.is_some() {
            load_constant(&mut self.e, self.blind, w, AUX, imm);
            return self.branch_reg(w, cond, d, AUX, target);
        }
        self.e.alu_imm(w, Alu::Cmp, d, imm);
        let at = self.e.jcc(cond);
        self.jump_to(at, target as usize);
    }

    fn branch_reg(&mut self, w: Width, cond: Cond, d: Reg, r: Reg, target: i32) {
        self.e.alu(w, Alu::Cmp, d, r);
        let at = self.e.jcc(cond);
        self.jump_to(at, target as usize);
    }

    fn branch_test_imm(&mut self, w: Width, d: Reg, imm: i32, target: i32) {
        if self.blind.is_some() {
            load_constant(&mut self.e, self.blind, w, AUX, imm);
            return self.branch_test(w, d, AUX, target);
        }
        self.e.test_imm(w, d, imm);
        let at = self.e.jcc(Cond::NotEqual);
        self.jump_to(at, target as usize);
    }

    fn branch_test(&mut self, w: Width, d: Reg, r: Reg, target: i32) {
        self.e.test(w, d, r);
        let at = self.e.jcc(Cond::NotEqual);
        self.jump_to(at, target as usize);
    }

    /// A call of a Rust function that needs no run record (a direct map
    /// lookup): arguments in place, the result in `rax`.
    /// `r0` = the address of the value of the array `a` at the index `r2`
    /// points to, or NULL past its end (r1-r5 are free after a call).
    fn array_lookup(&mut self, a: InlineArray) {
        let e = &mut self.e;
        e.load(Width::B32, RAX, RSI, 0);
        e.alu_imm(Width::B32, Alu::Cmp, RAX, a.max_entries as i32);
        let past_end = e.jcc(Cond::AboveEqual);
        e.imul_imm(Width::B64, RAX, a.stride as i32);
        e.mov_imm64(R11, a.base);
        e.alu(Width::B64, Alu::Add, RAX, R11);
        let done = e.jmp();
        let null = e.pos();
        e.bind(past_end, null);
        e.alu(Width::B32, Alu::Xor, RAX, RAX);
        let end = e.pos();
        e.bind(done, end);
    }

    fn call_direct(&mut self, target: usize) {
        let e = &mut self.e;
        e.mov_imm64(RAX, target as u64);
        e.alu_imm(Width::B64, Alu::Sub, RSP, 8);
        e.call_reg(RAX);
        e.alu_imm(Width::B64, Alu::Add, RSP, 8);
    }

    /// A helper call: `r1`-`r5` are already the System V arguments; the
    /// record (in `r9`, the sixth) carries the id, the instruction and the
    /// frame pointer.
    fn call_helper(&mut self, pc: usize, id: u32) {
        let e = &mut self.e;
        e.store(Width::B64, RUN, field(FRAME_POINTER), RBP);
        e.store_imm32(RUN, field(CALL_ID), id);
        e.store_imm32(RUN, field(CALL_PC), pc as u32);
        e.mov(Width::B64, AUX2, RUN);
        self.call_out(run::call_helper as *const () as usize);
    }

    /// `LD_ABS`/`LD_IND`: the offset in `rdi`, the size in `rsi`, the
    /// record in `r9`; the value comes back in `rax`.
    fn legacy_load(&mut self, s: Slot, r: Reg) {
        let (size, indirect) = match s.op {
            Op::LdAbsB => (1, false),
            Op::LdAbsH => (2, false),
            Op::LdAbsW => (4, false),
            Op::LdIndB => (1, true),
            Op::LdIndH => (2, true),
            _ => (4, true),
        };
        let e = &mut self.e;
        if indirect {
            e.mov(Width::B32, RDI, r);
            e.alu_imm(Width::B32, Alu::Add, RDI, s.imm as i32);
        } else {
            e.mov_imm32(RDI, s.imm as u32);
        }
        e.mov_imm32(RSI, size);
        e.mov(Width::B64, AUX2, RUN);
        self.call_out(run::legacy_load as *const () as usize);
    }

    /// `call` of a local function: `r6`-`r10` saved, `r10` one frame down.
    fn call_local(&mut self, pc: usize, callee: Callee) {
        let frame = match callee {
            Callee::Slot(_) => TMP,
            Callee::Reg(_) => AUX,
        };
        self.e.lea(frame, RBP, -(STACK_SIZE as i32));
        self.e.cmp_reg_mem(frame, RUN, field(STACK_BASE));
        self.fail_if(Cond::BelowEqual, pc, Status::CallDepth);
        let e = &mut self.e;
        for r in [RBX, R13, R14, R15, RBP] {
            e.push(r);
        }
        e.mov(Width::B64, RBP, frame);
        match callee {
            Callee::Slot(target) => {
                let at = e.call_rel();
                self.jump_to(at, target);
            }
            Callee::Reg(target) => e.call_reg(target),
        }
        let e = &mut self.e;
        for r in [RBP, R15, R14, R13, RBX] {
            e.pop(r);
        }
    }

    /// `callx`: the register's value resolved to a function's code by
    /// Rust (every argument register kept), then a local call.
    fn call_reg(&mut self, pc: usize, d: Reg) {
        let e = &mut self.e;
        e.store_imm32(RUN, field(CALL_PC), pc as u32);
        let saved = [RAX, RDI, RSI, RDX, RCX, R8];
        for r in saved {
            e.push(r);
        }
        e.mov(Width::B64, RDI, d);
        e.mov(Width::B64, RSI, RUN);
        e.mov_imm64(RAX, run::resolve_call as *const () as u64);
        e.alu_imm(Width::B64, Alu::Sub, RSP, 8);
        e.call_reg(RAX);
        e.alu_imm(Width::B64, Alu::Add, RSP, 8);
        e.mov(Width::B64, TMP, RAX);
        for r in saved.iter().rev() {
            e.pop(*r);
        }
        e.cmp_mem_imm8(RUN, field(STATUS), 0);
        let at = e.jcc(Cond::NotEqual);
        self.unwinds.push(at);
        if !self.callx_helpers {
            self.call_local(pc, Callee::Reg(TMP));
            return;
        }
        // A helper id: call the helper with the arguments in place.
        let e = &mut self.e;
        e.alu_imm(Width::B64, Alu::Cmp, TMP, run::CALLX_HELPER as i32);
        let local = e.jcc(Cond::NotEqual);
        e.store(Width::B32, RUN, field(CALL_ID), d);
        e.store(Width::B64, RUN, field(FRAME_POINTER), RBP);
        e.mov(Width::B64, AUX2, RUN);
        self.call_out(run::call_helper as *const () as usize);
        let done = self.e.jmp();
        let here = self.e.pos();
        self.e.bind(local, here);
        self.call_local(pc, Callee::Reg(TMP));
        let end = self.e.pos();
        self.e.bind(done, end);
    }
}

/// What a local call calls.
enum Callee {
    Slot(usize),
    Reg(Reg),
}

enum Operand {
    Reg(Reg),
    Imm(u64),
}

#[derive(PartialEq, Eq)]
enum Division {
    Quotient,
    Remainder,
}

/// Shift by a constant: RFC 9669 takes the count modulo the width, as x86
/// does; a 32-bit operation always leaves the upper half zero.
fn shift_imm(e: &mut Emitter, w: Width, op: Shift, d: Reg, imm: u64) {
    let bits = if w == Width::B64 { 63 } else { 31 };
    let count = (imm & bits) as u8;
    if count == 0 {
        if w == Width::B32 {
            e.mov(Width::B32, d, d);
        }
    } else {
        e.shift_imm(w, op, d, count);
    }
}

/// Shift by a register: the count must be in `cl`, which is `r4`.
fn shift_reg(e: &mut Emitter, w: Width, op: Shift, d: Reg, r: Reg) {
    if r == RCX {
        e.shift_cl(w, op, d);
    } else {
        e.mov(Width::B64, TMP, RCX);
        e.mov(Width::B64, RCX, r);
        if d == RCX {
            e.shift_cl(w, op, TMP);
            e.mov(Width::B64, RCX, TMP);
        } else {
            e.shift_cl(w, op, d);
            e.mov(Width::B64, RCX, TMP);
        }
    }
    if w == Width::B32 {
        // A count of zero leaves the register as it was: clear the upper
        // half all the same.
        e.mov(Width::B32, d, d);
    }
}

/// Division and modulo with eBPF's results where x86 would trap: by zero
/// the quotient is 0 and the remainder the dividend; signed `MIN / -1` is
/// `MIN` (a negation) and `MIN % -1` is 0.
/// `reg = imm` as an eBPF instruction's constant: sign-extended to 64
/// bits for `B64`, zero-extended from 32 otherwise. With a blinding key
/// the code holds `imm ^ key` and then XORs the key back (Linux's
/// `bpf_jit_blind_constants`), so no constant of the program is in the
/// executable memory as written.
fn load_constant(e: &mut Emitter, blind: Option<u32>, w: Width, reg: Reg, imm: i32) {
    let (stored, key) = match blind {
        Some(key) => (imm ^ key as i32, Some(key as i32)),
        None => (imm, None),
    };
    if w == Width::B64 {
        e.mov_imm64(reg, stored as i64 as u64);
    } else {
        e.mov_imm32(reg, stored as u32);
    }
    if let Some(key) = key {
        let xw = if w == Width::B64 {
            Width::B64
        } else {
            Width::B32
        };
        e.alu_imm(xw, Alu::Xor, reg, key);
    }
}

#[allow(clippy::too_many_arguments)]
fn divide(
    e: &mut Emitter,
    blind: Option<u32>,
    w: Width,
    what: Division,
    signed: bool,
    d: Reg,
    by: Operand,
) {
    match by {
        Operand::Reg(r) => e.mov(Width::B64, TMP, r),
        Operand::Imm(v) => load_constant(e, blind, w, TMP, v as i32),
    }
    let mut done = Vec::new();
    e.test(w, TMP, TMP);
    let nonzero = e.jcc(Cond::NotEqual);
    // Divisor zero.
    match what {
        Division::Quotient => e.alu(Width::B32, Alu::Xor, d, d),
        Division::Remainder => {
            if w == Width::B32 {
                e.mov(Width::B32, d, d)
            }
        }
    }
    done.push(e.jmp());
    let here = e.pos();
    e.bind(nonzero, here);
    if signed {
        e.alu_imm(w, Alu::Cmp, TMP, -1);
        let not_minus_one = e.jcc(Cond::NotEqual);
        match what {
            Division::Quotient => e.neg(w, d),
            Division::Remainder => e.alu(Width::B32, Alu::Xor, d, d),
        }
        done.push(e.jmp());
        let here = e.pos();
        e.bind(not_minus_one, here);
    }
    e.mov(Width::B64, AUX, RAX);
    e.mov(Width::B64, AUX2, RDX);
    if d != RAX {
        e.mov(Width::B64, RAX, d);
    }
    if signed {
        e.sign_extend_rax(w);
    } else {
        e.alu(Width::B32, Alu::Xor, RDX, RDX);
    }
    e.div(w, signed, TMP);
    let result = if what == Division::Quotient { RAX } else { RDX };
    // A 32-bit move keeps a 32-bit result zero-extended.
    e.mov(w.max32(), TMP, result);
    e.mov(Width::B64, RAX, AUX);
    e.mov(Width::B64, RDX, AUX2);
    e.mov(Width::B64, d, TMP);
    let end = e.pos();
    for at in done {
        e.bind(at, end);
    }
}

/// An atomic read-modify-write on `[d + off]` with `r` (`op` as eBPF
/// encodes it in the immediate).
fn atomic(e: &mut Emitter, w: Width, op: i32, d: Reg, off: i32, r: Reg) -> Result<(), JitError> {
    const ADD: i32 = BPF_ADD as i32;
    const OR: i32 = BPF_OR as i32;
    const AND: i32 = BPF_AND as i32;
    const XOR: i32 = BPF_XOR as i32;
    match op {
        ADD => e.lock_alu_mem(w, Alu::Add, d, off, r),
        OR => e.lock_alu_mem(w, Alu::Or, d, off, r),
        AND => e.lock_alu_mem(w, Alu::And, d, off, r),
        XOR => e.lock_alu_mem(w, Alu::Xor, d, off, r),
        _ if op == ADD | BPF_FETCH => e.lock_xadd(w, d, off, r),
        BPF_XCHG => e.xchg_mem(w, d, off, r),
        BPF_CMPXCHG => {
            e.lock_cmpxchg(w, d, off, r);
            if w == Width::B32 {
                // A successful 32-bit cmpxchg does not write eax.
                e.mov(Width::B32, RAX, RAX);
            }
        }
        _ if op == OR | BPF_FETCH || op == AND | BPF_FETCH || op == XOR | BPF_FETCH => {
            let alu = match op & !BPF_FETCH {
                OR => Alu::Or,
                AND => Alu::And,
                _ => Alu::Xor,
            };
            // A compare-exchange loop in rax, whose r0 waits in AUX.
            e.mov(Width::B64, AUX, RAX);
            let base = if d == RAX { AUX } else { d };
            let value = if r == RAX { AUX } else { r };
            e.load(w, RAX, base, off);
            let again = e.pos();
            e.mov(Width::B64, TMP, RAX);
            e.alu(w, alu, TMP, value);
            e.lock_cmpxchg(w, base, off, TMP);
            let back = e.jcc(Cond::NotEqual);
            e.bind(back, again);
            e.mov(w.max32(), r, RAX);
            if r != RAX {
                e.mov(Width::B64, RAX, AUX);
            }
        }
        _ => return Err(JitError::Unsupported),
    }
    Ok(())
}

impl Width {
    /// 32 bits for 32-bit operations, 64 for 64-bit ones.
    fn max32(self) -> Width {
        if self == Width::B64 {
            Width::B64
        } else {
            Width::B32
        }
    }
}
