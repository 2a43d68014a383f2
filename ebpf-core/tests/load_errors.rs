//! Load-time validation: each rule refuses what it must, with a precise
//! error, and accepts its legal neighbour.

mod common;

use common::{assemble, load, load_err, load_insns_err};
use ebpf_core::{Insn, LoadError, LoadOptions, Program};

fn raw(op: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn::new(op, dst, src, off, imm)
}

const EXIT: Insn = Insn::new(0x95, 0, 0, 0, 0);

#[test]
fn size_limits() {
    assert_eq!(load_insns_err(&[]), LoadError::Empty);
    let insns = vec![EXIT; 11];
    let err = Program::load(&insns, &LoadOptions::default().max_insns(10)).unwrap_err();
    assert_eq!(err, LoadError::TooLarge { len: 11, max: 10 });
    assert!(Program::load(&insns[..10], &LoadOptions::default().max_insns(10)).is_ok());
    let err = Program::from_bytes(&[0x95, 0, 0, 0, 0, 0, 0, 0, 0], &LoadOptions::default());
    assert_eq!(err.unwrap_err(), LoadError::PartialInstruction { bytes: 9 });
}

#[test]
fn unknown_opcodes() {
    // 0x00 (LD|W|IMM), 0x38 (LD_ABS DW), 0xe4 (ALU op 0xe), 0xf7, 0xe5 (JMP
    // op 0xe), 0x8e (JMP32 call), 0x9e (JMP32 exit), 0x8f (NEG by reg),
    // 0xdf (ALU64 END TO_BE), 0x0d (JA by reg), 0x9d (exit by reg),
    // 0xa1 (LDX mode 0xa0), 0x63 | ATOMIC B: 0xd3, ST MEMSX 0x82.
    for op in [
        0x00u8, 0x38, 0xe4, 0xf7, 0xe5, 0x8e, 0x9e, 0x8f, 0xdf, 0x0d, 0x9d, 0xa1, 0xd3, 0x82,
    ] {
        assert_eq!(
            load_insns_err(&[raw(op, 0, 0, 0, 0), EXIT]),
            LoadError::UnknownOpcode { pc: 0, opcode: op },
            "opcode {op:#x}"
        );
    }
}

#[test]
fn registers() {
    assert_eq!(
        load_insns_err(&[raw(0xb7, 11, 0, 0, 0), EXIT]),
        LoadError::BadRegister { pc: 0, reg: 11 }
    );
    assert_eq!(
        load_insns_err(&[raw(0xbf, 0, 12, 0, 0), EXIT]),
        LoadError::BadRegister { pc: 0, reg: 12 }
    );
    assert_eq!(
        load_err("mov %r10, 1\nexit"),
        LoadError::FramePointerWrite { pc: 0 }
    );
    assert_eq!(
        load_err("ldxdw %r10, [%r1]\nexit"),
        LoadError::FramePointerWrite { pc: 0 }
    );
    assert_eq!(
        load_err("lddw %r10, 1\nexit"),
        LoadError::FramePointerWrite { pc: 0 }
    );
    assert_eq!(
        load_err("lock fetch_add [%r1], %r10\nexit"),
        LoadError::FramePointerWrite { pc: 0 }
    );
    // r10 may be read, and be the base of stores.
    load("mov %r0, %r10\nstdw [%r10-8], 0\nexit");
}

#[test]
fn reserved_fields() {
    let cases = [
        (raw(0x07, 0, 1, 0, 1), "src"),  // add imm with src
        (raw(0x0f, 0, 1, 0, 1), "imm"),  // add reg with imm
        (raw(0x07, 0, 0, 1, 1), "off"),  // add imm with off
        (raw(0xb7, 0, 0, 4, 1), "off"),  // mov with an undefined off
        (raw(0xbc, 0, 1, 32, 0), "off"), // mov32sx32 does not exist
        (raw(0x3f, 0, 1, 2, 0), "off"),  // div with off 2
        (raw(0x95, 0, 0, 0, 1), "imm"),  // exit with imm
        (raw(0x95, 1, 0, 0, 0), "dst"),  // exit with dst
        (raw(0x05, 0, 0, 0, 1), "imm"),  // ja with imm
        (raw(0x06, 0, 0, 1, 0), "off"),  // gotol with off
        (raw(0x85, 0, 0, 1, 1), "off"),  // call with off
        (raw(0x85, 0, 3, 0, 1), "src"),  // call with unknown src
        (raw(0x61, 0, 1, 0, 1), "imm"),  // ldx with imm
        (raw(0x62, 0, 1, 0, 1), "src"),  // st with src
        (raw(0x63, 0, 1, 0, 1), "imm"),  // stx with imm
        (raw(0x15, 0, 1, 0, 0), "src"),  // jeq imm with src
        (raw(0x1d, 0, 1, 0, 1), "imm"),  // jeq reg with imm
        (raw(0x87, 0, 0, 0, 1), "imm"),  // neg with imm
        (raw(0x30, 1, 0, 0, 1), "dst"),  // ldabsb with dst
        (raw(0x30, 0, 1, 0, 1), "src"),  // ldabsb with src
    ];
    for (insn, field) in cases {
        assert_eq!(
            load_insns_err(&[insn, EXIT]),
            LoadError::ReservedField { pc: 0, field },
            "{insn:?}"
        );
    }
}

#[test]
fn immediates() {
    // RFC 9669 defines division by zero and shift counts modulo the width
    // whatever the operand: the raw loader takes them (the verifier refuses
    // them, as Linux does).
    for (src, r0) in [
        ("mov %r0, 5\ndiv %r0, 0", 0),
        ("mov %r0, 5\nmod32 %r0, 0", 5),
        ("mov %r0, 5\nsdiv %r0, 0", 0),
        ("mov %r0, -5\nsmod32 %r0, 0", 0xffff_fffb),
        ("mov %r0, 1\nlsh %r0, 65", 2),
        ("mov %r0, -1\narsh32 %r0, 32", 0xffff_ffff),
        ("mov %r0, -1\nrsh %r0, -1", 1),
        ("mov %r0, 1\nlsh32 %r0, -31", 2),
    ] {
        assert_eq!(common::run(&format!("{src}\nexit")), r0, "{src}");
    }
    load("lsh %r0, 63\nrsh32 %r0, 31\nexit");
    assert_eq!(
        load_insns_err(&[raw(0xd4, 0, 0, 0, 8), EXIT]),
        LoadError::BadImmediate { pc: 0, imm: 8 }
    );
    for imm in [0x02, 0xe0, 0xf0, 0x10, 0x100] {
        assert_eq!(
            load_insns_err(&[raw(0xdb, 1, 2, 0, imm), EXIT]),
            LoadError::BadImmediate { pc: 0, imm },
            "atomic op {imm:#x}"
        );
    }
}

#[test]
fn jump_targets() {
    assert_eq!(
        load_err("ja +1\nexit"),
        LoadError::JumpOutOfRange { pc: 0, target: 2 }
    );
    assert_eq!(
        load_err("ja -2\nexit"),
        LoadError::JumpOutOfRange { pc: 0, target: -1 }
    );
    assert_eq!(
        load_err("jeq %r0, 0, +5\nexit"),
        LoadError::JumpOutOfRange { pc: 0, target: 6 }
    );
    assert_eq!(
        load_err("gotol +3\nexit"),
        LoadError::JumpOutOfRange { pc: 0, target: 4 }
    );
    assert_eq!(
        load_err("call +3\nexit"),
        LoadError::JumpOutOfRange { pc: 0, target: 4 }
    );
    assert_eq!(
        load_err("lddw %r1, func(+3)\nexit"),
        LoadError::JumpOutOfRange { pc: 0, target: 4 }
    );
    // Into the second slot of an lddw: from before, from after, and by call.
    assert_eq!(
        load_err("ja +1\nlddw %r0, 1\nexit"),
        LoadError::JumpIntoLddw { pc: 0, target: 2 }
    );
    assert_eq!(
        load_err("lddw %r0, 1\nja -2\nexit"),
        LoadError::JumpIntoLddw { pc: 2, target: 1 }
    );
    assert_eq!(
        load_err("call +1\nlddw %r0, 1\nexit"),
        LoadError::JumpIntoLddw { pc: 0, target: 2 }
    );
    // ja +0 and jumps onto the first slot are fine.
    load("ja +0\nja +0\nlddw %r0, 1\nexit");
}

#[test]
fn lddw_shape() {
    assert_eq!(
        load_insns_err(&[raw(0x18, 0, 0, 0, 1)]),
        LoadError::LddwTruncated { pc: 0 }
    );
    assert_eq!(
        load_insns_err(&[EXIT, raw(0x18, 0, 0, 0, 1)]),
        LoadError::LddwTruncated { pc: 1 }
    );
    for second in [
        raw(0x95, 0, 0, 0, 0),
        raw(0, 1, 0, 0, 0),
        raw(0, 0, 1, 0, 0),
        raw(0, 0, 0, 1, 0),
    ] {
        assert_eq!(
            load_insns_err(&[raw(0x18, 0, 0, 0, 1), second, EXIT]),
            LoadError::BadLddwSecondSlot { pc: 0 }
        );
    }
}

#[test]
fn falling_off_the_end() {
    assert_eq!(load_err("mov %r0, 0"), LoadError::FallsOffEnd { pc: 0 });
    assert_eq!(
        load_err("mov %r0, 0\njeq %r0, 0, -2"),
        LoadError::FallsOffEnd { pc: 1 }
    );
    assert_eq!(
        load_err("exit\ncall +0"),
        LoadError::JumpOutOfRange { pc: 1, target: 2 }
    );
    assert_eq!(
        load_err("exit\nlddw %r0, 1"),
        LoadError::FallsOffEnd { pc: 1 }
    );
    load("mov %r0, 0\nexit\nja -2");
}

#[test]
fn unsupported_features() {
    assert_eq!(
        load_insns_err(&[raw(0x85, 0, 2, 0, 1), EXIT]),
        LoadError::Unsupported {
            pc: 0,
            what: "kfunc calls"
        }
    );
    for src in [
        "map_fd(3)",
        "map_value(3, 8)",
        "map_idx(0)",
        "map_idx_value(0, 4)",
        "btf_id(1, 0)",
    ] {
        let err = load_err(&format!("lddw %r1, {src}\nexit"));
        assert!(
            matches!(err, LoadError::Unsupported { pc: 0, .. }),
            "{src}: {err:?}"
        );
    }
    assert!(matches!(
        load_insns_err(&[raw(0x18, 1, 7, 0, 1), raw(0, 0, 0, 0, 0), EXIT]),
        LoadError::Unsupported {
            pc: 0,
            what: "lddw pseudo source"
        }
    ));
}

#[test]
fn pseudo_sources_go_through_the_resolver() {
    struct Maps;
    impl ebpf_core::PseudoResolver for Maps {
        fn resolve(&self, pc: usize, src: u8, imm: i32, next: i32) -> Result<u64, LoadError> {
            match (src, imm) {
                (1, 3) => Ok(0x1000),
                (2, 3) => Ok(0x2000 + next as u64),
                _ => Err(LoadError::Unsupported {
                    pc,
                    what: "no such map",
                }),
            }
        }
    }
    let opts = LoadOptions::default().resolver(&Maps);
    let p = Program::load(&assemble("lddw %r0, map_value(3, 8)\nexit"), &opts).unwrap();
    assert_eq!(p.run_on(&mut []), Ok(0x2008));
    let p = Program::load(&assemble("lddw %r0, map_fd(3)\nexit"), &opts).unwrap();
    assert_eq!(p.run_on(&mut []), Ok(0x1000));
    let err = Program::load(&assemble("lddw %r0, map_fd(4)\nexit"), &opts).unwrap_err();
    assert_eq!(
        err,
        LoadError::Unsupported {
            pc: 0,
            what: "no such map"
        }
    );
}

#[test]
fn error_messages_name_the_instruction() {
    assert_eq!(
        load_err("ja +1\nexit").to_string(),
        "insn 0: jump target 2 is out of range"
    );
    assert_eq!(
        load_insns_err(&[raw(0xe4, 0, 0, 0, 0), EXIT]).to_string(),
        "insn 0: unknown opcode 0xe4"
    );
}
