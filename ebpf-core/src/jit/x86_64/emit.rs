//! An x86-64 instruction encoder: just the forms the JIT emits, each a
//! method named after its assembly, writing into a fallibly grown buffer.
//!
//! Registers are their hardware numbers (`RAX` = 0 ... `R15` = 15).
//! Memory operands are `[base + disp]`; the encoder picks the short
//! displacement and adds the SIB byte `rsp`/`r12` bases need.

use alloc::vec::Vec;

/// A hardware register number.
pub(crate) type Reg = u8;

pub(crate) const RAX: Reg = 0;
pub(crate) const RCX: Reg = 1;
pub(crate) const RDX: Reg = 2;
pub(crate) const RBX: Reg = 3;
pub(crate) const RSP: Reg = 4;
pub(crate) const RBP: Reg = 5;
pub(crate) const RSI: Reg = 6;
pub(crate) const RDI: Reg = 7;
pub(crate) const R8: Reg = 8;
pub(crate) const R9: Reg = 9;
pub(crate) const R10: Reg = 10;
pub(crate) const R11: Reg = 11;
pub(crate) const R12: Reg = 12;
pub(crate) const R13: Reg = 13;
pub(crate) const R14: Reg = 14;
pub(crate) const R15: Reg = 15;

/// Operand width of an integer instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Width {
    B8,
    B16,
    B32,
    B64,
}

/// The group-1 arithmetic operations (`add`, `or`, ... `cmp`), by their
/// `/digit` in the immediate forms.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Alu {
    Add = 0,
    Or = 1,
    And = 4,
    Sub = 5,
    Xor = 6,
    Cmp = 7,
}

impl Alu {
    /// The `op r/m, r` opcode of the register form.
    fn reg_opcode(self) -> u8 {
        (self as u8) << 3 | 0x01
    }
}

/// The group-2 shifts, by their `/digit`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shift {
    Ror = 1,
    Shl = 4,
    Shr = 5,
    Sar = 7,
}

/// Condition codes, as the low nibble of `jcc`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Cond {
    Below = 0x2,
    AboveEqual = 0x3,
    Equal = 0x4,
    NotEqual = 0x5,
    BelowEqual = 0x6,
    Above = 0x7,
    Less = 0xc,
    GreaterEqual = 0xd,
    LessEqual = 0xe,
    Greater = 0xf,
}

/// The buffer ran out of memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfMemory;

/// Machine code being written.
pub(crate) struct Emitter {
    code: Vec<u8>,
    failed: bool,
}

impl Emitter {
    pub(crate) fn new() -> Self {
        Emitter {
            code: Vec::new(),
            failed: false,
        }
    }

    /// The current offset.
    pub(crate) fn pos(&self) -> usize {
        self.code.len()
    }

    /// The code, or the allocation failure that cut it short.
    pub(crate) fn finish(self) -> Result<Vec<u8>, OutOfMemory> {
        if self.failed {
            Err(OutOfMemory)
        } else {
            Ok(self.code)
        }
    }

    fn bytes(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        if self.code.capacity() - self.code.len() < bytes.len() {
            let want = (self.code.len() + bytes.len())
                .max(2 * self.code.capacity())
                .max(256);
            if self.code.try_reserve_exact(want - self.code.len()).is_err() {
                self.failed = true;
                return;
            }
        }
        self.code.extend_from_slice(bytes);
    }

    fn byte(&mut self, b: u8) {
        self.bytes(&[b]);
    }

    fn imm32(&mut self, v: i32) {
        self.bytes(&v.to_le_bytes());
    }

    /// Overwrites the 32-bit little-endian value at `at`.
    pub(crate) fn patch32(&mut self, at: usize, v: i32) {
        if let Some(slot) = self.code.get_mut(at..at + 4) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
    }

    /// The REX prefix for `reg` (ModRM.reg) and `rm` (ModRM.rm or the
    /// opcode's register), when one is needed. Byte operations on
    /// `spl`/`bpl`/`sil`/`dil` need one even when it is empty.
    fn rex(&mut self, w: Width, reg: Reg, rm: Reg) {
        let byte_regs = w == Width::B8 && (reg & 0xc == 4 || rm & 0xc == 4);
        let rex = 0x40 | u8::from(w == Width::B64) << 3 | (reg >> 3 & 1) << 2 | (rm >> 3 & 1);
        if rex != 0x40 || byte_regs {
            self.byte(rex);
        }
    }

    /// The operand-size prefix of 16-bit operations.
    fn size_prefix(&mut self, w: Width) {
        if w == Width::B16 {
            self.byte(0x66);
        }
    }

    fn modrm_reg(&mut self, reg: Reg, rm: Reg) {
        self.byte(0xc0 | (reg & 7) << 3 | (rm & 7));
    }

    /// ModRM (and SIB, displacement) for `[base + disp]`.
    fn modrm_mem(&mut self, reg: Reg, base: Reg, disp: i32) {
        let (mode, short) = if disp == 0 && base & 7 != 5 {
            (0x00, None)
        } else if let Ok(d) = i8::try_from(disp) {
            (0x40, Some(d))
        } else {
            (0x80, None)
        };
        self.byte(mode | (reg & 7) << 3 | (base & 7));
        if base & 7 == 4 {
            self.byte(0x24);
        }
        match (mode, short) {
            (0x40, Some(d)) => self.byte(d as u8),
            (0x80, _) => self.imm32(disp),
            _ => {}
        }
    }

    /// `op r/m, r` with the register form's opcode bytes `op`.
    fn rr(&mut self, w: Width, op: &[u8], reg: Reg, rm: Reg) {
        self.size_prefix(w);
        self.rex(w, reg, rm);
        self.bytes(op);
        self.modrm_reg(reg, rm);
    }

    /// `op reg, [base + disp]` (or the reverse, as `op` says).
    fn rm(&mut self, w: Width, op: &[u8], reg: Reg, base: Reg, disp: i32) {
        self.size_prefix(w);
        self.rex(w, reg, base);
        self.bytes(op);
        self.modrm_mem(reg, base, disp);
    }

    // Moves.

    /// `mov dst, src`.
    pub(crate) fn mov(&mut self, w: Width, dst: Reg, src: Reg) {
        self.rr(w, &[0x89], src, dst);
    }

    /// `dst = imm`, 64 bits, with the shortest encoding.
    pub(crate) fn mov_imm64(&mut self, dst: Reg, imm: u64) {
        if imm == 0 {
            self.alu(Width::B32, Alu::Xor, dst, dst);
        } else if let Ok(v) = u32::try_from(imm) {
            self.mov_imm32(dst, v);
        } else if let Ok(v) = i32::try_from(imm as i64) {
            self.rex(Width::B64, 0, dst);
            self.byte(0xc7);
            self.modrm_reg(0, dst);
            self.imm32(v);
        } else {
            self.rex(Width::B64, 0, dst);
            self.byte(0xb8 | (dst & 7));
            self.bytes(&imm.to_le_bytes());
        }
    }

    /// `mov dst32, imm` (zero-extends).
    pub(crate) fn mov_imm32(&mut self, dst: Reg, imm: u32) {
        self.rex(Width::B32, 0, dst);
        self.byte(0xb8 | (dst & 7));
        self.imm32(imm as i32);
    }

    /// `dst = [base + disp]`, zero-extended from 8/16 bits.
    pub(crate) fn load(&mut self, w: Width, dst: Reg, base: Reg, disp: i32) {
        match w {
            Width::B8 => self.rm(Width::B32, &[0x0f, 0xb6], dst, base, disp),
            Width::B16 => self.rm(Width::B32, &[0x0f, 0xb7], dst, base, disp),
            Width::B32 | Width::B64 => self.rm(w, &[0x8b], dst, base, disp),
        }
    }

    /// `dst = [base + disp]`, sign-extended to 64 bits.
    pub(crate) fn load_signed(&mut self, w: Width, dst: Reg, base: Reg, disp: i32) {
        match w {
            Width::B8 => self.rm(Width::B64, &[0x0f, 0xbe], dst, base, disp),
            Width::B16 => self.rm(Width::B64, &[0x0f, 0xbf], dst, base, disp),
            Width::B32 => self.rm(Width::B64, &[0x63], dst, base, disp),
            Width::B64 => self.rm(w, &[0x8b], dst, base, disp),
        }
    }

    /// `[base + disp] = src`.
    pub(crate) fn store(&mut self, w: Width, base: Reg, disp: i32, src: Reg) {
        let op: &[u8] = if w == Width::B8 { &[0x88] } else { &[0x89] };
        self.rm(w, op, src, base, disp);
    }

    /// `[base + disp] = imm` (sign-extended from 32 bits for 64-bit stores).
    pub(crate) fn store_imm(&mut self, w: Width, base: Reg, disp: i32, imm: i32) {
        let op: &[u8] = if w == Width::B8 { &[0xc6] } else { &[0xc7] };
        self.rm(w, op, 0, base, disp);
        match w {
            Width::B8 => self.byte(imm as u8),
            Width::B16 => self.bytes(&(imm as u16).to_le_bytes()),
            Width::B32 | Width::B64 => self.imm32(imm),
        }
    }

    /// `movsx dst, src` from the low `from` bits (8, 16 or 32) into a
    /// `to`-bit register (32 or 64).
    pub(crate) fn movsx(&mut self, to: Width, from: Width, dst: Reg, src: Reg) {
        match from {
            Width::B8 => {
                // The REX needed for sil/dil comes from the byte source.
                let needs = src & 0xc == 4;
                let w = if to == Width::B64 {
                    Width::B64
                } else {
                    Width::B32
                };
                let rex =
                    0x40 | u8::from(w == Width::B64) << 3 | (dst >> 3 & 1) << 2 | (src >> 3 & 1);
                if rex != 0x40 || needs {
                    self.byte(rex);
                }
                self.bytes(&[0x0f, 0xbe]);
                self.modrm_reg(dst, src);
            }
            Width::B16 => self.rr(to, &[0x0f, 0xbf], dst, src),
            _ => self.rr(Width::B64, &[0x63], dst, src),
        }
    }

    /// `movzx dst32, src16`.
    pub(crate) fn movzx16(&mut self, dst: Reg, src: Reg) {
        self.rr(Width::B32, &[0x0f, 0xb7], dst, src);
    }

    // Arithmetic.

    /// `op dst, src`.
    pub(crate) fn alu(&mut self, w: Width, op: Alu, dst: Reg, src: Reg) {
        self.rr(w, &[op.reg_opcode()], src, dst);
    }

    /// `op dst, imm` (the immediate sign-extended for 64-bit operations).
    pub(crate) fn alu_imm(&mut self, w: Width, op: Alu, dst: Reg, imm: i32) {
        self.rex(w, 0, dst);
        if let Ok(short) = i8::try_from(imm) {
            self.byte(0x83);
            self.modrm_reg(op as u8, dst);
            self.byte(short as u8);
        } else {
            self.byte(0x81);
            self.modrm_reg(op as u8, dst);
            self.imm32(imm);
        }
    }

    /// `op [base + disp], src` with a `lock` prefix (add, or, and, xor).
    pub(crate) fn lock_alu_mem(&mut self, w: Width, op: Alu, base: Reg, disp: i32, src: Reg) {
        self.byte(0xf0);
        self.rm(w, &[op.reg_opcode()], src, base, disp);
    }

    /// `test a, b`.
    pub(crate) fn test(&mut self, w: Width, a: Reg, b: Reg) {
        self.rr(w, &[0x85], b, a);
    }

    /// `test dst, imm`.
    pub(crate) fn test_imm(&mut self, w: Width, dst: Reg, imm: i32) {
        self.rex(w, 0, dst);
        self.byte(0xf7);
        self.modrm_reg(0, dst);
        self.imm32(imm);
    }

    /// `cmp [base + disp], imm8` (64 bits).
    pub(crate) fn cmp_mem_imm8(&mut self, base: Reg, disp: i32, imm: i8) {
        self.rm(Width::B64, &[0x83], Alu::Cmp as u8, base, disp);
        self.byte(imm as u8);
    }

    /// `cmp reg, [base + disp]` (64 bits).
    pub(crate) fn cmp_reg_mem(&mut self, reg: Reg, base: Reg, disp: i32) {
        self.rm(Width::B64, &[0x3b], reg, base, disp);
    }

    /// `imul dst, src`.
    pub(crate) fn imul(&mut self, w: Width, dst: Reg, src: Reg) {
        self.rr(w, &[0x0f, 0xaf], dst, src);
    }

    /// `imul dst, dst, imm`.
    pub(crate) fn imul_imm(&mut self, w: Width, dst: Reg, imm: i32) {
        self.rr(w, &[0x69], dst, dst);
        self.imm32(imm);
    }

    /// `neg dst`.
    pub(crate) fn neg(&mut self, w: Width, dst: Reg) {
        self.rr(w, &[0xf7], 3, dst);
    }

    /// `div src` (unsigned) or `idiv src` (signed) of `rdx:rax`.
    pub(crate) fn div(&mut self, w: Width, signed: bool, src: Reg) {
        self.rr(w, &[0xf7], if signed { 7 } else { 6 }, src);
    }

    /// `cdq`/`cqo`: sign-extends `rax` into `rdx`.
    pub(crate) fn sign_extend_rax(&mut self, w: Width) {
        if w == Width::B64 {
            self.byte(0x48);
        }
        self.byte(0x99);
    }

    /// `shift dst, imm`.
    pub(crate) fn shift_imm(&mut self, w: Width, op: Shift, dst: Reg, imm: u8) {
        self.rr(w, &[0xc1], op as u8, dst);
        self.byte(imm);
    }

    /// `shift dst, cl`.
    pub(crate) fn shift_cl(&mut self, w: Width, op: Shift, dst: Reg) {
        self.rr(w, &[0xd3], op as u8, dst);
    }

    /// `bswap dst` (32 or 64 bits).
    pub(crate) fn bswap(&mut self, w: Width, dst: Reg) {
        self.rex(w, 0, dst);
        self.bytes(&[0x0f, 0xc8 | (dst & 7)]);
    }

    // Atomics.

    /// `lock xadd [base + disp], src`.
    pub(crate) fn lock_xadd(&mut self, w: Width, base: Reg, disp: i32, src: Reg) {
        self.byte(0xf0);
        self.rm(w, &[0x0f, 0xc1], src, base, disp);
    }

    /// `xchg [base + disp], src` (locked by definition).
    pub(crate) fn xchg_mem(&mut self, w: Width, base: Reg, disp: i32, src: Reg) {
        self.rm(w, &[0x87], src, base, disp);
    }

    /// `lock cmpxchg [base + disp], src` (compares with `rax`).
    pub(crate) fn lock_cmpxchg(&mut self, w: Width, base: Reg, disp: i32, src: Reg) {
        self.byte(0xf0);
        self.rm(w, &[0x0f, 0xb1], src, base, disp);
    }

    // Control flow.

    /// `jmp rel32`; returns where the displacement is, for [`patch32`].
    pub(crate) fn jmp(&mut self) -> usize {
        self.byte(0xe9);
        self.imm32(0);
        self.pos() - 4
    }

    /// `jcc rel32`; returns where the displacement is.
    pub(crate) fn jcc(&mut self, cond: Cond) -> usize {
        self.bytes(&[0x0f, 0x80 | cond as u8]);
        self.imm32(0);
        self.pos() - 4
    }

    /// `call rel32`; returns where the displacement is.
    pub(crate) fn call_rel(&mut self) -> usize {
        self.byte(0xe8);
        self.imm32(0);
        self.pos() - 4
    }

    /// `call reg`.
    pub(crate) fn call_reg(&mut self, target: Reg) {
        self.rex(Width::B32, 0, target);
        self.byte(0xff);
        self.modrm_reg(2, target);
    }

    /// `ret`.
    pub(crate) fn ret(&mut self) {
        self.byte(0xc3);
    }

    /// `push reg`.
    pub(crate) fn push(&mut self, reg: Reg) {
        self.rex(Width::B32, 0, reg);
        self.byte(0x50 | (reg & 7));
    }

    /// `pop reg`.
    pub(crate) fn pop(&mut self, reg: Reg) {
        self.rex(Width::B32, 0, reg);
        self.byte(0x58 | (reg & 7));
    }

    /// `lea dst, [base + disp]`.
    pub(crate) fn lea(&mut self, dst: Reg, base: Reg, disp: i32) {
        self.rm(Width::B64, &[0x8d], dst, base, disp);
    }

    /// `mov dword [base + disp], imm` for the run record's fields.
    pub(crate) fn store_imm32(&mut self, base: Reg, disp: i32, imm: u32) {
        self.store_imm(Width::B32, base, disp, imm as i32);
    }

    /// Makes the jump whose displacement is at `at` land at `target`.
    pub(crate) fn bind(&mut self, at: usize, target: usize) {
        let rel = target as i64 - (at as i64 + 4);
        self.patch32(at, rel as i32);
    }
}
