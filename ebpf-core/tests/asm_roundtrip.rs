//! The assembler and disassembler agree: disassembling what was assembled
//! gives the same text, and any instruction bits survive
//! disassemble-then-assemble unchanged.

use ebpf_core::asm::{assemble, disassemble, disassemble_one};
use ebpf_core::Insn;
use proptest::prelude::*;

/// One line per instruction form, in the disassembler's canonical spelling.
const LISTING: &str = "\
add %r1, 2
add32 %r1, %r2
sub %r1, -5
mul32 %r3, 7
div %r1, %r2
sdiv %r1, -3
mod32 %r1, 9
smod32 %r1, %r2
or %r1, 255
and %r1, %r2
lsh %r1, 63
rsh32 %r1, %r2
arsh %r1, 3
xor32 %r1, -1
mov %r0, 1
mov32 %r0, %r9
neg %r1
neg32 %r1
movsx8 %r1, %r2
movsx16 %r1, %r2
movsx32 %r1, %r2
mov32sx8 %r1, %r2
mov32sx16 %r1, %r2
le16 %r1
le32 %r1
le64 %r1
be16 %r1
be32 %r1
be64 %r1
bswap16 %r1
bswap32 %r1
bswap64 %r1
lddw %r0, 0x1122334455667788
lddw %r1, map_fd(3)
lddw %r1, map_value(3, 8)
lddw %r1, map_idx(0)
lddw %r1, map_idx_value(1, 16)
lddw %r1, btf_id(5, 0)
lddw %r1, func(+2)
ldxb %r0, [%r1]
ldxh %r0, [%r1+2]
ldxw %r0, [%r1+4]
ldxdw %r0, [%r10-8]
ldxsb %r0, [%r1+1]
ldxsh %r0, [%r1-2]
ldxsw %r0, [%r1+4]
stb [%r1+1], 7
sth [%r1], -1
stw [%r10-4], 5
stdw [%r10-8], 1
stxb [%r1], %r2
stxh [%r1+2], %r2
stxw [%r1+4], %r2
stxdw [%r10-8], %r1
lock add [%r1], %r2
lock add32 [%r1+4], %r2
lock or [%r1], %r2
lock and32 [%r1], %r2
lock xor [%r1], %r2
lock fetch_add [%r1], %r2
lock fetch_or32 [%r1], %r2
lock fetch_and [%r1], %r2
lock fetch_xor32 [%r1], %r2
lock xchg [%r1], %r2
lock cmpxchg32 [%r1], %r2
ldabsb 12
ldabsh 12
ldabsw 0
ldindb %r3, 1
ldindh %r3, -2
ldindw %r3, 4
ja +3
ja -1
gotol +70000
jeq %r1, 0, +3
jne32 %r1, %r2, -2
jgt %r1, 1, +1
jge32 %r1, 1, +1
jlt %r1, %r2, +1
jle %r1, 1, +1
jset %r1, 8, +1
jsgt %r1, -1, +1
jsge32 %r1, %r2, +1
jslt %r1, -1, +1
jsle %r1, %r2, +1
call 1
call +3
call -2
callx %r5
exit
.insn 0xe4, 0, 0, 0, 0
.insn 0x07, 1, 2, 0, 1";

#[test]
fn canonical_listing_round_trips() {
    let insns = assemble(LISTING).unwrap();
    let text = disassemble(&insns);
    let expected: Vec<&str> = LISTING.lines().collect();
    assert_eq!(text, expected);
    assert_eq!(assemble(&text.join("\n")).unwrap(), insns);
}

#[test]
fn comments_labels_and_spacing_are_accepted() {
    let a = assemble("  start:   MOV %r0,1 # comment\n; whole-line comment\n// another\nJA start")
        .unwrap();
    let b = assemble("mov r0, 1\nja -2").unwrap();
    assert_eq!(a, b);
}

#[test]
fn ja32_is_the_suites_spelling_of_gotol() {
    let a = assemble("ja32 end\nmov r0, 1\nend: exit").unwrap();
    assert_eq!(a, assemble("gotol +1\nmov r0, 1\nexit").unwrap());
    assert_eq!(a[0].opcode, 0x06, "JMP32 | JA");
    assert_eq!((a[0].off, a[0].imm), (0, 1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn any_slot_survives_disassembly(bytes in any::<[u8; 8]>()) {
        let insn = Insn::from_bytes(bytes);
        // A lone lddw first slot has no second slot: it must still round-trip.
        let (text, slots) = disassemble_one(insn, None);
        prop_assert_eq!(slots, 1);
        let back = assemble(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, vec![insn], "{}", text);
    }

    #[test]
    fn any_lddw_pair_survives_disassembly(src in 0u8..8, dst in 0u8..16, lo in any::<i32>(), hi in any::<i32>()) {
        let pair = [Insn::new(0x18, dst, src, 0, lo), Insn::new(0, 0, 0, 0, hi)];
        let text = disassemble(&pair).join("\n");
        let back = assemble(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, pair.to_vec(), "{}", text);
    }
}
