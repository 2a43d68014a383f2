//! What the verifier knows about a number: its bits ([`Tnum`]) and its
//! bounds as unsigned and signed 64-bit and 32-bit (lower half) values,
//! kept consistent with each other as Linux's verifier keeps them
//! (`reg_bounds_sync`). ALU operations and conditional jumps transform and
//! narrow them.

use core::fmt;

use super::tnum::Tnum;
use crate::opcode::*;

/// Bounds of a number, as far as the verifier knows them, and which other
/// registers and stack slots hold the very same number.
#[derive(Clone, Copy)]
pub struct Scalar {
    /// Registers and spilled slots with the same nonzero id hold the same
    /// number (one was copied from the other and neither changed since):
    /// a comparison that narrows one narrows them all (Linux's
    /// `sync_linked_regs`). Not part of equality: states that differ only
    /// in which numbers are linked describe the same values.
    pub id: u32,
    /// Known bits.
    pub var: Tnum,
    /// Unsigned 64-bit bounds.
    pub umin: u64,
    /// See `umin`.
    pub umax: u64,
    /// Signed 64-bit bounds.
    pub smin: i64,
    /// See `smin`.
    pub smax: i64,
    /// Unsigned bounds of the low 32 bits.
    pub u32min: u32,
    /// See `u32min`.
    pub u32max: u32,
    /// Signed bounds of the low 32 bits.
    pub s32min: i32,
    /// See `s32min`.
    pub s32max: i32,
}

const SIGN: u64 = 1 << 63;

impl PartialEq for Scalar {
    fn eq(&self, o: &Scalar) -> bool {
        self.numbers() == o.numbers()
    }
}

impl Eq for Scalar {}

impl core::hash::Hash for Scalar {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        self.numbers().hash(h)
    }
}

impl Scalar {
    /// Everything but the id.
    #[allow(clippy::type_complexity)]
    fn numbers(&self) -> (Tnum, u64, u64, i64, i64, u32, u32, i32, i32) {
        (
            self.var,
            self.umin,
            self.umax,
            self.smin,
            self.smax,
            self.u32min,
            self.u32max,
            self.s32min,
            self.s32max,
        )
    }

    /// Any value.
    pub const UNKNOWN: Scalar = Scalar {
        id: 0,
        var: Tnum::UNKNOWN,
        umin: 0,
        umax: u64::MAX,
        smin: i64::MIN,
        smax: i64::MAX,
        u32min: 0,
        u32max: u32::MAX,
        s32min: i32::MIN,
        s32max: i32::MAX,
    };

    /// Exactly `v`.
    pub fn known(v: u64) -> Scalar {
        Scalar {
            id: 0,
            var: Tnum::known(v),
            umin: v,
            umax: v,
            smin: v as i64,
            smax: v as i64,
            u32min: v as u32,
            u32max: v as u32,
            s32min: v as i32,
            s32max: v as i32,
        }
    }

    /// Any value in `min..=max` (unsigned).
    pub fn unsigned(min: u64, max: u64) -> Scalar {
        Scalar {
            umin: min,
            umax: max,
            ..Scalar::UNKNOWN
        }
        .synced()
    }

    /// Any value of the low 32 bits, zero-extended.
    pub fn zero_extended_u32() -> Scalar {
        Scalar::unsigned(0, u32::MAX as u64)
    }

    /// The value, if known.
    pub fn value(&self) -> Option<u64> {
        self.var.is_known().then_some(self.var.value)
    }

    /// The low 32 bits, if known.
    pub fn value32(&self) -> Option<u32> {
        self.var.low32().is_known().then_some(self.var.value as u32)
    }

    /// Whether every value of `other` is a value of `self`.
    pub fn contains(&self, other: &Scalar) -> bool {
        self.umin <= other.umin
            && other.umax <= self.umax
            && self.smin <= other.smin
            && other.smax <= self.smax
            && self.u32min <= other.u32min
            && other.u32max <= self.u32max
            && self.s32min <= other.s32min
            && other.s32max <= self.s32max
            && self.var.contains(other.var)
    }

    /// Makes every view agree with the others; `false` if they describe no
    /// value at all (a branch that cannot be taken).
    pub fn sync(&mut self) -> bool {
        for _ in 0..3 {
            // Bits to bounds.
            self.umin = self.umin.max(self.var.min());
            self.umax = self.umax.min(self.var.max());
            let (lo_min, lo_max) = if self.var.mask & SIGN != 0 {
                (
                    (self.var.value | SIGN) as i64,
                    (self.var.max() & !SIGN) as i64,
                )
            } else {
                (self.var.value as i64, self.var.max() as i64)
            };
            self.smin = self.smin.max(lo_min);
            self.smax = self.smax.min(lo_max);
            let low = self.var.low32();
            self.u32min = self.u32min.max(low.min() as u32);
            self.u32max = self.u32max.min(low.max() as u32);
            let (s_lo, s_hi) = if low.mask & (1 << 31) != 0 {
                (
                    (low.value as u32 | 1 << 31) as i32,
                    (low.max() as u32 & !(1 << 31)) as i32,
                )
            } else {
                (low.value as u32 as i32, low.max() as u32 as i32)
            };
            self.s32min = self.s32min.max(s_lo);
            self.s32max = self.s32max.min(s_hi);
            // 64-bit bounds to the low half.
            if self.umin >> 32 == self.umax >> 32 {
                self.u32min = self.u32min.max(self.umin as u32);
                self.u32max = self.u32max.min(self.umax as u32);
            }
            if self.smin >> 32 == self.smax >> 32 {
                self.u32min = self.u32min.max(self.smin as u32);
                self.u32max = self.u32max.min(self.smax as u32);
            }
            // Signed and unsigned views of the low half.
            if (self.u32min as i32) <= (self.u32max as i32) {
                self.s32min = self.s32min.max(self.u32min as i32);
                self.s32max = self.s32max.min(self.u32max as i32);
            }
            if (self.s32min as u32) <= (self.s32max as u32) {
                self.u32min = self.u32min.max(self.s32min as u32);
                self.u32max = self.u32max.min(self.s32max as u32);
            }
            // The low half back to 64 bits, when the high half is known.
            if self.var.mask >> 32 == 0 {
                let high = self.var.value & !0xffff_ffff;
                self.umin = self.umin.max(high | self.u32min as u64);
                self.umax = self.umax.min(high | self.u32max as u64);
            }
            // Signed and unsigned views of 64 bits.
            if (self.umin as i64) <= (self.umax as i64) {
                self.smin = self.smin.max(self.umin as i64);
                self.smax = self.smax.min(self.umax as i64);
            }
            if (self.smin as u64) <= (self.smax as u64) {
                self.umin = self.umin.max(self.smin as u64);
                self.umax = self.umax.min(self.smax as u64);
            }
            if self.umin > self.umax
                || self.smin > self.smax
                || self.u32min > self.u32max
                || self.s32min > self.s32max
            {
                return false;
            }
            // Bounds to bits.
            self.var = self.var.intersect(Tnum::range(self.umin, self.umax));
            let low = self
                .var
                .low32()
                .intersect(Tnum::range(self.u32min as u64, self.u32max as u64));
            self.var = self.var.with_low32(low);
        }
        true
    }

    /// [`sync`](Self::sync)ed, or any value if the views disagree (they
    /// never should after an operation: a safe fallback).
    pub fn synced(mut self) -> Scalar {
        if self.sync() {
            self
        } else {
            Scalar::UNKNOWN
        }
    }

    /// The low 32 bits as a 64-bit number, zero-extended.
    fn low_zext(&self) -> Scalar {
        Scalar {
            var: self.var.low32(),
            umin: self.u32min as u64,
            umax: self.u32max as u64,
            ..Scalar::zero_extended_u32()
        }
        .synced()
    }

    /// The low 32 bits as a 64-bit number, sign-extended.
    fn low_sext(&self) -> Scalar {
        let low = self.var.low32();
        let var = if low.mask & (1 << 31) != 0 {
            Tnum {
                value: low.value,
                mask: low.mask | !0xffff_ffff,
            }
        } else {
            Tnum {
                value: low.value as u32 as i32 as i64 as u64,
                mask: low.mask,
            }
        };
        Scalar {
            var,
            smin: self.s32min as i64,
            smax: self.s32max as i64,
            ..Scalar::UNKNOWN
        }
        .synced()
    }

    /// The low 32 bits of `self`, zero-extended: what a 32-bit operation
    /// leaves in its destination.
    pub fn truncated32(&self) -> Scalar {
        let mut r = Scalar {
            var: self.var.low32(),
            ..Scalar::zero_extended_u32()
        };
        if self.umin >> 32 == self.umax >> 32 {
            r.umin = self.umin & 0xffff_ffff;
            r.umax = self.umax & 0xffff_ffff;
        }
        r.synced()
    }

    /// The low `bytes` bytes of `self`, zero-extended: what a narrow load
    /// of a spilled number reads back (Linux's `coerce_reg_to_size`).
    pub fn truncated(&self, bytes: u32) -> Scalar {
        if bytes >= 8 {
            return *self;
        }
        if bytes == 4 {
            return self.truncated32();
        }
        let bits = bytes * 8;
        let mask = (1u64 << bits) - 1;
        let mut r = Scalar {
            var: self.var.truncate(bytes),
            ..Scalar::unsigned(0, mask)
        };
        if self.umin >> bits == self.umax >> bits {
            r.umin = self.umin & mask;
            r.umax = self.umax & mask;
        }
        r.synced()
    }

    /// Sign-extends the low `bits` bits (MOVSX).
    pub fn sign_extended(&self, bits: u32) -> Scalar {
        if let Some(v) = self.value() {
            return Scalar::known(sext(v, bits));
        }
        let half = 1i64 << (bits - 1);
        Scalar {
            smin: -half,
            smax: half - 1,
            ..Scalar::UNKNOWN
        }
        .synced()
    }
}

fn sext(v: u64, bits: u32) -> u64 {
    let shift = 64 - bits;
    (((v << shift) as i64) >> shift) as u64
}

/// An ALU operation as the verifier sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AluOp {
    /// `BPF_ADD`...`BPF_ARSH` (not MOV, NEG or END).
    pub op: u8,
    /// 64-bit (`BPF_ALU64`) rather than 32-bit.
    pub wide: bool,
    /// Signed division or modulo (`off` = 1).
    pub signed: bool,
}

/// The result of `op` on known operands, as the interpreter computes it
/// (RFC 9669: division by zero gives 0, modulo by zero keeps the dividend,
/// shift amounts are masked).
pub fn concrete(op: AluOp, a: u64, b: u64) -> u64 {
    if op.wide {
        match op.op {
            BPF_ADD => a.wrapping_add(b),
            BPF_SUB => a.wrapping_sub(b),
            BPF_MUL => a.wrapping_mul(b),
            BPF_DIV if op.signed => match b as i64 {
                0 => 0,
                d => (a as i64).wrapping_div(d) as u64,
            },
            BPF_DIV => a.checked_div(b).unwrap_or(0),
            BPF_MOD if op.signed => match b as i64 {
                0 => a,
                d => (a as i64).wrapping_rem(d) as u64,
            },
            BPF_MOD => a.checked_rem(b).unwrap_or(a),
            BPF_OR => a | b,
            BPF_AND => a & b,
            BPF_XOR => a ^ b,
            BPF_LSH => a.wrapping_shl(b as u32 & 63),
            BPF_RSH => a.wrapping_shr(b as u32 & 63),
            BPF_ARSH => ((a as i64).wrapping_shr(b as u32 & 63)) as u64,
            _ => 0,
        }
    } else {
        let (x, y) = (a as u32, b as u32);
        (match op.op {
            BPF_ADD => x.wrapping_add(y),
            BPF_SUB => x.wrapping_sub(y),
            BPF_MUL => x.wrapping_mul(y),
            BPF_DIV if op.signed => match y as i32 {
                0 => 0,
                d => (x as i32).wrapping_div(d) as u32,
            },
            BPF_DIV => x.checked_div(y).unwrap_or(0),
            BPF_MOD if op.signed => match y as i32 {
                0 => x,
                d => (x as i32).wrapping_rem(d) as u32,
            },
            BPF_MOD => x.checked_rem(y).unwrap_or(x),
            BPF_OR => x | y,
            BPF_AND => x & y,
            BPF_XOR => x ^ y,
            BPF_LSH => x.wrapping_shl(y & 31),
            BPF_RSH => x.wrapping_shr(y & 31),
            BPF_ARSH => ((x as i32).wrapping_shr(y & 31)) as u32,
            _ => 0,
        }) as u64
    }
}

/// What `a op b` may be: a new number, linked to none.
pub fn alu(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
    let mut r = alu_bounds(op, a, b);
    r.id = 0;
    r
}

fn alu_bounds(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
    if let (Some(x), Some(y)) = (a.value(), b.value()) {
        return Scalar::known(concrete(op, x, y));
    }
    if !op.wide {
        if let (Some(x), Some(y)) = (a.value32(), b.value32()) {
            return Scalar::known(concrete(op, x as u64, y as u64));
        }
        let (a64, b64) = if op.op == BPF_ARSH {
            (a.low_sext(), b.low_zext())
        } else {
            (a.low_zext(), b.low_zext())
        };
        if op.signed || (matches!(op.op, BPF_LSH | BPF_RSH | BPF_ARSH) && b64.umax >= 32) {
            return Scalar::zero_extended_u32();
        }
        return alu64(op, &a64, &b64).truncated32();
    }
    if op.signed || (matches!(op.op, BPF_LSH | BPF_RSH | BPF_ARSH) && b.umax >= 64) {
        return Scalar::UNKNOWN;
    }
    alu64(op, a, b)
}

fn alu64(op: AluOp, a: &Scalar, b: &Scalar) -> Scalar {
    let full = Scalar::UNKNOWN;
    let mut r = full;
    match op.op {
        BPF_ADD => {
            r.var = a.var + b.var;
            if let (Some(lo), Some(hi)) = (a.smin.checked_add(b.smin), a.smax.checked_add(b.smax)) {
                (r.smin, r.smax) = (lo, hi);
            }
            if let (Some(lo), Some(hi)) = (a.umin.checked_add(b.umin), a.umax.checked_add(b.umax)) {
                (r.umin, r.umax) = (lo, hi);
            }
        }
        BPF_SUB => {
            r.var = a.var - b.var;
            if let (Some(lo), Some(hi)) = (a.smin.checked_sub(b.smax), a.smax.checked_sub(b.smin)) {
                (r.smin, r.smax) = (lo, hi);
            }
            if a.umin >= b.umax {
                (r.umin, r.umax) = (a.umin - b.umax, a.umax - b.umin);
            }
        }
        BPF_MUL => {
            r.var = a.var * b.var;
            if let Some(hi) = a.umax.checked_mul(b.umax) {
                (r.umin, r.umax) = (a.umin * b.umin, hi);
            }
            if a.smin >= 0 && b.smin >= 0 {
                if let Some(hi) = a.smax.checked_mul(b.smax) {
                    (r.smin, r.smax) = (a.smin * b.smin, hi);
                }
            }
        }
        BPF_AND => {
            r.var = a.var & b.var;
            (r.umin, r.umax) = (r.var.min(), a.umax.min(b.umax));
        }
        BPF_OR => {
            r.var = a.var | b.var;
            (r.umin, r.umax) = (a.umin.max(b.umin), r.var.max());
        }
        BPF_XOR => {
            r.var = a.var ^ b.var;
        }
        BPF_LSH | BPF_RSH | BPF_ARSH => {
            let Some(s) = b.value() else {
                if op.op == BPF_RSH {
                    // A variable amount below 64: between the extremes.
                    r.umin = a.umin >> b.umax;
                    r.umax = a.umax >> b.umin;
                }
                return r.synced();
            };
            let s = s as u32;
            match op.op {
                BPF_LSH => {
                    r.var = a.var << s;
                    if s == 0 || a.umax >> (64 - s) == 0 {
                        (r.umin, r.umax) = (a.umin << s, a.umax << s);
                    }
                }
                BPF_RSH => {
                    r.var = a.var >> s;
                    (r.umin, r.umax) = (a.umin >> s, a.umax >> s);
                }
                _ => {
                    r.var = a.var.sar(s);
                    (r.smin, r.smax) = (a.smin >> s, a.smax >> s);
                }
            }
        }
        BPF_DIV => {
            if let Some(d) = b.value().filter(|&d| d != 0) {
                (r.umin, r.umax) = (a.umin / d, a.umax / d);
            } else if let Some(hi) = a.umax.checked_div(b.umin) {
                (r.umin, r.umax) = (a.umin / b.umax, hi);
            } else {
                r.umax = a.umax;
            }
        }
        BPF_MOD => {
            // x % y <= x, and < y when y is not 0 (x % 0 = x).
            r.umax = if b.umin > 0 {
                a.umax.min(b.umax - 1)
            } else {
                a.umax
            };
        }
        _ => {}
    }
    r.synced()
}

/// A conditional jump's comparison, as the verifier sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmp {
    /// `BPF_JEQ`...`BPF_JSLE` (not JA, CALL or EXIT).
    pub op: u8,
    /// 64-bit (`BPF_JMP`) rather than 32-bit (`BPF_JMP32`).
    pub wide: bool,
}

/// The comparison that holds when `op` does not.
fn negate(op: u8) -> u8 {
    match op {
        BPF_JEQ => BPF_JNE,
        BPF_JNE => BPF_JEQ,
        BPF_JGT => BPF_JLE,
        BPF_JLE => BPF_JGT,
        BPF_JGE => BPF_JLT,
        BPF_JLT => BPF_JGE,
        BPF_JSGT => BPF_JSLE,
        BPF_JSLE => BPF_JSGT,
        BPF_JSGE => BPF_JSLT,
        BPF_JSLT => BPF_JSGE,
        other => other,
    }
}

/// One width's bounds, widened to 64 bits so one set of rules serves both.
#[derive(Clone, Copy)]
struct Bounds {
    umin: u64,
    umax: u64,
    smin: i64,
    smax: i64,
}

impl Bounds {
    fn of(s: &Scalar, wide: bool) -> Bounds {
        if wide {
            Bounds {
                umin: s.umin,
                umax: s.umax,
                smin: s.smin,
                smax: s.smax,
            }
        } else {
            Bounds {
                umin: s.u32min as u64,
                umax: s.u32max as u64,
                smin: s.s32min as i64,
                smax: s.s32max as i64,
            }
        }
    }

    fn store(self, s: &mut Scalar, wide: bool) {
        if wide {
            (s.umin, s.umax, s.smin, s.smax) = (self.umin, self.umax, self.smin, self.smax);
        } else {
            s.u32min = self.umin as u32;
            s.u32max = self.umax as u32;
            s.s32min = self.smin as i32;
            s.s32max = self.smax as i32;
        }
    }

    fn known(&self) -> Option<u64> {
        (self.umin == self.umax).then_some(self.umin)
    }
}

/// Whether `a op b` is always (`Some(true)`) or never (`Some(false)`)
/// true, as far as the bounds tell.
pub fn outcome(cmp: Cmp, a: &Scalar, b: &Scalar) -> Option<bool> {
    let (x, y) = (Bounds::of(a, cmp.wide), Bounds::of(b, cmp.wide));
    let (va, vb) = if cmp.wide {
        (a.var, b.var)
    } else {
        (a.var.low32(), b.var.low32())
    };
    match cmp.op {
        BPF_JEQ | BPF_JNE => {
            let eq = if let (Some(p), Some(q)) = (x.known(), y.known()) {
                Some(p == q)
            } else if x.umax < y.umin
                || y.umax < x.umin
                || x.smax < y.smin
                || y.smax < x.smin
                || (va.value ^ vb.value) & !(va.mask | vb.mask) != 0
            {
                Some(false)
            } else {
                None
            };
            eq.map(|e| e == (cmp.op == BPF_JEQ))
        }
        BPF_JSET => {
            if va.value & vb.value != 0 {
                Some(true)
            } else if va.max() & vb.max() == 0 {
                Some(false)
            } else {
                None
            }
        }
        BPF_JGT if x.umin > y.umax => Some(true),
        BPF_JGT if x.umax <= y.umin => Some(false),
        BPF_JGE if x.umin >= y.umax => Some(true),
        BPF_JGE if x.umax < y.umin => Some(false),
        BPF_JLT if x.umax < y.umin => Some(true),
        BPF_JLT if x.umin >= y.umax => Some(false),
        BPF_JLE if x.umax <= y.umin => Some(true),
        BPF_JLE if x.umin > y.umax => Some(false),
        BPF_JSGT if x.smin > y.smax => Some(true),
        BPF_JSGT if x.smax <= y.smin => Some(false),
        BPF_JSGE if x.smin >= y.smax => Some(true),
        BPF_JSGE if x.smax < y.smin => Some(false),
        BPF_JSLT if x.smax < y.smin => Some(true),
        BPF_JSLT if x.smin >= y.smax => Some(false),
        BPF_JSLE if x.smax <= y.smin => Some(true),
        BPF_JSLE if x.smin > y.smax => Some(false),
        _ => None,
    }
}

/// `a` and `b` narrowed by knowing that `a op b` is `taken`; `None` if
/// that cannot be.
pub fn refine(cmp: Cmp, a: &Scalar, b: &Scalar, taken: bool) -> Option<(Scalar, Scalar)> {
    let op = if taken { cmp.op } else { negate(cmp.op) };
    let (mut a, mut b) = (*a, *b);
    if op == BPF_JSET {
        // Not taken: the bits `b` surely has are clear in `a`. Taken: some
        // bit in common; when `b` is a single known bit, that one is set.
        if !taken {
            let clear = if cmp.wide {
                b.var.value
            } else {
                b.var.value & 0xffff_ffff
            };
            a.var = Tnum {
                value: a.var.value & !clear,
                mask: a.var.mask & !clear,
            };
        } else {
            let bit = if cmp.wide {
                b.value()
            } else {
                b.value32().map(u64::from)
            };
            if let Some(bit) = bit.filter(|v| v.is_power_of_two()) {
                a.var = a.var | Tnum::known(bit);
            }
        }
        return (a.sync() && b.sync()).then_some((a, b));
    }
    let (mut x, mut y) = (Bounds::of(&a, cmp.wide), Bounds::of(&b, cmp.wide));
    match op {
        BPF_JEQ => {
            let both = Bounds {
                umin: x.umin.max(y.umin),
                umax: x.umax.min(y.umax),
                smin: x.smin.max(y.smin),
                smax: x.smax.min(y.smax),
            };
            (x, y) = (both, both);
            if cmp.wide {
                let v = a.var.intersect(b.var);
                (a.var, b.var) = (v, v);
            } else {
                let v = a.var.low32().intersect(b.var.low32());
                a.var = a.var.with_low32(v);
                b.var = b.var.with_low32(v);
            }
        }
        BPF_JNE => {
            if let Some(k) = y.known() {
                exclude(&mut x, k)?;
            }
            if let Some(k) = x.known() {
                exclude(&mut y, k)?;
            }
        }
        BPF_JGT => {
            x.umin = x.umin.max(y.umin.checked_add(1)?);
            y.umax = y.umax.min(x.umax.checked_sub(1)?);
        }
        BPF_JGE => {
            x.umin = x.umin.max(y.umin);
            y.umax = y.umax.min(x.umax);
        }
        BPF_JLT => {
            x.umax = x.umax.min(y.umax.checked_sub(1)?);
            y.umin = y.umin.max(x.umin.checked_add(1)?);
        }
        BPF_JLE => {
            x.umax = x.umax.min(y.umax);
            y.umin = y.umin.max(x.umin);
        }
        BPF_JSGT => {
            x.smin = x.smin.max(y.smin.checked_add(1)?);
            y.smax = y.smax.min(x.smax.checked_sub(1)?);
        }
        BPF_JSGE => {
            x.smin = x.smin.max(y.smin);
            y.smax = y.smax.min(x.smax);
        }
        BPF_JSLT => {
            x.smax = x.smax.min(y.smax.checked_sub(1)?);
            y.smin = y.smin.max(x.smin.checked_add(1)?);
        }
        BPF_JSLE => {
            x.smax = x.smax.min(y.smax);
            y.smin = y.smin.max(x.smin);
        }
        _ => {}
    }
    if !cmp.wide {
        // 32-bit bounds must stay in their width (they do: they only
        // shrink), and signed ones in i32.
        if x.smin < i32::MIN as i64 || y.smin < i32::MIN as i64 {
            return None;
        }
    }
    x.store(&mut a, cmp.wide);
    y.store(&mut b, cmp.wide);
    (a.sync() && b.sync()).then_some((a, b))
}

/// Narrows `b` knowing it is not `k`: only an end of a range can move.
fn exclude(b: &mut Bounds, k: u64) -> Option<()> {
    if b.umin == k && b.umax == k {
        return None;
    }
    if b.umin == k {
        b.umin += 1;
    } else if b.umax == k {
        b.umax -= 1;
    }
    let sk = k as i64;
    if b.smin == sk && b.smax != sk {
        b.smin += 1;
    } else if b.smax == sk && b.smin != sk {
        b.smax -= 1;
    }
    Some(())
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v) = self.value() {
            return write!(f, "{}", v as i64);
        }
        let mut first = true;
        let mut item = |f: &mut fmt::Formatter<'_>, name: &str, v: &dyn fmt::Display| {
            let sep = if first { "" } else { "," };
            first = false;
            write!(f, "{sep}{name}={v}")
        };
        if self.smin != i64::MIN {
            item(f, "smin", &self.smin)?;
        }
        if self.smax != i64::MAX {
            item(f, "smax", &self.smax)?;
        }
        if self.umin != 0 {
            item(f, "umin", &self.umin)?;
        }
        if self.umax != u64::MAX {
            item(f, "umax", &self.umax)?;
        }
        if !self.var.is_known() && self.var != Tnum::UNKNOWN {
            item(f, "var_off", &format_args!("{:?}", self.var))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: u8, wide: bool) -> AluOp {
        AluOp {
            op,
            wide,
            signed: false,
        }
    }

    /// A few scalars, each with the concrete values it stands for.
    fn samples() -> alloc::vec::Vec<(Scalar, alloc::vec::Vec<u64>)> {
        let ranges: [(u64, u64); 7] = [
            (0, 7),
            (5, 5),
            (16, 16),
            (0xffff_fff0, 0x1_0000_0003),
            (u64::MAX - 3, u64::MAX),
            ((-4i64) as u64, 3),
            (100, 131),
        ];
        let mut out = alloc::vec::Vec::new();
        for (lo, hi) in ranges {
            let values: alloc::vec::Vec<u64> = if lo <= hi {
                (lo..=hi).collect()
            } else {
                (lo..=u64::MAX).chain(0..=hi).collect()
            };
            let s = if lo <= hi {
                Scalar::unsigned(lo, hi)
            } else {
                Scalar {
                    smin: lo as i64,
                    smax: hi as i64,
                    ..Scalar::UNKNOWN
                }
                .synced()
            };
            out.push((s, values));
        }
        out
    }

    #[test]
    fn alu_results_contain_every_concrete_result() {
        let ops = [
            BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_OR, BPF_AND, BPF_XOR, BPF_LSH,
            BPF_RSH, BPF_ARSH,
        ];
        let samples = samples();
        for &o in &ops {
            for wide in [true, false] {
                for (a, xs) in &samples {
                    for (b, ys) in &samples {
                        let r = alu(op(o, wide), a, b);
                        for &x in xs {
                            for &y in ys {
                                let z = concrete(op(o, wide), x, y);
                                let one = Scalar::known(z);
                                assert!(
                                    r.contains(&one),
                                    "op {o:#x} wide {wide}: {x:#x}, {y:#x} -> {z:#x} not in {r:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn refinement_keeps_every_value_the_branch_allows() {
        let cmps = [
            BPF_JEQ, BPF_JNE, BPF_JGT, BPF_JGE, BPF_JLT, BPF_JLE, BPF_JSGT, BPF_JSGE, BPF_JSLT,
            BPF_JSLE, BPF_JSET,
        ];
        let samples = samples();
        for &c in &cmps {
            for wide in [true, false] {
                let cmp = Cmp { op: c, wide };
                for (a, xs) in &samples {
                    for (b, ys) in &samples {
                        for taken in [true, false] {
                            let refined = refine(cmp, a, b, taken);
                            for &x in xs {
                                for &y in ys {
                                    if holds(cmp, x, y) != taken {
                                        continue;
                                    }
                                    let Some((ra, rb)) = refined else {
                                        panic!("{c:#x} wide {wide} {taken}: {x:#x} {y:#x} possible, refined to nothing");
                                    };
                                    assert!(
                                        ra.contains(&Scalar::known(x)),
                                        "{c:#x} {wide} {taken}: {x:#x} {y:#x}: a {ra:?}"
                                    );
                                    assert!(
                                        rb.contains(&Scalar::known(y)),
                                        "{c:#x} {wide} {taken}: {x:#x} {y:#x}: b {rb:?}"
                                    );
                                }
                            }
                            if let Some(known) = outcome(cmp, a, b) {
                                for &x in xs {
                                    for &y in ys {
                                        assert_eq!(
                                            holds(cmp, x, y),
                                            known,
                                            "{c:#x} {wide}: {x:#x} {y:#x}"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn holds(cmp: Cmp, x: u64, y: u64) -> bool {
        let (x, y) = if cmp.wide {
            (x, y)
        } else {
            (x & 0xffff_ffff, y & 0xffff_ffff)
        };
        let (sx, sy) = if cmp.wide {
            (x as i64, y as i64)
        } else {
            (x as u32 as i32 as i64, y as u32 as i32 as i64)
        };
        match cmp.op {
            BPF_JEQ => x == y,
            BPF_JNE => x != y,
            BPF_JGT => x > y,
            BPF_JGE => x >= y,
            BPF_JLT => x < y,
            BPF_JLE => x <= y,
            BPF_JSGT => sx > sy,
            BPF_JSGE => sx >= sy,
            BPF_JSLT => sx < sy,
            BPF_JSLE => sx <= sy,
            _ => x & y != 0,
        }
    }

    #[test]
    fn bounds_views_agree() {
        let s = Scalar::unsigned(0, 0xff);
        assert_eq!((s.smin, s.smax, s.u32max, s.s32max), (0, 0xff, 0xff, 0xff));
        assert_eq!(
            s.var,
            Tnum {
                value: 0,
                mask: 0xff
            }
        );
        let z = Scalar::zero_extended_u32();
        assert_eq!(z.smax, u32::MAX as i64);
        let neg = Scalar::known((-1i64) as u64);
        assert_eq!((neg.s32min, neg.u32max), (-1, u32::MAX));
    }
}
