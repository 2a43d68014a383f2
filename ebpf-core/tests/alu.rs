//! Arithmetic semantics (RFC 9669, section 4): every ALU operation in its
//! 64- and 32-bit, immediate and register forms, with the edge cases the
//! RFC and Linux define.

mod common;
use common::run;

/// Each case: the program (without `exit`) and r0 at exit.
fn check(cases: &[(&str, u64)]) {
    for (src, want) in cases {
        let got = run(&format!("{src}\nexit"));
        assert_eq!(got, *want, "{src}: got {got:#x}, want {want:#x}");
    }
}

const M: u64 = u64::MAX;

#[test]
fn mov_and_immediate_extension() {
    check(&[
        ("mov %r0, -1", M),
        ("mov32 %r0, -1", 0xffff_ffff),
        ("lddw %r1, 0x123456789\nmov %r0, %r1", 0x1_2345_6789),
        ("lddw %r1, 0x123456789\nmov32 %r0, %r1", 0x2345_6789),
        ("lddw %r0, 0xffffffffffffffff\nmov32 %r0, 5", 5),
        ("lddw %r0, 0x8877665544332211", 0x8877_6655_4433_2211),
    ]);
}

#[test]
fn add_sub_mul_wrap_and_zero_extend() {
    check(&[
        ("mov %r0, 0\nadd %r0, -1", M),
        ("mov %r0, -1\nadd32 %r0, 1", 0),
        ("lddw %r0, 0xffffffffffffffff\nadd %r0, 1", 0),
        ("lddw %r0, 0x1ffffffff\nadd32 %r0, 1", 0),
        ("mov %r0, 3\nmov %r1, 4\nadd %r0, %r1", 7),
        ("lddw %r0, 0x100000000\nmov %r1, 1\nadd32 %r0, %r1", 1),
        ("mov %r0, 0\nsub %r0, 1", M),
        ("mov %r0, 0\nsub32 %r0, 1", 0xffff_ffff),
        ("mov %r0, 5\nmov %r1, 7\nsub %r0, %r1", (-2i64) as u64),
        ("mov %r0, 5\nmov %r1, 7\nsub32 %r0, %r1", 0xffff_fffe),
        ("mov %r0, -1\nmul %r0, 2", (-2i64) as u64),
        ("lddw %r0, 0x100000003\nmul32 %r0, 3", 9),
        ("lddw %r0, 0x8000000000000000\nmov %r1, 2\nmul %r0, %r1", 0),
        ("mov32 %r0, 0x10000\nmov %r1, 0x10000\nmul32 %r0, %r1", 0),
        ("mov %r0, -3\nmul %r0, -3", 9),
    ]);
}

#[test]
fn unsigned_division_and_modulo() {
    check(&[
        ("mov %r0, 10\ndiv %r0, 3", 3),
        ("mov %r0, 10\nmod %r0, 3", 1),
        // ALU64: imm is sign-extended, then unsigned.
        ("mov %r0, -1\ndiv %r0, -1", 1),
        ("mov %r0, 10\ndiv %r0, -1", 0),
        ("mov %r0, 10\nmod %r0, -1", 10),
        // ALU: imm is a 32-bit unsigned value.
        ("mov32 %r0, -1\ndiv32 %r0, -1", 1),
        ("lddw %r0, 0x500000007\ndiv32 %r0, 2", 3),
        ("lddw %r0, 0x500000007\nmod32 %r0, 4", 3),
        (
            "lddw %r0, 0x500000007\nlddw %r1, 0x100000002\ndiv32 %r0, %r1",
            3,
        ),
        // By zero: division gives 0, modulo keeps dst (32-bit: zero-extended).
        ("mov %r0, 10\nmov %r1, 0\ndiv %r0, %r1", 0),
        ("mov %r0, 10\nmov %r1, 0\nmod %r0, %r1", 10),
        ("lddw %r0, 0x100000005\nmov %r1, 0\ndiv32 %r0, %r1", 0),
        ("lddw %r0, 0x100000005\nmov %r1, 0\nmod32 %r0, %r1", 5),
        (
            "lddw %r0, 0x100000005\nmov %r1, 0\nmod %r0, %r1",
            0x1_0000_0005,
        ),
        // A divisor that is zero only in its low 32 bits.
        ("mov %r0, 9\nlddw %r1, 0x100000000\ndiv32 %r0, %r1", 0),
        ("mov %r0, 9\nlddw %r1, 0x100000000\ndiv %r0, %r1", 0),
        ("mov %r0, 9\nlddw %r1, 0x100000000\nmod %r0, %r1", 9),
    ]);
}

#[test]
fn signed_division_and_modulo() {
    let min64 = 0x8000_0000_0000_0000u64;
    check(&[
        ("mov %r0, -10\nsdiv %r0, 3", (-3i64) as u64),
        ("mov %r0, -10\nsmod %r0, 3", (-1i64) as u64),
        ("mov %r0, 7\nsmod %r0, -3", 1),
        ("mov %r0, -7\nsmod %r0, -3", (-1i64) as u64),
        ("mov %r0, 10\nmov %r1, -2\nsdiv %r0, %r1", (-5i64) as u64),
        ("mov32 %r0, -10\nsdiv32 %r0, 3", (-3i32) as u32 as u64),
        ("mov32 %r0, -10\nsmod32 %r0, 3", (-1i32) as u32 as u64),
        (
            "lddw %r0, 0xfffffffffffffff6\nsdiv32 %r0, 2",
            (-5i32) as u32 as u64,
        ),
        // Overflow: MIN / -1 = MIN, MIN % -1 = 0.
        ("lddw %r0, 0x8000000000000000\nsdiv %r0, -1", min64),
        ("lddw %r0, 0x8000000000000000\nsmod %r0, -1", 0),
        (
            "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1",
            min64,
        ),
        (
            "lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1",
            0,
        ),
        ("mov32 %r0, 0x80000000\nsdiv32 %r0, -1", 0x8000_0000),
        ("mov32 %r0, 0x80000000\nsmod32 %r0, -1", 0),
        // By zero.
        ("mov %r0, -7\nmov %r1, 0\nsdiv %r0, %r1", 0),
        ("mov %r0, -7\nmov %r1, 0\nsmod %r0, %r1", (-7i64) as u64),
        ("mov %r0, -7\nmov %r1, 0\nsdiv32 %r0, %r1", 0),
        ("mov %r0, -7\nmov %r1, 0\nsmod32 %r0, %r1", 0xffff_fff9),
    ]);
}

#[test]
fn bitwise_with_sign_extended_immediates() {
    check(&[
        ("lddw %r0, 0x1234567800000000\nor %r0, -1", M),
        ("lddw %r0, 0x1234567800000000\nor32 %r0, 1", 1),
        ("mov %r0, -1\nand %r0, 0x80000000", 0xffff_ffff_8000_0000),
        ("mov %r0, -1\nand32 %r0, 0x80000000", 0x8000_0000),
        ("mov %r0, -1\nxor %r0, 0x0f", 0xffff_ffff_ffff_fff0),
        ("mov %r0, -1\nxor32 %r0, 0x0f", 0xffff_fff0),
        ("mov %r0, 0xf0\nmov %r1, 0x3c\nand %r0, %r1", 0x30),
        ("mov %r0, 0xf0\nmov %r1, 0x3c\nor %r0, %r1", 0xfc),
        ("mov %r0, 0xf0\nmov %r1, 0x3c\nxor %r0, %r1", 0xcc),
        ("mov %r0, -1\nmov %r1, 0\nxor32 %r0, %r1", 0xffff_ffff),
    ]);
}

#[test]
fn shifts_mask_register_counts() {
    check(&[
        ("mov %r0, 1\nlsh %r0, 63", 1 << 63),
        ("mov %r0, 1\nlsh32 %r0, 31", 1 << 31),
        ("mov %r0, 1\nlsh32 %r0, 31\nlsh32 %r0, 1", 0),
        ("mov %r0, -1\nrsh %r0, 60", 0xf),
        ("mov %r0, -1\nrsh32 %r0, 28", 0xf),
        ("lddw %r0, 0x8000000000000000\narsh %r0, 63", M),
        ("mov32 %r0, 0x80000000\narsh32 %r0, 31", 0xffff_ffff),
        ("mov32 %r0, 0x80000000\narsh %r0, 31", 1),
        ("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1", 2),
        ("mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1", 2),
        ("mov %r0, 8\nmov %r1, 67\nrsh %r0, %r1", 1),
        ("mov %r0, 8\nmov %r1, 35\nrsh32 %r0, %r1", 1),
        ("mov %r0, -16\nmov %r1, 66\narsh %r0, %r1", (-4i64) as u64),
        ("mov32 %r0, -16\nmov %r1, 34\narsh32 %r0, %r1", 0xffff_fffc),
        ("lddw %r0, 0xffffffff00000010\nrsh32 %r0, 4", 1),
    ]);
}

#[test]
fn negation() {
    check(&[
        ("mov %r0, 5\nneg %r0", (-5i64) as u64),
        ("mov %r0, 5\nneg32 %r0", 0xffff_fffb),
        ("mov %r0, 0\nneg %r0", 0),
        (
            "lddw %r0, 0x8000000000000000\nneg %r0",
            0x8000_0000_0000_0000,
        ),
        ("lddw %r0, 0x100000001\nneg32 %r0", 0xffff_ffff),
    ]);
}

#[test]
fn sign_extending_moves() {
    check(&[
        ("mov %r1, 0x80\nmovsx8 %r0, %r1", 0xffff_ffff_ffff_ff80),
        ("mov %r1, 0x7f\nmovsx8 %r0, %r1", 0x7f),
        ("mov %r1, 0x1ff\nmovsx8 %r0, %r1", M),
        ("mov %r1, 0x8000\nmovsx16 %r0, %r1", 0xffff_ffff_ffff_8000),
        (
            "mov32 %r1, 0x80000000\nmovsx32 %r0, %r1",
            0xffff_ffff_8000_0000,
        ),
        ("lddw %r1, 0x17fffffff\nmovsx32 %r0, %r1", 0x7fff_ffff),
        ("mov %r1, 0x80\nmov32sx8 %r0, %r1", 0xffff_ff80),
        ("mov %r1, 0x8000\nmov32sx16 %r0, %r1", 0xffff_8000),
        ("mov %r1, 0x7fff\nmov32sx16 %r0, %r1", 0x7fff),
    ]);
}

#[test]
fn byte_order() {
    let v = "lddw %r0, 0x1122334455667788\n";
    let cases: Vec<(String, u64)> = [
        ("le16", 0x7788),
        ("le32", 0x5566_7788),
        ("le64", 0x1122_3344_5566_7788),
        ("be16", 0x8877),
        ("be32", 0x8877_6655),
        ("be64", 0x8877_6655_4433_2211),
        ("bswap16", 0x8877),
        ("bswap32", 0x8877_6655),
        ("bswap64", 0x8877_6655_4433_2211),
    ]
    .iter()
    .map(|(op, want)| (format!("{v}{op} %r0"), *want))
    .collect();
    let borrowed: Vec<(&str, u64)> = cases.iter().map(|(s, w)| (s.as_str(), *w)).collect();
    check(&borrowed);
}

#[test]
fn lddw_loads_all_64_bits_and_skips_its_second_slot() {
    check(&[
        ("lddw %r0, 0xffffffff00000000", 0xffff_ffff_0000_0000),
        ("lddw %r0, 0x00000000ffffffff", 0xffff_ffff),
        ("lddw %r0, 1\nlddw %r1, 2\nadd %r0, %r1", 3),
    ]);
}
