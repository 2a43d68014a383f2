//! Tristate numbers: what is known about the bits of a 64-bit value. A
//! bit set in `mask` is unknown; the others have the value of the same bit
//! in `value` (whose unknown bits are kept zero). This is the `tnum` of
//! Linux's verifier (Vishwanathan et al., "Sound, Precise, and Fast
//! Abstract Interpretation with Tristate Numbers", CGO 2022).

use core::fmt;

/// A value with some bits known.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// The known bits' values.
    pub value: u64,
    /// The unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Nothing known.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Exactly `v`.
    pub const fn known(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// The smallest tnum containing every value of `min..=max`.
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum {
            value: min & !delta,
            mask: delta,
        }
    }

    /// Whether every bit is known.
    pub fn is_known(self) -> bool {
        self.mask == 0
    }

    /// Smallest value it may have.
    pub fn min(self) -> u64 {
        self.value
    }

    /// Largest value it may have.
    pub fn max(self) -> u64 {
        self.value | self.mask
    }

    /// Whether every value of `other` is a value of `self`.
    pub fn contains(self, other: Tnum) -> bool {
        other.mask & !self.mask == 0 && other.value & !self.mask == self.value
    }

    /// The values both may have (sound when they share a value).
    pub fn intersect(self, other: Tnum) -> Tnum {
        let v = self.value | other.value;
        let mu = self.mask & other.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// Arithmetic right shift by a known amount, of a 64-bit value.
    pub fn sar(self, s: u32) -> Tnum {
        Tnum {
            value: ((self.value as i64).wrapping_shr(s)) as u64,
            mask: ((self.mask as i64).wrapping_shr(s)) as u64,
        }
    }

    /// The low `bytes` bytes, zero-extended.
    pub fn truncate(self, bytes: u32) -> Tnum {
        if bytes >= 8 {
            return self;
        }
        let keep = (1u64 << (bytes * 8)) - 1;
        Tnum {
            value: self.value & keep,
            mask: self.mask & keep,
        }
    }

    /// The low 32 bits, zero-extended.
    pub fn low32(self) -> Tnum {
        self.truncate(4)
    }

    /// `self` with its low 32 bits replaced by `low`'s.
    pub fn with_low32(self, low: Tnum) -> Tnum {
        let high = Tnum {
            value: self.value & !0xffff_ffff,
            mask: self.mask & !0xffff_ffff,
        };
        high | low.low32()
    }
}

/// Sum.
impl core::ops::Add<Tnum> for Tnum {
    type Output = Tnum;

    fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }
}

/// Difference.
impl core::ops::Sub<Tnum> for Tnum {
    type Output = Tnum;

    fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }
}

/// Bitwise and.
impl core::ops::BitAnd<Tnum> for Tnum {
    type Output = Tnum;

    fn bitand(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }
}

/// Bitwise or.
impl core::ops::BitOr<Tnum> for Tnum {
    type Output = Tnum;

    fn bitor(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }
}

/// Bitwise exclusive or.
impl core::ops::BitXor<Tnum> for Tnum {
    type Output = Tnum;

    fn bitxor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }
}

/// Product: the sum of `b` shifted by each bit of `self` that may be
/// set.
impl core::ops::Mul<Tnum> for Tnum {
    type Output = Tnum;

    fn mul(self, b: Tnum) -> Tnum {
        let known = self.value.wrapping_mul(b.value);
        let mut acc = Tnum::known(0);
        let (mut a, mut b) = (self, b);
        while a.value | a.mask != 0 {
            if a.value & 1 != 0 {
                acc = acc
                    + Tnum {
                        value: 0,
                        mask: b.mask,
                    };
            } else if a.mask & 1 != 0 {
                acc = acc
                    + Tnum {
                        value: 0,
                        mask: b.value | b.mask,
                    };
            }
            a = a >> 1;
            b = b << 1;
        }
        Tnum::known(known) + acc
    }
}

/// Left shift by a known amount.
impl core::ops::Shl<u32> for Tnum {
    type Output = Tnum;

    fn shl(self, s: u32) -> Tnum {
        Tnum {
            value: self.value.wrapping_shl(s),
            mask: self.mask.wrapping_shl(s),
        }
    }
}

/// Logical right shift by a known amount.
impl core::ops::Shr<u32> for Tnum {
    type Output = Tnum;

    fn shr(self, s: u32) -> Tnum {
        Tnum {
            value: self.value.wrapping_shr(s),
            mask: self.mask.wrapping_shr(s),
        }
    }
}

impl fmt::Debug for Tnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({:#x}; {:#x})", self.value, self.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value a small tnum (unknown bits among the low 4) stands for.
    fn members(t: Tnum) -> impl Iterator<Item = u64> {
        (0u64..16).filter_map(move |bits| {
            let v = t.value | (bits & t.mask);
            (bits & !t.mask == 0).then_some(v)
        })
    }

    fn small() -> impl Iterator<Item = Tnum> {
        (0u64..16).flat_map(|mask| {
            (0u64..16)
                .filter(move |v| v & mask == 0)
                .map(move |value| Tnum { value, mask })
        })
    }

    #[test]
    fn operations_contain_every_concrete_result() {
        type Op = (&'static str, fn(Tnum, Tnum) -> Tnum, fn(u64, u64) -> u64);
        let ops: [Op; 6] = [
            ("add", |a, b| a + b, u64::wrapping_add),
            ("sub", |a, b| a - b, u64::wrapping_sub),
            ("and", |a, b| a & b, |a, b| a & b),
            ("or", |a, b| a | b, |a, b| a | b),
            ("xor", |a, b| a ^ b, |a, b| a ^ b),
            ("mul", |a, b| a * b, u64::wrapping_mul),
        ];
        for (name, abstract_op, concrete) in ops {
            for a in small() {
                for b in small() {
                    let r = abstract_op(a, b);
                    for x in members(a) {
                        for y in members(b) {
                            let z = concrete(x, y);
                            assert!(
                                z & !r.mask == r.value,
                                "{name}: {x} {y} = {z} not in {r:?} ({a:?}, {b:?})"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ranges_shifts_and_containment() {
        assert_eq!(Tnum::range(5, 5), Tnum::known(5));
        let r = Tnum::range(4, 7);
        assert_eq!((r.value, r.mask), (4, 3));
        assert_eq!(Tnum::range(0, u64::MAX), Tnum::UNKNOWN);
        assert!(Tnum::UNKNOWN.contains(r));
        assert!(!r.contains(Tnum::UNKNOWN));
        assert_eq!(
            Tnum::known(0x8000_0000_0000_0000).sar(63),
            Tnum::known(u64::MAX)
        );
        assert_eq!(Tnum::known(3) << 2, Tnum::known(12));
        assert_eq!(Tnum::known(0x1_0000_0005).low32(), Tnum::known(5));
        assert_eq!(
            Tnum::known(0x1_0000_0005).with_low32(Tnum::known(7)),
            Tnum::known(0x1_0000_0007)
        );
    }
}
