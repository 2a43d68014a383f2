//! Arbitrary text through the assembler; what assembles must disassemble
//! and assemble again to the same instructions.
#![no_main]

use ebpf_core::asm;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(insns) = asm::assemble(text) else {
        return;
    };
    let listing = asm::disassemble(&insns).join("\n");
    let again = asm::assemble(&listing)
        .unwrap_or_else(|e| panic!("the disassembly does not assemble: {e}\n{listing}"));
    assert_eq!(insns, again, "round trip of\n{listing}");
});
