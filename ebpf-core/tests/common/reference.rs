//! Reference semantics written from RFC 9669 with wide (i128) arithmetic,
//! independent of the interpreter's implementation, shared by the
//! exhaustive and property tests.
#![allow(dead_code)]
// Written as the RFC states the rules (explicit zero checks), on purpose.
#![allow(clippy::manual_checked_ops)]

/// Result of ALU operation `op` (`add`, `sdiv`, ...) on `dst` and `src`.
/// For 32-bit operations the operands are the low 32 bits and the result
/// is zero-extended.
pub fn alu(op: &str, dst: u64, src: u64, wide: bool) -> u64 {
    let bits: u32 = if wide { 64 } else { 32 };
    let mask: u128 = (1u128 << bits) - 1;
    let a = dst as u128 & mask;
    let b = src as u128 & mask;
    let signed = |x: u128| -> i128 {
        if x >> (bits - 1) & 1 == 1 {
            x as i128 - (1i128 << bits)
        } else {
            x as i128
        }
    };
    let (sa, sb) = (signed(a), signed(b));
    let shift = (b % bits as u128) as u32;
    let r: u128 = match op {
        "add" => a + b,
        "sub" => a.wrapping_sub(b),
        "mul" => a * b,
        "div" => {
            if b == 0 {
                0
            } else {
                a / b
            }
        }
        "mod" => {
            if b == 0 {
                a
            } else {
                a % b
            }
        }
        // Truncating division; i128 has room for MIN / -1, which then wraps
        // back to MIN when masked.
        "sdiv" => {
            if sb == 0 {
                0
            } else {
                (sa / sb) as u128
            }
        }
        "smod" => {
            if sb == 0 {
                a
            } else {
                (sa % sb) as u128
            }
        }
        "or" => a | b,
        "and" => a & b,
        "xor" => a ^ b,
        "lsh" => a << shift,
        "rsh" => a >> shift,
        "arsh" => (sa >> shift) as u128,
        "mov" => b,
        other => panic!("no reference for {other}"),
    };
    (r & mask) as u64
}

/// Whether conditional jump `op` is taken.
pub fn jump(op: &str, dst: u64, src: u64, wide: bool) -> bool {
    let (a, b, sa, sb) = if wide {
        (
            dst as u128,
            src as u128,
            dst as i64 as i128,
            src as i64 as i128,
        )
    } else {
        (
            dst as u32 as u128,
            src as u32 as u128,
            dst as i32 as i128,
            src as i32 as i128,
        )
    };
    match op {
        "jeq" => a == b,
        "jne" => a != b,
        "jgt" => a > b,
        "jge" => a >= b,
        "jlt" => a < b,
        "jle" => a <= b,
        "jset" => a & b != 0,
        "jsgt" => sa > sb,
        "jsge" => sa >= sb,
        "jslt" => sa < sb,
        "jsle" => sa <= sb,
        other => panic!("no reference for {other}"),
    }
}

pub const ALU_OPS: &[&str] = &[
    "add", "sub", "mul", "div", "mod", "sdiv", "smod", "or", "and", "xor", "lsh", "rsh", "arsh",
    "mov",
];

pub const JUMP_OPS: &[&str] = &[
    "jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle",
];

/// Values at the edges of signed and unsigned 32- and 64-bit ranges.
pub const EDGE_VALUES: &[u64] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0001,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    0xffff_ffff_8000_0000,
    0xffff_ffff_ffff_fffe,
    u64::MAX,
];
