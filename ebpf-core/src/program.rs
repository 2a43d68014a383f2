//! Load-time validation and pre-decoding of a program.
//!
//! Validation follows the structural rules Linux's verifier applies before
//! any data-flow analysis: known opcodes, valid registers, zero reserved
//! fields, legal immediates, jump targets inside the program and never into
//! the second slot of an `LD_IMM64`, and no way to run off the end.

use alloc::vec::Vec;

use crate::decoded::{Op, Slot};
use crate::error::LoadError;
use crate::helpers::{ids, proto, Helpers};
use crate::insn::Insn;
use crate::opcode::*;

/// Largest program accepted, in instruction slots (Linux's limit for
/// privileged programs, `BPF_COMPLEXITY_LIMIT_INSNS`).
pub const MAX_INSNS: usize = 1_000_000;

/// Stack bytes of one call frame.
pub const STACK_SIZE: usize = 512;

/// Maximum call frames, the main program included (Linux's
/// `MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;

/// Default instruction budget of one run.
pub const DEFAULT_BUDGET: u64 = 1 << 24;

/// Tag of the values `lddw rX, func` produces: the address of a BPF
/// function as `callx` and callback-taking helpers understand it. The low
/// 32 bits are the function's instruction index.
pub const FUNC_ADDR_TAG: u64 = 0xbf0f_0000_0000_0000;

/// Resolves the `LD_IMM64` pseudo sources a loader gives meaning to: map
/// references by fd or index, map value addresses, and BTF variables.
pub trait PseudoResolver {
    /// Returns the 64-bit value `lddw` at `pc` loads, for pseudo source
    /// `src` with the immediates of its two slots.
    fn resolve(&self, pc: usize, src: u8, imm: i32, next_imm: i32) -> Result<u64, LoadError>;
}

/// How to load a program.
#[derive(Clone, Copy)]
pub struct LoadOptions<'a> {
    helpers: Option<&'a dyn Helpers>,
    resolver: Option<&'a dyn PseudoResolver>,
    checked: bool,
    budget: u64,
    max_insns: usize,
    callx_helpers: bool,
    exception_cb: Option<usize>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            helpers: None,
            resolver: None,
            checked: true,
            budget: DEFAULT_BUDGET,
            max_insns: MAX_INSNS,
            callx_helpers: false,
            exception_cb: None,
        }
    }
}

impl<'a> LoadOptions<'a> {
    /// Helpers the program may call; a call of any other id fails the load.
    pub fn helpers(mut self, helpers: &'a dyn Helpers) -> Self {
        self.helpers = Some(helpers);
        self
    }

    /// `callx` through a register that holds no function address calls
    /// the helper whose id it holds (uBPF's convention, which the eBPF
    /// conformance suites use); otherwise such a call ends the run.
    pub fn callx_helpers(mut self, on: bool) -> Self {
        self.callx_helpers = on;
        self
    }

    /// The program's own exception callback: the BPF function starting at
    /// instruction `entry`, which `bpf_throw` calls with its cookie after
    /// unwinding; the program returns what it returns.
    pub fn exception_callback(mut self, entry: Option<usize>) -> Self {
        self.exception_cb = entry;
        self
    }

    /// Resolver for `LD_IMM64` pseudo sources.
    pub fn resolver(mut self, resolver: &'a dyn PseudoResolver) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Instructions one run may execute before it is stopped.
    pub fn budget(mut self, budget: u64) -> Self {
        self.budget = budget;
        self
    }

    /// Lower program size limit (instruction slots).
    pub fn max_insns(mut self, max: usize) -> Self {
        self.max_insns = max.min(MAX_INSNS);
        self
    }

    /// Runs the program without checking memory accesses at run time.
    ///
    /// # Safety
    /// The program must have been proven to access only memory it is granted
    /// (by a verifier); otherwise running it is undefined behaviour.
    pub unsafe fn unchecked(mut self) -> Self {
        self.checked = false;
        self
    }
}

/// A validated, pre-decoded program, ready to run any number of times,
/// concurrently if the embedder wishes (it is immutable).
#[derive(Debug)]
pub struct Program {
    pub(crate) insns: Vec<Insn>,
    pub(crate) code: Vec<Slot>,
    /// Sorted instruction indices that are the entry of a BPF function.
    pub(crate) functions: Vec<u32>,
    pub(crate) checked: bool,
    pub(crate) budget: u64,
    /// `callx` of a value that is no function calls that helper
    /// ([`LoadOptions::callx_helpers`]).
    pub(crate) callx_helpers: bool,
    /// The machine code, once compiled ([`Program::compile`]).
    pub(crate) native: Option<crate::jit::Image>,
    /// The same, compiled by the kernel's JIT.
    pub(crate) kernel: Option<crate::jit::kernel::KernelImage>,
    /// The entry of its own exception callback, if it has one.
    pub(crate) exception_cb: Option<u32>,
}

impl Program {
    /// Validates `insns` and pre-decodes them.
    pub fn load(insns: &[Insn], opts: &LoadOptions<'_>) -> Result<Self, LoadError> {
        if insns.is_empty() {
            return Err(LoadError::Empty);
        }
        if insns.len() > opts.max_insns {
            return Err(LoadError::TooLarge {
                len: insns.len(),
                max: opts.max_insns,
            });
        }
        let mut code = Vec::new();
        code.try_reserve_exact(insns.len())
            .map_err(|_| LoadError::OutOfMemory)?;
        let mut own = Vec::new();
        own.try_reserve_exact(insns.len())
            .map_err(|_| LoadError::OutOfMemory)?;
        own.extend_from_slice(insns);
        let mut functions = Vec::new();
        functions
            .try_reserve(1)
            .map_err(|_| LoadError::OutOfMemory)?;
        functions.push(0);

        let mut pc = 0;
        while pc < insns.len() {
            let slot = decode(insns, pc, opts)?;
            code.push(slot);
            if insns[pc].is_lddw() {
                code.push(Slot {
                    op: Op::LddwHigh,
                    dst: 0,
                    src: 0,
                    off: 0,
                    imm: 0,
                });
                pc += 2;
            } else {
                pc += 1;
            }
        }
        check_targets(insns, &mut code, &mut functions)?;
        if let Some(entry) = opts.exception_cb {
            // A function's first instruction: not past the end, not the
            // second slot of an lddw.
            if code.get(entry).is_none_or(|s| s.op == Op::LddwHigh) {
                return Err(LoadError::BadExceptionCallback { pc: entry });
            }
            if let Err(at) = functions.binary_search(&(entry as u32)) {
                functions
                    .try_reserve(1)
                    .map_err(|_| LoadError::OutOfMemory)?;
                functions.insert(at, entry as u32);
            }
        }
        Ok(Program {
            insns: own,
            code,
            functions,
            checked: opts.checked,
            budget: opts.budget,
            callx_helpers: opts.callx_helpers,
            native: None,
            kernel: None,
            exception_cb: opts.exception_cb.map(|e| e as u32),
        })
    }

    /// Decodes `bytes` (little-endian instruction slots) and loads them.
    pub fn from_bytes(bytes: &[u8], opts: &LoadOptions<'_>) -> Result<Self, LoadError> {
        Program::load(&crate::load::parse(bytes)?, opts)
    }

    /// Whether `insns` would load with `opts`: the structural checks of
    /// [`load`](Program::load) without keeping the result.
    pub fn check(insns: &[Insn], opts: &LoadOptions<'_>) -> Result<(), LoadError> {
        Program::load(insns, opts).map(drop)
    }

    /// The instructions as loaded (pseudo sources left unresolved).
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// Number of instruction slots.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// The instruction index of the BPF function whose address (as
    /// `lddw rX, func` produces it) is `value`.
    pub fn function_index(&self, value: u64) -> Option<usize> {
        let index = value as u32;
        let tagged = value & !0xffff_ffff == FUNC_ADDR_TAG;
        (tagged && self.functions.binary_search(&index).is_ok()).then_some(index as usize)
    }

    /// Whether the program is empty (never true for a loaded program).
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Whether memory accesses are checked at run time.
    pub fn is_checked(&self) -> bool {
        self.checked
    }

    /// The instruction budget of one run.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Compiles the program to machine code in `platform`'s executable
    /// memory; its runs then use the code instead of the interpreter (see
    /// [`crate::jit`]). Only programs without run-time checks compile.
    /// The kernel's own JIT compiles it where the platform has one
    /// ([`Platform::kernel_jit`](crate::Platform::kernel_jit)).
    pub fn compile(&mut self, platform: crate::PlatformRef) -> Result<(), crate::jit::JitError> {
        self.compile_with_maps(platform, &[])
    }

    /// Compiles like [`compile`](Self::compile), knowing the maps the
    /// program's `lddw`s load (which it keeps alive): the core's JIT then
    /// looks up array and hash maps directly, without the helper table.
    pub fn compile_with_maps(
        &mut self,
        platform: crate::PlatformRef,
        maps: &[crate::Shared<crate::Map>],
    ) -> Result<(), crate::jit::JitError> {
        if self.native.is_some() || self.kernel.is_some() {
            return Ok(());
        }
        match platform.kernel_jit() {
            Some(jit) => {
                let direct = |value| crate::jit::direct_lookup(maps, value);
                self.kernel = Some(crate::jit::kernel::KernelImage::compile(
                    jit, self, &direct,
                )?)
            }
            None => self.native = Some(crate::jit::Image::compile(platform, self, maps)?),
        }
        Ok(())
    }

    /// The size of the machine code, when the program is compiled.
    pub fn native_len(&self) -> Option<usize> {
        match (&self.native, &self.kernel) {
            (Some(image), _) => Some(image.len()),
            (_, Some(image)) => Some(image.len()),
            _ => None,
        }
    }

    /// The machine code the core's JIT made, when it compiled the program
    /// (not the kernel's JIT's, which the kernel keeps).
    pub fn native_code(&self) -> Option<&[u8]> {
        self.native.as_ref().map(|image| image.code())
    }

    /// The address of the machine code of the function starting at slot
    /// `index`, when the program is compiled.
    pub(crate) fn native_function(&self, index: usize) -> Option<u64> {
        self.native.as_ref()?.function(index)
    }
}

fn reg(pc: usize, r: u8) -> Result<u8, LoadError> {
    if r > 10 {
        Err(LoadError::BadRegister { pc, reg: r })
    } else {
        Ok(r)
    }
}

fn dst_writable(pc: usize, r: u8) -> Result<u8, LoadError> {
    match reg(pc, r)? {
        10 => Err(LoadError::FramePointerWrite { pc }),
        r => Ok(r),
    }
}

fn zero(pc: usize, field: &'static str, value: i64) -> Result<(), LoadError> {
    if value != 0 {
        Err(LoadError::ReservedField { pc, field })
    } else {
        Ok(())
    }
}

fn unknown(pc: usize, opcode: u8) -> LoadError {
    LoadError::UnknownOpcode { pc, opcode }
}

/// Decodes the instruction at `pc` into a slot whose jump targets are still
/// relative (fixed up by `check_targets`).
fn decode(insns: &[Insn], pc: usize, opts: &LoadOptions<'_>) -> Result<Slot, LoadError> {
    let insn = insns[pc];
    let slot = |op, dst, src, off: i32, imm: u64| Slot {
        op,
        dst,
        src,
        off,
        imm,
    };
    match insn.class() {
        BPF_ALU | BPF_ALU64 => decode_alu(insn, pc),
        BPF_JMP | BPF_JMP32 => decode_jump(insn, pc, opts),
        BPF_LDX => {
            zero(pc, "imm", insn.imm.into())?;
            let op = match (mode(insn.opcode), size(insn.opcode)) {
                (BPF_MEM, BPF_B) => Op::LdxB,
                (BPF_MEM, BPF_H) => Op::LdxH,
                (BPF_MEM, BPF_W) => Op::LdxW,
                (BPF_MEM, BPF_DW) => Op::LdxDW,
                (BPF_MEMSX, BPF_B) => Op::LdxsB,
                (BPF_MEMSX, BPF_H) => Op::LdxsH,
                (BPF_MEMSX, BPF_W) => Op::LdxsW,
                _ => return Err(unknown(pc, insn.opcode)),
            };
            Ok(slot(
                op,
                dst_writable(pc, insn.dst)?,
                reg(pc, insn.src)?,
                insn.off.into(),
                0,
            ))
        }
        BPF_ST => {
            zero(pc, "src", insn.src.into())?;
            let op = match (mode(insn.opcode), size(insn.opcode)) {
                (BPF_MEM, BPF_B) => Op::StB,
                (BPF_MEM, BPF_H) => Op::StH,
                (BPF_MEM, BPF_W) => Op::StW,
                (BPF_MEM, BPF_DW) => Op::StDW,
                _ => return Err(unknown(pc, insn.opcode)),
            };
            Ok(slot(
                op,
                reg(pc, insn.dst)?,
                0,
                insn.off.into(),
                insn.imm as i64 as u64,
            ))
        }
        BPF_STX => {
            let op = match (mode(insn.opcode), size(insn.opcode)) {
                (BPF_MEM, BPF_B) => Op::StxB,
                (BPF_MEM, BPF_H) => Op::StxH,
                (BPF_MEM, BPF_W) => Op::StxW,
                (BPF_MEM, BPF_DW) => Op::StxDW,
                (BPF_ATOMIC, BPF_W) => Op::AtomicW,
                (BPF_ATOMIC, BPF_DW) => Op::AtomicDW,
                _ => return Err(unknown(pc, insn.opcode)),
            };
            let imm = if matches!(op, Op::AtomicW | Op::AtomicDW) {
                decode_atomic_op(insn, pc)?
            } else {
                zero(pc, "imm", insn.imm.into())?;
                0
            };
            Ok(slot(
                op,
                reg(pc, insn.dst)?,
                reg(pc, insn.src)?,
                insn.off.into(),
                imm,
            ))
        }
        BPF_LD => decode_ld(insns, pc, opts),
        _ => unreachable_class(pc, insn.opcode),
    }
}

fn unreachable_class(pc: usize, opcode: u8) -> Result<Slot, LoadError> {
    // The class is three bits and all eight values are matched above; keep
    // a precise error rather than a panic should that ever change.
    Err(unknown(pc, opcode))
}

fn decode_atomic_op(insn: Insn, pc: usize) -> Result<u64, LoadError> {
    const PLAIN: [i32; 4] = [
        BPF_ADD as i32,
        BPF_OR as i32,
        BPF_AND as i32,
        BPF_XOR as i32,
    ];
    let ok = PLAIN.contains(&insn.imm)
        || PLAIN.contains(&(insn.imm & !BPF_FETCH))
        || insn.imm == BPF_XCHG
        || insn.imm == BPF_CMPXCHG;
    if !ok {
        return Err(LoadError::BadImmediate { pc, imm: insn.imm });
    }
    let fetches = insn.imm & BPF_FETCH != 0;
    if fetches && insn.src == 10 && insn.imm != BPF_CMPXCHG {
        return Err(LoadError::FramePointerWrite { pc });
    }
    Ok(insn.imm as u32 as u64)
}

fn decode_ld(insns: &[Insn], pc: usize, opts: &LoadOptions<'_>) -> Result<Slot, LoadError> {
    let insn = insns[pc];
    if insn.is_lddw() {
        let next = *insns.get(pc + 1).ok_or(LoadError::LddwTruncated { pc })?;
        if next.opcode != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
            return Err(LoadError::BadLddwSecondSlot { pc });
        }
        zero(pc, "off", insn.off.into())?;
        let dst = dst_writable(pc, insn.dst)?;
        let value = match insn.src {
            0 => (insn.imm as u32 as u64) | ((next.imm as u32 as u64) << 32),
            BPF_PSEUDO_FUNC => {
                zero(pc, "imm", next.imm.into())?;
                // Resolved to FUNC_ADDR_TAG | target in check_targets.
                insn.imm as i64 as u64
            }
            BPF_PSEUDO_MAP_FD
            | BPF_PSEUDO_MAP_VALUE
            | BPF_PSEUDO_BTF_ID
            | BPF_PSEUDO_MAP_IDX
            | BPF_PSEUDO_MAP_IDX_VALUE => match opts.resolver {
                Some(r) => r.resolve(pc, insn.src, insn.imm, next.imm)?,
                None => {
                    return Err(LoadError::Unsupported {
                        pc,
                        what: "lddw map or BTF reference with no loader to resolve it",
                    })
                }
            },
            _ => {
                return Err(LoadError::Unsupported {
                    pc,
                    what: "lddw pseudo source",
                })
            }
        };
        return Ok(Slot {
            op: Op::LdImm64,
            dst,
            src: insn.src,
            off: 0,
            imm: value,
        });
    }
    let op = match (mode(insn.opcode), size(insn.opcode)) {
        (BPF_ABS, BPF_B) => Op::LdAbsB,
        (BPF_ABS, BPF_H) => Op::LdAbsH,
        (BPF_ABS, BPF_W) => Op::LdAbsW,
        (BPF_IND, BPF_B) => Op::LdIndB,
        (BPF_IND, BPF_H) => Op::LdIndH,
        (BPF_IND, BPF_W) => Op::LdIndW,
        _ => return Err(unknown(pc, insn.opcode)),
    };
    zero(pc, "dst", insn.dst.into())?;
    zero(pc, "off", insn.off.into())?;
    if mode(insn.opcode) == BPF_ABS {
        zero(pc, "src", insn.src.into())?;
    }
    Ok(Slot {
        op,
        dst: 0,
        src: reg(pc, insn.src)?,
        off: 0,
        imm: insn.imm as u32 as u64,
    })
}

/// The operation of an ALU opcode with an `Imm` and a `Reg` form, indexed
/// by `[is64][op >> 4]`; `None` where the pair needs special handling.
fn alu_pair(op: u8, wide: bool) -> Option<(Op, Op)> {
    use Op::*;
    Some(match (op, wide) {
        (BPF_ADD, true) => (Add64Imm, Add64Reg),
        (BPF_SUB, true) => (Sub64Imm, Sub64Reg),
        (BPF_MUL, true) => (Mul64Imm, Mul64Reg),
        (BPF_OR, true) => (Or64Imm, Or64Reg),
        (BPF_AND, true) => (And64Imm, And64Reg),
        (BPF_LSH, true) => (Lsh64Imm, Lsh64Reg),
        (BPF_RSH, true) => (Rsh64Imm, Rsh64Reg),
        (BPF_ARSH, true) => (Arsh64Imm, Arsh64Reg),
        (BPF_XOR, true) => (Xor64Imm, Xor64Reg),
        (BPF_ADD, false) => (Add32Imm, Add32Reg),
        (BPF_SUB, false) => (Sub32Imm, Sub32Reg),
        (BPF_MUL, false) => (Mul32Imm, Mul32Reg),
        (BPF_OR, false) => (Or32Imm, Or32Reg),
        (BPF_AND, false) => (And32Imm, And32Reg),
        (BPF_LSH, false) => (Lsh32Imm, Lsh32Reg),
        (BPF_RSH, false) => (Rsh32Imm, Rsh32Reg),
        (BPF_ARSH, false) => (Arsh32Imm, Arsh32Reg),
        (BPF_XOR, false) => (Xor32Imm, Xor32Reg),
        _ => return None,
    })
}

fn decode_alu(insn: Insn, pc: usize) -> Result<Slot, LoadError> {
    use Op::*;
    let wide = insn.class() == BPF_ALU64;
    let op = operation(insn.opcode);
    let by_reg = source(insn.opcode) == BPF_X;
    let dst = dst_writable(pc, insn.dst)?;
    let imm = if wide {
        insn.imm as i64 as u64
    } else {
        insn.imm as u32 as u64
    };
    let done = |op, src| {
        Ok(Slot {
            op,
            dst,
            src,
            off: 0,
            imm,
        })
    };
    // Operand checks shared by every two-operand form: a register operand
    // needs imm == 0, an immediate operand needs src == 0.
    let operand = || -> Result<u8, LoadError> {
        if by_reg {
            zero(pc, "imm", insn.imm.into())?;
            reg(pc, insn.src)
        } else {
            zero(pc, "src", insn.src.into())?;
            Ok(0)
        }
    };
    match op {
        BPF_NEG => {
            if by_reg {
                return Err(unknown(pc, insn.opcode));
            }
            zero(pc, "src", insn.src.into())?;
            zero(pc, "off", insn.off.into())?;
            zero(pc, "imm", insn.imm.into())?;
            done(if wide { Neg64 } else { Neg32 }, 0)
        }
        BPF_END => {
            zero(pc, "src", insn.src.into())?;
            zero(pc, "off", insn.off.into())?;
            let op = match (wide, by_reg, insn.imm) {
                (false, false, 16) => Le16,
                (false, false, 32) => Le32,
                (false, false, 64) => Le64,
                (false, true, 16) => Be16,
                (false, true, 32) => Be32,
                (false, true, 64) => Be64,
                (true, false, 16) => Bswap16,
                (true, false, 32) => Bswap32,
                (true, false, 64) => Bswap64,
                (true, true, _) => return Err(unknown(pc, insn.opcode)),
                _ => return Err(LoadError::BadImmediate { pc, imm: insn.imm }),
            };
            done(op, 0)
        }
        BPF_MOV => {
            let src = operand()?;
            let op = match (wide, by_reg, insn.off) {
                (true, false, 0) => Mov64Imm,
                (true, true, 0) => Mov64Reg,
                (true, true, 8) => Movsx64B,
                (true, true, 16) => Movsx64H,
                (true, true, 32) => Movsx64W,
                (false, false, 0) => Mov32Imm,
                (false, true, 0) => Mov32Reg,
                (false, true, 8) => Movsx32B,
                (false, true, 16) => Movsx32H,
                _ => return Err(LoadError::ReservedField { pc, field: "off" }),
            };
            done(op, src)
        }
        BPF_DIV | BPF_MOD => {
            let src = operand()?;
            let signed = match insn.off {
                0 => false,
                1 => true,
                _ => return Err(LoadError::ReservedField { pc, field: "off" }),
            };
            // Division by a constant zero is defined (RFC 9669: 0, or the
            // dividend for modulo); the verifier refuses it, as Linux does.
            let table = match (op == BPF_DIV, signed, wide) {
                (true, false, true) => (Div64Imm, Div64Reg),
                (true, true, true) => (Sdiv64Imm, Sdiv64Reg),
                (false, false, true) => (Mod64Imm, Mod64Reg),
                (false, true, true) => (Smod64Imm, Smod64Reg),
                (true, false, false) => (Div32Imm, Div32Reg),
                (true, true, false) => (Sdiv32Imm, Sdiv32Reg),
                (false, false, false) => (Mod32Imm, Mod32Reg),
                (false, true, false) => (Smod32Imm, Smod32Reg),
            };
            done(if by_reg { table.1 } else { table.0 }, src)
        }
        _ => {
            let (imm_op, reg_op) = alu_pair(op, wide).ok_or_else(|| unknown(pc, insn.opcode))?;
            let src = operand()?;
            zero(pc, "off", insn.off.into())?;
            // Constant shift counts are taken modulo the width (RFC 9669);
            // the verifier refuses those out of range, as Linux does.
            done(if by_reg { reg_op } else { imm_op }, src)
        }
    }
}

fn cond_pair(op: u8, wide: bool) -> Option<(Op, Op)> {
    use Op::*;
    Some(match (op, wide) {
        (BPF_JEQ, true) => (Jeq64Imm, Jeq64Reg),
        (BPF_JGT, true) => (Jgt64Imm, Jgt64Reg),
        (BPF_JGE, true) => (Jge64Imm, Jge64Reg),
        (BPF_JSET, true) => (Jset64Imm, Jset64Reg),
        (BPF_JNE, true) => (Jne64Imm, Jne64Reg),
        (BPF_JSGT, true) => (Jsgt64Imm, Jsgt64Reg),
        (BPF_JSGE, true) => (Jsge64Imm, Jsge64Reg),
        (BPF_JLT, true) => (Jlt64Imm, Jlt64Reg),
        (BPF_JLE, true) => (Jle64Imm, Jle64Reg),
        (BPF_JSLT, true) => (Jslt64Imm, Jslt64Reg),
        (BPF_JSLE, true) => (Jsle64Imm, Jsle64Reg),
        (BPF_JEQ, false) => (Jeq32Imm, Jeq32Reg),
        (BPF_JGT, false) => (Jgt32Imm, Jgt32Reg),
        (BPF_JGE, false) => (Jge32Imm, Jge32Reg),
        (BPF_JSET, false) => (Jset32Imm, Jset32Reg),
        (BPF_JNE, false) => (Jne32Imm, Jne32Reg),
        (BPF_JSGT, false) => (Jsgt32Imm, Jsgt32Reg),
        (BPF_JSGE, false) => (Jsge32Imm, Jsge32Reg),
        (BPF_JLT, false) => (Jlt32Imm, Jlt32Reg),
        (BPF_JLE, false) => (Jle32Imm, Jle32Reg),
        (BPF_JSLT, false) => (Jslt32Imm, Jslt32Reg),
        (BPF_JSLE, false) => (Jsle32Imm, Jsle32Reg),
        _ => return None,
    })
}

fn decode_jump(insn: Insn, pc: usize, opts: &LoadOptions<'_>) -> Result<Slot, LoadError> {
    let wide = insn.class() == BPF_JMP;
    let by_reg = source(insn.opcode) == BPF_X;
    let slot = |op, dst, src, off: i32, imm: u64| {
        Ok(Slot {
            op,
            dst,
            src,
            off,
            imm,
        })
    };
    match operation(insn.opcode) {
        BPF_JA => {
            if by_reg {
                return Err(unknown(pc, insn.opcode));
            }
            zero(pc, "dst", insn.dst.into())?;
            zero(pc, "src", insn.src.into())?;
            let rel = if wide {
                zero(pc, "imm", insn.imm.into())?;
                i32::from(insn.off)
            } else {
                // JMP32 | JA is `gotol`: the 32-bit immediate is the offset.
                zero(pc, "off", insn.off.into())?;
                insn.imm
            };
            slot(Op::Ja, 0, 0, rel, 0)
        }
        BPF_CALL if wide => {
            zero(pc, "off", insn.off.into())?;
            if by_reg {
                // `callx dst`, as LLVM encodes it: the target register in dst.
                zero(pc, "src", insn.src.into())?;
                zero(pc, "imm", insn.imm.into())?;
                return slot(Op::CallReg, reg(pc, insn.dst)?, 0, 0, 0);
            }
            zero(pc, "dst", insn.dst.into())?;
            match insn.src {
                BPF_PSEUDO_HELPER => {
                    let known =
                        insn.imm >= 0 && opts.helpers.is_some_and(|h| h.supports(insn.imm as u32));
                    if !known {
                        // A kfunc, lowered to a helper-table id (a helper
                        // call naming one is refused before).
                        let kfunc = (insn.imm as u32 >= ids::KFUNC_BASE)
                            .then(|| proto::proto_of(insn.imm as u32))
                            .flatten();
                        if let Some(p) = kfunc {
                            return Err(LoadError::KfuncNotAllowed { pc, name: p.name });
                        }
                        return Err(LoadError::UnknownHelper { pc, id: insn.imm });
                    }
                    slot(Op::CallHelper, 0, 0, 0, insn.imm as u32 as u64)
                }
                BPF_PSEUDO_CALL => slot(Op::CallLocal, 0, 0, insn.imm, 0),
                BPF_PSEUDO_KFUNC_CALL => Err(LoadError::Unsupported {
                    pc,
                    what: "kfunc calls",
                }),
                _ => Err(LoadError::ReservedField { pc, field: "src" }),
            }
        }
        BPF_EXIT if wide => {
            if by_reg {
                return Err(unknown(pc, insn.opcode));
            }
            zero(pc, "dst", insn.dst.into())?;
            zero(pc, "src", insn.src.into())?;
            zero(pc, "off", insn.off.into())?;
            zero(pc, "imm", insn.imm.into())?;
            slot(Op::Exit, 0, 0, 0, 0)
        }
        op => {
            let (imm_op, reg_op) = cond_pair(op, wide).ok_or_else(|| unknown(pc, insn.opcode))?;
            let dst = reg(pc, insn.dst)?;
            let imm = if wide {
                insn.imm as i64 as u64
            } else {
                insn.imm as u32 as u64
            };
            if by_reg {
                zero(pc, "imm", insn.imm.into())?;
                slot(reg_op, dst, reg(pc, insn.src)?, insn.off.into(), 0)
            } else {
                zero(pc, "src", insn.src.into())?;
                slot(imm_op, dst, 0, insn.off.into(), imm)
            }
        }
    }
}

/// Turns relative jump and call offsets into absolute targets, checks that
/// each lands on an instruction (not the second slot of an `LD_IMM64`), and
/// that the last instruction cannot fall through. Collects function entries.
fn check_targets(
    insns: &[Insn],
    code: &mut [Slot],
    functions: &mut Vec<u32>,
) -> Result<(), LoadError> {
    let len = code.len();
    let resolve = |pc: usize, rel: i64| -> Result<usize, LoadError> {
        let target = pc as i64 + rel + 1;
        if target < 0 || target >= len as i64 {
            return Err(LoadError::JumpOutOfRange { pc, target });
        }
        let target = target as usize;
        // Second slots of LD_IMM64 are exactly the slots after opcode 0x18:
        // a second slot's own opcode must be zero.
        if target > 0 && insns[target - 1].is_lddw() {
            return Err(LoadError::JumpIntoLddw { pc, target });
        }
        Ok(target)
    };
    for pc in 0..len {
        let slot = code[pc];
        let is_jump = is_jump(slot.op);
        let func_ref = slot.op == Op::CallLocal
            || (slot.op == Op::LdImm64 && insns[pc].src == BPF_PSEUDO_FUNC);
        if is_jump {
            let target = resolve(pc, slot.off.into())?;
            code[pc].off = target as i32;
        } else if func_ref {
            let rel = if slot.op == Op::CallLocal {
                i64::from(slot.off)
            } else {
                slot.imm as i64
            };
            let target = resolve(pc, rel)?;
            if slot.op == Op::CallLocal {
                code[pc].off = target as i32;
            } else {
                code[pc].imm = FUNC_ADDR_TAG | target as u64;
            }
            if let Err(at) = functions.binary_search(&(target as u32)) {
                functions
                    .try_reserve(1)
                    .map_err(|_| LoadError::OutOfMemory)?;
                functions.insert(at, target as u32);
            }
        }
    }
    // The last slot must not fall through: for an LD_IMM64 pair the first
    // slot is what executes, and it falls through.
    let last = len - 1;
    let last_exec = if code[last].op == Op::LddwHigh {
        last - 1
    } else {
        last
    };
    if !matches!(code[last_exec].op, Op::Exit | Op::Ja) {
        return Err(LoadError::FallsOffEnd { pc: last_exec });
    }
    Ok(())
}

fn is_jump(op: Op) -> bool {
    (op as u8) >= (Op::Ja as u8) && (op as u8) <= (Op::Jsle32Reg as u8)
}
