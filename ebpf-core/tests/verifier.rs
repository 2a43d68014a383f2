//! The verifier's rules, one program each: what it accepts and, for what it
//! rejects, Linux's words for why. XDP programs (`r1` = `struct xdp_md`:
//! data at +0, data_end at +4, data_meta at +8).

mod common;

use common::assemble;
use ebpf_core::graph::types::Record;
use ebpf_core::maps::flags::BPF_F_RDONLY_PROG;
use ebpf_core::verifier::{self, MapDesc, Stats, Subject};
use ebpf_core::{Errno, MapType, ProgType};

const HASH: MapDesc = MapDesc {
    map_type: MapType::Hash,
    key_size: 4,
    value_size: 16,
    max_entries: 8,
    flags: 0,
    inner: None,
    record: Record::EMPTY,
};

const RINGBUF: MapDesc = MapDesc {
    map_type: MapType::RingBuf,
    key_size: 0,
    value_size: 0,
    max_entries: 4096,
    flags: 0,
    inner: None,
    record: Record::EMPTY,
};

const RODATA: MapDesc = MapDesc {
    map_type: MapType::Array,
    key_size: 4,
    value_size: 32,
    max_entries: 1,
    flags: BPF_F_RDONLY_PROG,
    inner: None,
    record: Record::EMPTY,
};

const PROG_ARRAY: MapDesc = MapDesc {
    map_type: MapType::ProgArray,
    key_size: 4,
    value_size: 4,
    max_entries: 4,
    flags: 0,
    inner: None,
    record: Record::EMPTY,
};

/// `struct { int cnt; struct bpf_spin_lock l; }` values.
fn locked() -> MapDesc {
    MapDesc {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: 0,
        inner: None,
        record: Record::spin_lock_at(4, 8).unwrap(),
    }
}

/// Maps by index: 0 hash, 1 ring buffer, 2 read-only array, 3 prog_array,
/// 4 an array whose values have a spin lock.
fn maps() -> [MapDesc; 5] {
    [HASH, RINGBUF, RODATA, PROG_ARRAY, locked()]
}

/// Verifies `src` for a caller who may not see kernel addresses (Linux's
/// `CAP_BPF` without `CAP_PERFMON`).
fn run(src: &str, gpl: bool) -> (Result<Stats, verifier::VerifyError>, String) {
    run_as(src, gpl, false)
}

fn run_as(
    src: &str,
    gpl: bool,
    allow_ptr_leaks: bool,
) -> (Result<Stats, verifier::VerifyError>, String) {
    let insns = assemble(src);
    let maps = maps();
    let subject = Subject {
        prog_type: ProgType::Xdp,
        attach: Default::default(),
        gpl,
        maps: &maps,
        map_of_lddw: &|_, imm| usize::try_from(imm).ok().filter(|&i| i < maps.len()),
        allow_ptr_leaks,
        exception_cb: None,
        obj_type: &|_| None,
        obj_btf: &[],
    };
    let mut log = String::new();
    let r = verifier::verify(&insns, &subject, &mut log, 1);
    (r, log)
}

#[track_caller]
fn accepts(src: &str) -> Stats {
    match run(src, true) {
        (Ok(s), _) => s,
        (Err(e), log) => panic!("rejected: {e}\n{log}\n{src}"),
    }
}

#[track_caller]
fn rejects(src: &str, words: &str) -> Errno {
    match run(src, true) {
        (Ok(_), log) => panic!("accepted, expected \"{words}\"\n{log}\n{src}"),
        (Err(e), log) => {
            assert!(
                e.reason.as_str().contains(words),
                "expected \"{words}\", got \"{}\"\n{log}",
                e.reason
            );
            assert!(log.contains(words), "the log says why: {log}");
            e.errno
        }
    }
}

/// Loads data and data_end into r2 and r3, and proves `n` bytes of packet.
fn packet(n: u32) -> String {
    format!("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, {n}\njgt %r4, %r3, out\n")
}

#[test]
fn registers_must_be_written_before_they_are_read() {
    assert_eq!(rejects("exit", "R0 !read_ok"), Errno::EACCES);
    rejects("mov %r0, %r5\nexit", "R5 !read_ok");
    rejects("mov %r0, 0\nadd %r0, %r2\nexit", "R2 !read_ok");
    accepts("mov %r0, 2\nexit");
}

#[test]
fn the_frame_pointer_is_read_only() {
    rejects(
        "mov %r10, 0\nmov %r0, 0\nexit",
        "frame pointer is read only",
    );
}

#[test]
fn unreachable_code_and_jumps_out_of_the_program_are_refused() {
    rejects("mov %r0, 0\nexit\nmov %r0, 1\nexit", "unreachable insn");
    rejects("mov %r0, 0\nja +0\nexit\nexit", "unreachable insn");
}

#[test]
fn the_return_value_is_a_number() {
    rejects("mov %r0, %r10\nexit", "R0 leaks addr as return value");
    rejects("mov %r0, %r1\nexit", "R0 leaks addr as return value");
}

#[test]
fn context_fields_are_read_whole_and_never_written() {
    accepts("ldxw %r0, [%r1+12]\nexit"); // ingress_ifindex
    rejects(
        "ldxw %r0, [%r1+2]\nexit",
        "invalid bpf_context access off=2 size=4",
    );
    rejects(
        "ldxb %r0, [%r1+0]\nexit",
        "invalid bpf_context access off=0 size=1",
    );
    rejects(
        "ldxw %r0, [%r1+24]\nexit",
        "invalid bpf_context access off=24 size=4",
    );
    rejects(
        "mov %r0, 0\nstxw [%r1+12], %r0\nexit",
        "invalid bpf_context access",
    );
    rejects(
        "stw [%r1+12], 0\nmov %r0, 0\nexit",
        "BPF_ST stores into R1 ctx is not allowed",
    );
    rejects(
        "add %r1, 4\nldxw %r0, [%r1+0]\nexit",
        "dereference of modified ctx ptr R1 off=4 disallowed",
    );
}

#[test]
fn packet_reads_need_a_comparison_with_data_end() {
    accepts(&format!(
        "{}ldxb %r0, [%r2+13]\nexit\nout: mov %r0, 1\nexit",
        packet(14)
    ));
    // One byte too far.
    rejects(
        &format!(
            "{}ldxb %r0, [%r2+14]\nexit\nout: mov %r0, 1\nexit",
            packet(14)
        ),
        "invalid access to packet, off=14 size=1",
    );
    // No check at all.
    rejects(
        "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+0]\nexit",
        "invalid access to packet, off=0 size=1",
    );
    // The check on the wrong branch.
    rejects(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, in\nmov %r0, 1\nexit\nin: ldxb %r0, [%r2+0]\nexit",
        "invalid access to packet",
    );
    // data_end on the left: `if (end >= p)` proves the bytes when taken.
    accepts(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 4\njge %r3, %r4, in\nmov %r0, 1\nexit\nin: ldxw %r0, [%r2+0]\nexit",
    );
    // Writes are allowed (XDP may rewrite headers).
    accepts(&format!(
        "{}stb [%r2+0], 1\nmov %r0, 2\nexit\nout: mov %r0, 1\nexit",
        packet(1)
    ));
    rejects(
        "ldxw %r3, [%r1+4]\nldxb %r0, [%r3+0]\nexit",
        "invalid mem access 'pkt_end'",
    );
}

#[test]
fn a_variable_packet_offset_needs_its_own_check() {
    // r5 = a header length read from the packet, bounded by the and.
    let head = format!(
        "{}ldxb %r5, [%r2+0]\nand %r5, 0x3c\nadd %r5, %r2\n",
        packet(1)
    );
    rejects(
        &format!("{head}ldxb %r0, [%r5+0]\nexit\nout: mov %r0, 1\nexit"),
        "invalid access to packet",
    );
    accepts(&format!(
        "{head}mov %r6, %r5\nadd %r6, 2\njgt %r6, %r3, out\nldxh %r0, [%r5+0]\nexit\nout: mov %r0, 1\nexit"
    ));
}

#[test]
fn the_stack_is_512_bytes_and_read_only_where_written() {
    accepts("stdw [%r10-8], 7\nldxdw %r0, [%r10-8]\nexit");
    accepts("stdw [%r10-512], 7\nldxb %r0, [%r10-512]\nexit");
    rejects(
        "stdw [%r10-520], 7\nmov %r0, 0\nexit",
        "invalid write to stack R10 off=-520 size=8",
    );
    rejects(
        "stdw [%r10+0], 7\nmov %r0, 0\nexit",
        "invalid write to stack R10 off=0 size=8",
    );
    rejects(
        "ldxdw %r0, [%r10-8]\nexit",
        "invalid read from stack off -8+0 size 8",
    );
    // Half written.
    rejects(
        "stw [%r10-8], 7\nldxdw %r0, [%r10-8]\nexit",
        "invalid read from stack off -8+4 size 8",
    );
    // A spilled pointer comes back as a pointer.
    accepts("stxdw [%r10-16], %r1\nldxdw %r1, [%r10-16]\nldxw %r0, [%r1+12]\nexit");
    rejects(
        "stxdw [%r10-16], %r1\nldxw %r0, [%r10-16]\nexit",
        "invalid size of register fill",
    );
}

#[test]
fn scalars_are_not_pointers() {
    rejects(
        "mov %r2, 100\nldxb %r0, [%r2+0]\nexit",
        "R2 invalid mem access 'scalar'",
    );
    rejects(
        "mov %r0, %r1\nmul %r0, 2\nexit",
        "R0 pointer arithmetic with *= operator prohibited",
    );
    rejects(
        "mov %r0, %r1\nand %r0, 1\nexit",
        "R0 bitwise operator &= on pointer prohibited",
    );
    rejects(
        "mov %r2, %r1\nadd %r2, %r10\nmov %r0, 0\nexit",
        "R2 pointer += pointer prohibited",
    );
    rejects(
        "mov %r0, %r1\nadd32 %r0, 1\nexit",
        "R0 32-bit pointer arithmetic prohibited",
    );
    rejects(
        "mov %r2, 0\nsub %r2, %r1\nmov %r0, 0\nexit",
        "R2 tried to subtract pointer from scalar",
    );
    // The distance between pointers is a number, for a caller who may see
    // addresses (see below).
    let len = "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nsub %r3, %r2\nmov %r0, %r3\nexit";
    assert!(run_as(len, true, true).0.is_ok());
    rejects(len, "R3 pointer -= pointer prohibited");
}

#[test]
fn division_by_a_zero_immediate_and_wide_shifts_are_malformed() {
    assert_eq!(
        rejects("mov %r0, 1\ndiv %r0, 0\nexit", "div by zero"),
        Errno::EINVAL
    );
    assert_eq!(
        rejects("mov %r0, 1\nlsh %r0, 64\nexit", "invalid shift 64"),
        Errno::EINVAL
    );
    rejects("mov %r0, 1\nlsh32 %r0, 32\nexit", "invalid shift 32");
    // By a register, any value is fine (the amount is masked).
    accepts("mov %r0, 1\nmov %r2, 0\ndiv %r0, %r2\nlsh %r0, %r2\nexit");
}

const LOOKUP: &str =
    "mov %r2, 0\nstxw [%r10-4], %r2\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx(0)\ncall 1\n";

#[test]
fn a_map_value_is_used_only_after_its_null_check() {
    rejects(
        &format!("{LOOKUP}ldxdw %r0, [%r0+0]\nexit"),
        "R0 invalid mem access 'map_value_or_null'",
    );
    accepts(&format!(
        "{LOOKUP}jeq %r0, 0, out\nldxdw %r0, [%r0+8]\nexit\nout: exit"
    ));
    // Through a copy: the check covers both registers.
    accepts(&format!(
        "{LOOKUP}mov %r6, %r0\njeq %r0, 0, out\nldxdw %r0, [%r6+8]\nexit\nout: mov %r0, 0\nexit"
    ));
    rejects(
        &format!("{LOOKUP}jeq %r0, 0, out\nldxdw %r0, [%r0+9]\nexit\nout: exit"),
        "invalid access to map value, value_size=16 off=9 size=8",
    );
    rejects(
        &format!("{LOOKUP}add %r0, 8\nexit"),
        "R0 pointer arithmetic on map_value_or_null prohibited, null-check it first",
    );
}

#[test]
fn a_variable_index_into_a_map_value_must_be_bounded() {
    let checked = format!("{LOOKUP}jeq %r0, 0, out\nldxdw %r3, [%r0+0]\n");
    rejects(
        &format!("{checked}add %r0, %r3\nldxb %r0, [%r0+0]\nexit\nout: exit"),
        "math between map_value pointer and register with unbounded min value is not allowed",
    );
    rejects(
        &format!("{checked}and %r3, 31\nadd %r0, %r3\nldxb %r0, [%r0+0]\nexit\nout: exit"),
        "invalid access to map value",
    );
    accepts(&format!(
        "{checked}and %r3, 15\nadd %r0, %r3\nldxb %r0, [%r0+0]\nexit\nout: exit"
    ));
    accepts(&format!(
        "{checked}jgt %r3, 12, out\nadd %r0, %r3\nldxw %r0, [%r0+0]\nexit\nout: mov %r0, 0\nexit"
    ));
    // A signed index must be proven non-negative.
    rejects(
        &format!("{checked}jsgt %r3, 12, out\nadd %r0, %r3\nldxw %r0, [%r0+0]\nexit\nout: mov %r0, 0\nexit"),
        "math between map_value pointer and register with unbounded min value is not allowed",
    );
}

#[test]
fn helper_arguments_follow_the_prototype() {
    // The key must be initialised stack of the key size.
    rejects(
        "mov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx(0)\ncall 1\nmov %r0, 0\nexit",
        "invalid read from stack off -4+0 size 4",
    );
    rejects(
        "mov %r1, 0\nmov %r2, 0\ncall 1\nmov %r0, 0\nexit",
        "R1 type=scalar expected=map_ptr",
    );
    // Ring buffer helpers take only ring buffers.
    rejects(
        "lddw %r1, map_idx(0)\nmov %r2, 8\nmov %r3, 0\ncall 131\nmov %r0, 0\nexit",
        "cannot pass map_type 1 into func bpf_ringbuf_reserve#131",
    );
    // Memory + size: the size must be bounded.
    rejects(
        "lddw %r1, map_idx(1)\nmov %r2, %r10\nadd %r2, -8\nldxw %r3, [%r1+0]\nmov %r4, 0\ncall 130\nmov %r0, 0\nexit",
        "R1 invalid mem access 'map_ptr'",
    );
    rejects(
        "stdw [%r10-8], 0\nldxw %r3, [%r1+12]\nlddw %r1, map_idx(1)\nmov %r2, %r10\nadd %r2, -8\nmov %r4, 0\ncall 130\nmov %r0, 0\nexit",
        "R3 unbounded memory access",
    );
    rejects(
        "stdw [%r10-8], 0\nldxw %r3, [%r1+12]\nand %r3, 15\nlddw %r1, map_idx(1)\nmov %r2, %r10\nadd %r2, -8\nmov %r4, 0\ncall 130\nmov %r0, 0\nexit",
        "invalid read from stack",
    );
    accepts(
        "stdw [%r10-8], 0\nldxw %r3, [%r1+12]\nand %r3, 7\nlddw %r1, map_idx(1)\nmov %r2, %r10\nadd %r2, -8\nmov %r4, 0\ncall 130\nmov %r0, 0\nexit",
    );
    // Arguments are gone after the call.
    rejects("mov %r1, 5\ncall 7\nmov %r0, %r1\nexit", "R1 !read_ok");
    rejects("mov %r0, 0\ncall 9999\nexit", "unknown func #9999");
}

#[test]
fn gpl_only_helpers_need_a_gpl_license() {
    let src = "stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\ncall 6\nmov %r0, 0\nexit";
    accepts(src);
    let (r, _) = run(src, false);
    let e = r.unwrap_err();
    assert_eq!(e.errno, Errno::EINVAL);
    assert!(
        e.reason
            .as_str()
            .contains("cannot call GPL-restricted function"),
        "{}",
        e.reason
    );
}

#[test]
fn a_ring_buffer_record_is_submitted_or_discarded_on_every_path() {
    let reserve = "lddw %r1, map_idx(1)\nmov %r2, 16\nmov %r3, 0\ncall 131\n";
    accepts(&format!(
        "{reserve}jeq %r0, 0, out\nstdw [%r0+8], 1\nmov %r1, %r0\nmov %r2, 0\ncall 132\nout: mov %r0, 0\nexit"
    ));
    rejects(
        &format!("{reserve}jeq %r0, 0, out\nstdw [%r0+8], 1\nout: mov %r0, 0\nexit"),
        "Unreleased reference id=",
    );
    // Only within the record.
    rejects(
        &format!("{reserve}jeq %r0, 0, out\nstdw [%r0+16], 1\nmov %r1, %r0\nmov %r2, 0\ncall 133\nout: mov %r0, 0\nexit"),
        "invalid access to mem",
    );
    // Not after it is gone.
    rejects(
        &format!("{reserve}jeq %r0, 0, out\nmov %r6, %r0\nmov %r1, %r0\nmov %r2, 0\ncall 132\nstdw [%r6+0], 1\nout: mov %r0, 0\nexit"),
        "R6 invalid mem access 'scalar'",
    );
    // The reserve size must be a constant.
    rejects(
        "ldxw %r2, [%r1+12]\nlddw %r1, map_idx(1)\nmov %r3, 0\ncall 131\nmov %r0, 0\nexit",
        "R2 is not a known constant",
    );
}

#[test]
fn read_only_maps_are_not_written() {
    rejects(
        "lddw %r1, map_idx_value(2, 0)\nstdw [%r1+0], 1\nmov %r0, 0\nexit",
        "write into map forbidden, value_size=32 off=0 size=8",
    );
    accepts("lddw %r1, map_idx_value(2, 24)\nldxdw %r0, [%r1+0]\nexit");
    rejects(
        "lddw %r1, map_idx_value(2, 24)\nldxdw %r0, [%r1+8]\nexit",
        "invalid access to map value",
    );
    // Iterations alike are not a loop (the helper bounds them)...
    accepts(
        "mov %r1, 4\nlddw %r2, func(cb)\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\n\
         cb: mov %r0, 1\njeq %r1, 3, +1\nmov %r0, 0\nexit",
    );
    // ...an infinite loop inside one is.
    rejects(
        "mov %r1, 4\nlddw %r2, func(cb)\nmov %r3, 0\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\n\
         cb: mov %r0, 0\nl: ja l",
        "infinite loop detected",
    );
}

#[test]
fn functions_have_their_own_frames() {
    accepts("mov %r1, 3\ncall f\nexit\nf: mov %r0, %r1\nadd %r0, 1\nexit");
    // The callee cannot read its caller's r6 or r0.
    rejects(
        "mov %r6, 3\ncall f\nexit\nf: mov %r0, %r6\nexit",
        "R6 !read_ok",
    );
    // Arguments beyond r5 and the caller's scratch registers are gone after.
    rejects(
        "mov %r1, 3\ncall f\nmov %r0, %r1\nexit\nf: mov %r0, 0\nexit",
        "R1 !read_ok",
    );
    // A pointer to the caller's stack may go down, not a callee's stack up.
    accepts(
        "stdw [%r10-8], 5\nmov %r1, %r10\nadd %r1, -8\ncall f\nexit\nf: ldxdw %r0, [%r1+0]\nexit",
    );
    rejects(
        "call f\nldxdw %r0, [%r0+0]\nexit\nf: stdw [%r10-8], 0\nmov %r0, %r10\nadd %r0, -8\nexit",
        "cannot return stack pointer to the caller",
    );
    // Eight frames at most.
    let mut deep = String::from("call f0\nexit\n");
    for i in 0..8 {
        deep += &format!("f{i}: call f{}\nexit\n", i + 1);
    }
    deep += "f8: mov %r0, 0\nexit";
    assert_eq!(
        rejects(&deep, "the call stack of 9 frames is too deep"),
        Errno::E2BIG
    );
}

#[test]
fn bounded_loops_verify_and_unbounded_ones_do_not() {
    let s = accepts("mov %r0, 0\nmov %r1, 0\nl: add %r0, %r1\nadd %r1, 1\njlt %r1, 100, l\nexit");
    assert!(s.processed > 300, "each iteration is explored: {s:?}");
    rejects(
        "mov %r0, 0\nl: mov %r1, 1\njeq %r0, 0, l\nexit",
        "infinite loop detected at insn",
    );
    // A loop whose state changes each time and never ends.
    let e = rejects(
        "mov %r0, 0\nl: add %r0, 1\njne %r0, 0, l\nexit",
        "BPF program is too complex",
    );
    assert_eq!(e, Errno::E2BIG);
}

#[test]
fn branches_narrow_numbers_and_dead_branches_are_not_explored() {
    // After `r2 < 4`, r2 indexes a 16-byte value in 4-byte steps.
    accepts(&format!(
        "{LOOKUP}jeq %r0, 0, out\nldxw %r2, [%r0+0]\njge %r2, 4, out\nlsh %r2, 2\nadd %r0, %r2\nldxw %r0, [%r0+0]\nexit\nout: mov %r0, 0\nexit"
    ));
    // A known-false branch is never taken: its bad access does not count.
    accepts("mov %r2, 5\njgt %r2, 10, bad\nmov %r0, 0\nexit\nbad: ldxdw %r0, [%r2+0]\nexit");
    // 32-bit comparisons narrow the low half.
    accepts(&format!(
        "{LOOKUP}jeq %r0, 0, out\nldxw %r2, [%r0+0]\njge32 %r2, 4, out\nlsh %r2, 2\nadd %r0, %r2\nldxw %r0, [%r0+0]\nexit\nout: mov %r0, 0\nexit"
    ));
}

#[test]
fn callbacks_are_verified_like_functions() {
    // bpf_loop(4, cb, &ctx, 0); the callback writes the caller's stack.
    let prog = "stdw [%r10-8], 0\nmov %r1, 4\nlddw %r2, func(cb)\nmov %r3, %r10\nadd %r3, -8\nmov %r4, 0\ncall 181\nldxdw %r0, [%r10-8]\nexit\ncb: ldxdw %r3, [%r2+0]\nadd %r3, 1\nstxdw [%r2+0], %r3\nmov %r0, 0\nexit";
    accepts(prog);
    // A callback must return 0 or 1.
    rejects(
        "mov %r1, 4\nlddw %r2, func(cb)\nmov %r3, 0\nmov %r4, 0\ncall 181\nexit\ncb: mov %r0, 7\nexit",
        "should have been in [0, 1]",
    );
    // The callback's context pointer may be NULL: using it needs the check.
    rejects(
        "mov %r1, 4\nlddw %r2, func(cb)\nmov %r3, 0\nmov %r4, 0\ncall 181\nexit\ncb: ldxdw %r0, [%r2+0]\nmov %r0, 0\nexit",
        "R2 invalid mem access 'scalar'",
    );
    // for_each: the value is the map's.
    accepts("lddw %r1, map_idx(0)\nlddw %r2, func(cb)\nmov %r3, 0\nmov %r4, 0\ncall 164\nexit\ncb: ldxdw %r0, [%r3+8]\nmov %r0, 0\nexit");
    rejects(
        "lddw %r1, map_idx(0)\nlddw %r2, func(cb)\nmov %r3, 0\nmov %r4, 0\ncall 164\nexit\ncb: ldxdw %r0, [%r3+16]\nmov %r0, 0\nexit",
        "invalid access to map value",
    );
}

/// `bpf_sk_lookup_tcp(ctx, &tuple, 12, -1, 0)` with a zeroed IPv4 tuple on
/// the stack; the result in `r6`, the context kept in `r7`.
const SK_LOOKUP: &str = "mov %r7, %r1\nstdw [%r10-16], 0\nstw [%r10-8], 0\nmov %r2, %r10\nadd %r2, -16\nmov %r3, 12\nmov %r4, -1\nmov %r5, 0\ncall 84\nmov %r6, %r0\n";

#[test]
fn a_socket_found_is_null_checked_read_only_and_released() {
    let release = "mov %r1, %r6\ncall 86\n";
    // Checked, read, released on every path.
    accepts(&format!(
        "{SK_LOOKUP}jeq %r6, 0, out\nldxw %r0, [%r6+4]\nldxb %r0, [%r6+72]\nldxh %r0, [%r6+48]\n{release}out: mov %r0, 0\nexit"
    ));
    // A NULL socket holds nothing; a socket found is not NULL afterwards
    // (the second check's NULL side is not explored).
    accepts(&format!(
        "{SK_LOOKUP}jne %r6, 0, found\nmov %r0, 0\nexit\nfound: jeq %r6, 0, out\n{release}out: mov %r0, 0\nexit"
    ));
    // Not released.
    rejects(
        &format!("{SK_LOOKUP}mov %r0, 0\nexit"),
        "Unreleased reference id=",
    );
    // Released before the NULL check, or twice.
    rejects(
        &format!("{SK_LOOKUP}{release}mov %r0, 0\nexit"),
        "R1 type=ptr_or_null expected=sock_common",
    );
    rejects(
        &format!("{SK_LOOKUP}jeq %r6, 0, out\n{release}{release}out: mov %r0, 0\nexit"),
        "R1 type=scalar expected=sock_common",
    );
    // Read after release (Linux's err_use_after_free).
    rejects(
        &format!(
            "{SK_LOOKUP}jeq %r6, 0, out\n{release}ldxw %r0, [%r6+4]\nexit\nout: mov %r0, 0\nexit"
        ),
        "R6 invalid mem access 'scalar'",
    );
    // Read before the NULL check.
    rejects(
        &format!("{SK_LOOKUP}ldxw %r0, [%r6+4]\njeq %r6, 0, out\n{release}out: mov %r0, 0\nexit"),
        "R6 invalid mem access 'sock_or_null'",
    );
    // Moved, before or after the check.
    rejects(
        &format!("{SK_LOOKUP}add %r6, 1\njeq %r6, 0, out\n{release}out: mov %r0, 0\nexit"),
        "R6 pointer arithmetic on sock_or_null prohibited, null-check it first",
    );
    rejects(
        &format!("{SK_LOOKUP}jeq %r6, 0, out\nadd %r6, 4\n{release}out: mov %r0, 0\nexit"),
        "R6 pointer arithmetic on sock prohibited",
    );
    // Written, read outside its fields or misaligned, given as memory.
    for (access, words) in [
        ("stw [%r6+16], 1", "R6 cannot write into sock"),
        ("ldxw %r0, [%r6+80]", "R6 invalid sock access off=80 size=4"),
        ("ldxh %r0, [%r6+16]", "R6 invalid sock access off=16 size=2"),
        ("ldxh %r0, [%r6+50]", "R6 invalid sock access off=50 size=2"),
        ("ldxdw %r0, [%r6+0]", "R6 invalid sock access off=0 size=8"),
        (
            "mov %r1, %r7\nmov %r2, 0\nmov %r3, %r6\nmov %r4, 4\ncall 189",
            "R3 type=sock expected=fp",
        ),
    ] {
        rejects(
            &format!("{SK_LOOKUP}jeq %r6, 0, out\n{access}\n{release}out: mov %r0, 0\nexit"),
            words,
        );
    }
    // The tuple must be readable memory of a constant size.
    rejects(
        "stdw [%r10-16], 0\nmov %r2, %r10\nadd %r2, -16\nmov %r3, 16\nmov %r4, -1\nmov %r5, 0\ncall 84\nmov %r0, 0\nexit",
        "invalid read from stack off -8",
    );
}

#[test]
fn a_tail_call_is_refused_while_a_reference_is_held() {
    rejects(
        &format!("{SK_LOOKUP}jeq %r6, 0, out\nmov %r1, %r7\nlddw %r2, map_idx(3)\nmov %r3, 0\ncall 12\nmov %r1, %r6\ncall 86\nout: mov %r0, 0\nexit"),
        "tail_call would lead to reference leak",
    );
    rejects(
        "mov %r6, %r1\nlddw %r1, map_idx(1)\nmov %r2, 16\nmov %r3, 0\ncall 131\njeq %r0, 0, out\nmov %r7, %r0\nmov %r1, %r6\nlddw %r2, map_idx(3)\nmov %r3, 0\ncall 12\nmov %r1, %r7\nmov %r2, 0\ncall 133\nout: mov %r0, 0\nexit",
        "tail_call would lead to reference leak",
    );
}

#[test]
fn tail_calls_take_the_context_and_a_prog_array() {
    accepts("lddw %r2, map_idx(3)\nmov %r3, 0\ncall 12\nmov %r0, 2\nexit");
    rejects(
        "mov %r1, 0\nlddw %r2, map_idx(3)\nmov %r3, 0\ncall 12\nmov %r0, 2\nexit",
        "R1 type=scalar expected=ctx",
    );
    rejects(
        "lddw %r2, map_idx(0)\nmov %r3, 0\ncall 12\nmov %r0, 2\nexit",
        "cannot pass map_type 1 into func bpf_tail_call#12",
    );
}

#[test]
fn atomics_need_alignment_and_a_writable_object() {
    accepts("stdw [%r10-8], 0\nmov %r1, 1\nlock add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit");
    rejects(
        "stdw [%r10-8], 0\nmov %r1, 1\nlock add32 [%r10-6], %r1\nmov %r0, 0\nexit",
        "misaligned access",
    );
    rejects(
        &format!(
            "{}mov %r5, 1\nlock add32 [%r2+0], %r5\nmov %r0, 0\nexit\nout: mov %r0, 1\nexit",
            packet(4)
        ),
        "BPF_ATOMIC stores into R2 pkt is not allowed",
    );
}

#[test]
fn the_level_2_log_shows_the_state_at_every_instruction() {
    let insns = assemble("mov %r0, 2\nexit");
    let subject = Subject {
        prog_type: ProgType::Xdp,
        attach: Default::default(),
        gpl: true,
        maps: &[],
        map_of_lddw: &|_, _| None,
        allow_ptr_leaks: false,
        exception_cb: None,
        obj_type: &|_| None,
        obj_btf: &[],
    };
    let mut log = String::new();
    let s = verifier::verify(&insns, &subject, &mut log, 2).unwrap();
    assert_eq!(s.processed, 2);
    assert!(log.contains("0: (b7)"), "{log}");
    assert!(
        log.contains("R1=ctx()") && log.contains("R10=fp()"),
        "{log}"
    );
    assert!(log.contains("1: (95)") && log.contains("R0=2"), "{log}");
    assert!(log.contains("processed 2 insns"), "{log}");
}

#[test]
fn a_chain_of_calls_shares_512_bytes_of_stack() {
    // 320 + 320 bytes on the same chain: too much, even before the access.
    rejects(
        "stdw [%r10-320], 0\ncall f\nmov %r0, 0\nexit\nf: stdw [%r10-320], 0\nmov %r0, 0\nexit",
        "combined stack size of 2 calls is 640. Too large",
    );
    accepts(
        "stdw [%r10-256], 0\ncall f\nmov %r0, 0\nexit\nf: stdw [%r10-256], 0\nmov %r0, 0\nexit",
    );
}

#[test]
fn a_callee_does_not_store_stack_pointers_in_its_callers_stack() {
    let e = rejects(
        "stdw [%r10-8], 0\nmov %r1, %r10\nadd %r1, -8\ncall f\nexit\nf: stxdw [%r1+0], %r1\nmov %r0, 0\nexit",
        "cannot spill pointers to stack into stack frame of the caller",
    );
    assert_eq!(e, Errno::EINVAL);
}

#[test]
fn pointers_are_not_stored_where_userspace_reads_them() {
    rejects(
        &format!("{LOOKUP}jeq %r0, 0, out\nstxdw [%r0+0], %r10\nout: mov %r0, 0\nexit"),
        "R10 leaks addr into map",
    );
    // The stack is the program's own: spilling there is fine.
    accepts("stxdw [%r10-8], %r1\nmov %r0, 0\nexit");
}

#[test]
fn a_void_function_leaves_r0_unreadable_for_its_caller() {
    accepts("call f\nmov %r0, 0\nexit\nf: exit");
    rejects("call f\nexit\nf: exit", "R0 !read_ok");
}

#[test]
fn no_part_of_an_address_becomes_a_number() {
    rejects("mov32 %r0, %r10\nexit", "R10 partial copy of pointer");
    rejects(
        "mov %r0, %r10\nneg %r0\nmov %r0, 0\nexit",
        "R0 pointer arithmetic prohibited",
    );
    rejects(
        "mov %r0, %r10\nbe32 %r0\nmov %r0, 0\nexit",
        "R0 pointer arithmetic prohibited",
    );
}

/// Programs that expose an address: refused without the privilege to see
/// addresses, accepted with it (as Linux with and without `CAP_PERFMON`).
const EXPOSING: &[(&str, &str)] = &[
    ("mov %r0, %r10\nexit", "R0 leaks addr as return value"),
    ("mov32 %r0, %r10\nexit", "R10 partial copy of pointer"),
    (
        "mov %r0, %r10\nsub %r0, %r1\nexit",
        "R0 pointer -= pointer prohibited",
    ),
    (
        "mov %r0, 0\njeq %r1, %r10, +1\nmov %r0, 1\nexit",
        "R10 pointer comparison prohibited",
    ),
    (
        "mov %r0, 0\njgt %r1, 4, +1\nmov %r0, 1\nexit",
        "R1 pointer comparison prohibited",
    ),
    (
        "stxdw [%r10-8], %r1\nmov %r2, 0\nstxw [%r10-8], %r2\nmov %r0, 0\nexit",
        "attempt to corrupt spilled pointer on stack",
    ),
    (
        "stdw [%r10-8], 0\nlock add [%r10-8], %r1\nmov %r0, 0\nexit",
        "R1 leaks addr into mem",
    ),
    (
        "stxdw [%r10-8], %r1\nmov %r2, 1\nlock add [%r10-8], %r2\nmov %r0, 0\nexit",
        "leaking pointer from stack off -8",
    ),
];

#[test]
fn only_a_caller_who_may_see_addresses_may_expose_them() {
    let store = format!("{LOOKUP}jeq %r0, 0, out\nstxdw [%r0+0], %r10\nout: mov %r0, 0\nexit");
    for (src, words) in EXPOSING
        .iter()
        .copied()
        .chain([(store.as_str(), "R10 leaks addr into map")])
    {
        rejects(src, words);
        if let (Err(e), log) = run_as(src, true, true) {
            panic!("refused to a privileged caller: {e}\n{log}\n{src}");
        }
    }
    // Still refused to anyone: memory the program could then reach.
    for (src, words) in [
        (
            "stxdw [%r10-8], %r1\nldxw %r0, [%r10-8]\nexit",
            "invalid size of register fill",
        ),
        (
            "mov %r0, %r10\nmul %r0, 2\nmov %r0, 0\nexit",
            "R0 pointer arithmetic with *= operator prohibited",
        ),
        (
            "mov %r0, %r10\nadd32 %r0, 1\nexit",
            "R0 32-bit pointer arithmetic prohibited",
        ),
    ] {
        match run_as(src, true, true) {
            (Err(e), _) => assert!(e.reason.as_str().contains(words), "{e}: {src}"),
            (Ok(_), log) => panic!("accepted, expected \"{words}\"\n{log}\n{src}"),
        }
    }
    // A number made from an address is no pointer.
    let (r, log) = run_as("mov32 %r2, %r10\nldxb %r0, [%r2+0]\nexit", true, true);
    assert!(r.is_err(), "dereferenced a number: {log}");
}

#[test]
fn packet_pointers_are_stale_after_a_helper_that_may_move_the_packet() {
    // r2 = data, proven 14 bytes long, kept in r7 and on the stack.
    let proven = format!(
        "{}mov %r7, %r2\nstxdw [%r10-8], %r2\nmov %r6, %r1\n",
        packet(14)
    );
    let tail_call = "mov %r1, %r6\nlddw %r2, map_idx(3)\nmov %r3, 0\ncall 12\n";
    accepts(&format!(
        "{proven}ldxb %r0, [%r7+0]\nexit\nout: mov %r0, 1\nexit"
    ));
    // A tail call that fails returns; the target may have moved it.
    rejects(
        &format!("{proven}{tail_call}ldxb %r0, [%r7+0]\nexit\nout: mov %r0, 1\nexit"),
        "R7 !read_ok",
    );
    rejects(
        &format!(
            "{proven}{tail_call}ldxdw %r7, [%r10-8]\nldxb %r0, [%r7+0]\nexit\nout: mov %r0, 1\nexit"
        ),
        "R7 !read_ok",
    );
    // Reading the pointers again from the context is fine.
    accepts(&format!(
        "{proven}{tail_call}mov %r1, %r6\n{}ldxb %r0, [%r2+0]\nexit\nout: mov %r0, 1\nexit",
        packet(1)
    ));
    // A helper that only reads the packet leaves them valid.
    accepts(&format!(
        "{proven}mov %r1, %r6\ncall 188\nldxb %r0, [%r7+0]\nexit\nout: mov %r0, 1\nexit"
    ));
}

#[test]
fn a_fixed_size_argument_is_read_then_written() {
    let check_mtu =
        "mov %r1, %r6\nmov %r2, 0\nmov %r3, %r10\nadd %r3, -4\nmov %r4, 0\nmov %r5, 0\ncall 163\n";
    rejects(
        &format!("mov %r6, %r1\n{check_mtu}mov %r0, 2\nexit"),
        "invalid read from stack",
    );
    accepts(&format!(
        "mov %r6, %r1\nstw [%r10-4], 0\n{check_mtu}ldxw %r0, [%r10-4]\nexit"
    ));
}

/// Looks up the value of map 4 (with a spin lock at 4) into r6, or exits.
const LOCKED_VALUE: &str = "mov %r2, 0\nstxw [%r10-4], %r2\nmov %r2, %r10\nadd %r2, -4\n\
    lddw %r1, map_idx(4)\ncall 1\njne %r0, 0, +2\nmov %r0, 0\nexit\nmov %r6, %r0\n";
const LOCK: &str = "mov %r1, %r6\nadd %r1, 4\ncall 93\n";
const UNLOCK: &str = "mov %r1, %r6\nadd %r1, 4\ncall 94\n";

#[test]
fn a_spin_lock_is_taken_alone_released_on_every_path_and_never_touched() {
    let count = "ldxw %r2, [%r6+0]\nadd %r2, 1\nstxw [%r6+0], %r2\n";
    accepts(&format!(
        "{LOCKED_VALUE}{LOCK}{count}{UNLOCK}mov %r0, 0\nexit"
    ));
    // A function may take it for its caller to release.
    accepts(&format!(
        "{LOCKED_VALUE}mov %r1, %r6\ncall take\n{count}{UNLOCK}mov %r0, 0\nexit\n\
         take: add %r1, 4\ncall 93\nexit"
    ));
    for (src, words) in [
        (
            format!("{LOCKED_VALUE}{LOCK}mov %r0, 0\nexit"),
            "bpf_spin_unlock is missing",
        ),
        (
            format!("{LOCKED_VALUE}{LOCK}call 5\n{UNLOCK}mov %r0, 0\nexit"),
            "function calls are not allowed while holding a lock",
        ),
        (
            // Linux's words: taking a second lock is a call too.
            format!("{LOCKED_VALUE}{LOCK}{LOCK}{UNLOCK}{UNLOCK}mov %r0, 0\nexit"),
            "function calls are not allowed while holding a lock",
        ),
        (
            format!("{LOCKED_VALUE}{UNLOCK}mov %r0, 0\nexit"),
            "bpf_spin_unlock without taking a lock",
        ),
        (
            // Taken on one path only.
            format!("{LOCKED_VALUE}ldxw %r7, [%r6+0]\njeq %r7, 0, +3\n{LOCK}{UNLOCK}mov %r0, 0\nexit"),
            "bpf_spin_unlock without taking a lock",
        ),
        (
            format!("{LOCKED_VALUE}mov %r1, %r6\ncall 93\nmov %r0, 0\nexit"),
            "off 0 doesn't point to 'struct bpf_spin_lock' that is at 4",
        ),
        (
            format!("{LOCKED_VALUE}ldxw %r0, [%r6+4]\nexit"),
            "bpf_spin_lock cannot be accessed directly by load/store",
        ),
        (
            format!("{LOCKED_VALUE}ldxdw %r0, [%r6+0]\nexit"),
            "bpf_spin_lock cannot be accessed directly by load/store",
        ),
        (
            format!("{LOOKUP}jeq %r0, 0, +3\nmov %r1, %r0\ncall 93\ncall 94\nmov %r0, 0\nexit"),
            "has no valid bpf_spin_lock",
        ),
        (
            format!(
                "{LOCKED_VALUE}mov %r7, %r6\n{}mov %r1, %r7\nadd %r1, 4\ncall 93\n{UNLOCK}mov %r0, 0\nexit",
                LOCKED_VALUE.replace("mov %r6, %r0", "mov %r6, %r0\nmov %r8, 0")
            ),
            "bpf_spin_unlock of different lock",
        ),
    ] {
        rejects(&src, words);
    }
}

#[test]
fn a_copied_number_is_narrowed_with_its_copy() {
    // r4 = ingress_ifindex (any u32), r5 its copy; only r5 is compared.
    let body = |between: &str| {
        format!(
            "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nldxw %r4, [%r1+12]\nmov %r5, %r4\n{between}\
             jgt %r5, 10, out\nadd %r2, %r4\nmov %r6, %r2\nadd %r6, 1\njgt %r6, %r3, out\n\
             ldxb %r0, [%r2+0]\nexit\nout: mov %r0, 1\nexit"
        )
    };
    accepts(&body(""));
    // Spilled and filled, the copy is still the same number.
    accepts(&body("stxdw [%r10-8], %r5\nldxdw %r5, [%r10-8]\n"));
    // Changed after the copy: no longer the same number.
    rejects(&body("add %r4, 1\n"), "unbounded");
    rejects(&body("mov32 %r5, %r5\n"), "unbounded");
}

#[test]
fn a_variable_stack_offset_is_for_callers_who_may_see_addresses() {
    // r2 = fp - 16 + (ingress_ifindex & 7), then a byte written and read.
    let var = |mask: u32, size: &str| {
        format!(
            "stdw [%r10-16], 0\nstdw [%r10-8], 0\nldxw %r3, [%r1+12]\nand %r3, {mask}\n\
             mov %r2, %r10\nadd %r2, -16\nadd %r2, %r3\nst{size} [%r2+0], 1\nldx{size} %r0, [%r2+0]\nexit"
        )
    };
    let ok = var(7, "b");
    assert!(
        run_as(&ok, true, true).0.is_ok(),
        "{}",
        run_as(&ok, true, true).1
    );
    rejects(&ok, "variable stack access prohibited for !root");
    // Up to fp-16+15+8: past the frame.
    let (r, _) = run_as(&var(15, "dw"), true, true);
    let e = r.unwrap_err();
    assert!(
        e.reason
            .as_str()
            .contains("invalid variable-offset write to stack"),
        "{e}"
    );
    // What a variable write may have touched is a number afterwards: a
    // pointer spilled there is gone.
    let spill = |mask: u32| {
        format!(
            "stxdw [%r10-8], %r10\nstdw [%r10-16], 0\nstdw [%r10-24], 0\nldxw %r3, [%r1+12]\n\
             and %r3, {mask}\nmov %r2, %r10\nadd %r2, -16\nadd %r2, %r3\nstb [%r2+0], 1\n\
             ldxdw %r4, [%r10-8]\nldxb %r0, [%r4-24]\nexit"
        )
    };
    // Out of the write's reach, the pointer stays one.
    assert!(run_as(&spill(7), true, true).0.is_ok());
    let (r, log) = run_as(&spill(15), true, true);
    let e = r.expect_err(&log);
    assert!(
        e.reason.as_str().contains("invalid mem access 'scalar'"),
        "{e}"
    );
}

#[test]
fn a_callback_reads_a_pointer_its_caller_spilled() {
    // for_each(map, cb, &ctx_on_stack, 0); the callback reads the context
    // pointer back from its caller's stack, every iteration.
    let src = "stxdw [%r10-16], %r1\nlddw %r1, map_idx(0)\nlddw %r2, func(cb)\nmov %r3, %r10\n\
               add %r3, -16\nmov %r4, 0\ncall 164\nmov %r0, 0\nexit\n\
               cb: ldxdw %r5, [%r4+0]\njeq %r5, 0, +1\nldxw %r0, [%r5+12]\nmov %r0, 0\nexit";
    let (r, log) = run_as(src, true, true);
    assert!(r.is_ok(), "{log}");
}

#[test]
fn narrow_spills_of_numbers_are_read_back_as_numbers() {
    // A known offset stored as 4 bytes at a slot's start comes back as
    // itself (Linux's narrow scalar spill), so it may move a packet
    // pointer; read from elsewhere, or wider, it is any number.
    let prove = format!("{}mov %r5, 10\nstxw [%r10-16], %r5\n", packet(14));
    accepts(&format!(
        "{prove}ldxw %r6, [%r10-16]\nadd %r2, %r6\nldxb %r0, [%r2+0]\nexit\nout:\nmov %r0, 0\nexit"
    ));
    accepts(&format!(
        "{prove}ldxh %r6, [%r10-16]\nadd %r2, %r6\nldxb %r0, [%r2+0]\nexit\nout:\nmov %r0, 0\nexit"
    ));
    rejects(
        &format!(
            "{}stw [%r10-12], 0\nmov %r5, 10\nstxw [%r10-16], %r5\nldxdw %r6, [%r10-16]\n\
             add %r2, %r6\nldxb %r0, [%r2+0]\nexit\nout:\nmov %r0, 0\nexit",
            packet(14)
        ),
        "unbounded",
    );
    // A value that does not fit the store is cut on the way back.
    accepts(&format!(
        "{}lddw %r5, 0x100000003\nstxw [%r10-16], %r5\nldxw %r6, [%r10-16]\n\
         add %r2, %r6\nldxb %r0, [%r2+10]\nexit\nout:\nmov %r0, 0\nexit",
        packet(14)
    ));
    // A byte of it overwritten: a number again.
    rejects(
        &format!(
            "{prove}stb [%r10-15], 0\nldxw %r6, [%r10-16]\nadd %r2, %r6\nldxb %r0, [%r2+0]\nexit\nout:\nmov %r0, 0\nexit"
        ),
        "unbounded",
    );
}

#[test]
fn callback_iterations_forget_only_what_they_change() {
    // The caller's context at fp-16 (a number: 0, no pointer) and a
    // counter at fp-8 the callback bumps. Only the counter changes from
    // one iteration to the next, so only it is forgotten: the zero stays
    // known, and the callback's NULL check proves its load is never made.
    let prog =
        "stdw [%r10-8], 0\nstdw [%r10-16], 0\nmov %r1, 8\nlddw %r2, func(cb)\nmov %r3, %r10\n\
                add %r3, -16\nmov %r4, 0\ncall 181\nmov %r0, 0\nexit\n\
                cb: ldxdw %r3, [%r2+8]\nadd %r3, 1\nstxdw [%r2+8], %r3\nldxdw %r5, [%r2+0]\n\
                jeq %r5, 0, +1\nldxw %r0, [%r5+0]\nmov %r0, 0\nexit";
    accepts(prog);
    // The counter is forgotten: by the third iteration it is any number,
    // not the 3 it would be, so indexing with it is refused as unbounded.
    rejects(
        &prog.replace(
            "ldxdw %r5, [%r2+0]\n",
            "ldxdw %r5, [%r2+0]\nstdw [%r10-8], 0\nstdw [%r10-16], 0\nmov %r4, %r10\nadd %r4, -16\n\
             ldxdw %r6, [%r2+8]\nadd %r4, %r6\nldxb %r0, [%r4+0]\n",
        ),
        "unbounded",
    );
}

#[test]
fn a_kfunc_call_not_lowered_is_checked_as_the_kfunc() {
    // `call runtime 5` is bpf_dynptr_from_xdp, not helper 5: its third
    // argument must be stack for the dynptr (a fuzzer found the verifier
    // taking it for bpf_ktime_get_ns when called on unlowered code).
    rejects(
        "mov %r2, 0\nmov %r3, 0\ncall runtime 5\nmov %r0, 0\nexit",
        "expected pointer to stack or const struct bpf_dynptr",
    );
    accepts("mov %r2, 0\nmov %r3, %r10\nadd %r3, -16\ncall runtime 5\nmov %r0, 0\nexit");
    // An id past any kfunc's is unknown, not a wrapped helper id.
    rejects("call runtime -1\nmov %r0, 0\nexit", "unknown func");
}

#[test]
fn a_local_dynptr_stands_for_writable_map_value_memory() {
    // r0 = a value of map `m` (16 bytes), checked.
    let value = |m: u32| {
        format!(
            "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx({m})\ncall 1\n\
             jeq %r0, 0, out\n"
        )
    };
    let from_mem = "mov %r1, %r0\nmov %r2, 16\nmov %r3, 0\nmov %r4, %r10\nadd %r4, -32\ncall 197\n";
    // bpf_dynptr_data(&d, 8, 8): memory of 8 bytes, or NULL.
    let data = "mov %r1, %r10\nadd %r1, -32\nmov %r2, 8\nmov %r3, 8\ncall 203\njeq %r0, 0, out\n";
    accepts(&format!(
        "{}{from_mem}{data}stdw [%r0+0], 1\nout: mov %r0, 0\nexit",
        value(0)
    ));
    rejects(
        &format!(
            "{}{from_mem}{data}stdw [%r0+8], 1\nout: mov %r0, 0\nexit",
            value(0)
        ),
        "invalid access to mem",
    );
    // The whole size must lie in the value.
    rejects(
        &format!(
            "{}{}out: mov %r0, 0\nexit",
            value(0),
            from_mem.replace("mov %r2, 16", "mov %r2, 17")
        ),
        "invalid access to map value",
    );
    // Only map values, and writable ones.
    rejects(
        &format!(
            "stdw [%r10-8], 0\nmov %r0, %r10\nadd %r0, -8\n{}mov %r0, 0\nexit",
            from_mem.replace("mov %r2, 16", "mov %r2, 8")
        ),
        "Unsupported reg type fp for bpf_dynptr_from_mem data",
    );
    rejects(
        &format!("{}{from_mem}out: mov %r0, 0\nexit", value(2)),
        "write into map forbidden",
    );
}

/// Verifies `src` with its exception callback at instruction `cb`.
fn with_exception_cb(src: &str, cb: usize) -> Result<Stats, verifier::VerifyError> {
    let insns = assemble(src);
    let subject = Subject {
        prog_type: ProgType::Xdp,
        attach: Default::default(),
        gpl: true,
        maps: &[],
        map_of_lddw: &|_, _| None,
        allow_ptr_leaks: false,
        exception_cb: Some(cb),
        obj_type: &|_| None,
        obj_btf: &[],
    };
    verifier::verify(&insns, &subject, &mut String::new(), 1)
}

#[test]
fn an_exception_callback_is_verified_as_a_program_of_its_own() {
    // Main (0-3) throws 7 through `call runtime 1` (bpf_throw); the
    // callback (4-) gets the cookie, a number, in r1.
    let main = "mov %r1, 7\ncall runtime 1\nmov %r0, 0\nexit\n";
    assert!(with_exception_cb(&format!("{main}mov %r0, %r1\nadd %r0, 1\nexit"), 4).is_ok());
    // Without the callback root the function would be unreachable.
    assert!(with_exception_cb(&format!("{main}mov %r0, 1\nexit"), 4).is_ok());
    let reason = |src: String, cb| with_exception_cb(&src, cb).unwrap_err().reason.to_string();
    // The cookie is a number, not a pointer it may read through.
    assert!(
        reason(format!("{main}ldxw %r0, [%r1+0]\nexit"), 4).contains("invalid mem access 'scalar'")
    );
    // It returns a number, and may not throw.
    assert!(reason(format!("{main}mov %r0, %r10\nexit"), 4).contains("R0 leaks addr"));
    assert!(reason(format!("{main}call runtime 1\nmov %r0, 0\nexit"), 4)
        .contains("cannot be called from callback subprog"));
    // The program may not call it.
    assert!(reason(
        "call f\nmov %r1, 7\ncall runtime 1\nexit\nf: mov %r0, %r1\nexit".into(),
        4
    )
    .contains("cannot call exception cb directly"));
    // Its entry must be an instruction's start.
    let lddw = "lddw %r0, 1\nexit\nmov %r0, 0\nexit";
    assert!(reason(lddw.into(), 1).contains("invalid exception callback entry"));
}

/// Verifies `src` with one object type, `struct item { u64 value; <node>
/// at 8 }` of `size` bytes (BTF id 77, graph index 0), and an array
/// (`map_idx(0)`) whose values are `{ struct bpf_spin_lock lock; u32 pad;
/// <root> __contains(item, node) at 8 }`, `root` a list head or tree root
/// and `node` its node kind.
fn with_graph(
    src: &str,
    root: ebpf_core::graph::types::FieldKind,
    node: ebpf_core::graph::types::FieldKind,
    size: u32,
) -> Result<Stats, verifier::VerifyError> {
    use ebpf_core::graph::types::{Field, FieldKind, ObjType};
    let field = |kind, offset| Field {
        kind,
        offset,
        contains: 0,
        node_offset: 8,
    };
    let item = ObjType {
        name: *b"item\0\0\0\0\0\0\0\0\0\0\0\0",
        size,
        record: Record::new(&[field(node, 8)], size).unwrap(),
    };
    let record = Record::new(&[field(FieldKind::SpinLock, 0), field(root, 8)], 24).unwrap();
    let lists = MapDesc {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 24,
        max_entries: 1,
        flags: 0,
        inner: None,
        record,
    };
    verify_with_object(src, lists, item)
}

/// Verifies `src` with one map (`map_idx(0)`) and one object type (BTF id
/// 77, graph index 0).
fn verify_with_object(
    src: &str,
    map: MapDesc,
    item: ebpf_core::graph::types::ObjType,
) -> Result<Stats, verifier::VerifyError> {
    let maps = [map];
    let insns = assemble(src);
    let subject = Subject {
        prog_type: ProgType::Xdp,
        attach: Default::default(),
        gpl: true,
        maps: &maps,
        map_of_lddw: &|_, imm| usize::try_from(imm).ok().filter(|&i| i < 1),
        allow_ptr_leaks: false,
        exception_cb: None,
        obj_type: &|i| (i == 0).then_some(item),
        obj_btf: &[(77, 0)],
    };
    let mut log = String::new();
    verifier::verify(&insns, &subject, &mut log, 1)
}

/// [`with_graph`] with a list of 32-byte items.
fn with_lists(src: &str) -> Result<Stats, verifier::VerifyError> {
    use ebpf_core::graph::types::FieldKind;
    with_graph(src, FieldKind::ListHead, FieldKind::ListNode, 32)
}

#[test]
fn objects_are_owned_until_a_list_holds_them_under_its_lock() {
    // r7 = the map value, r6 = a new item (checked).
    let setup = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx(0)\ncall 1\n\
                 jeq %r0, 0, out\nmov %r7, %r0\nmov %r1, 77\nmov %r2, 0\ncall runtime 13\n\
                 jeq %r0, 0, out\nmov %r6, %r0\nstdw [%r6+0], 5\n";
    let lock = "mov %r1, %r7\ncall 93\n";
    let unlock = "mov %r1, %r7\ncall 94\n";
    let push = "mov %r1, %r7\nadd %r1, 8\nmov %r2, %r6\nadd %r2, 8\nmov %r3, 0\nmov %r4, 0\ncall runtime 16\n";
    let end = "out: mov %r0, 0\nexit";
    let ok = |body: &str| {
        let src = format!("{setup}{body}{end}");
        if let Err(e) = with_lists(&src) {
            panic!("rejected: {e}\n{src}");
        }
    };
    let refused = |body: &str, words: &str| {
        let src = format!("{setup}{body}{end}");
        match with_lists(&src) {
            Ok(_) => panic!("accepted, expected \"{words}\"\n{src}"),
            Err(e) => assert!(
                e.reason.as_str().contains(words),
                "{e}, expected \"{words}\"\n{src}"
            ),
        }
    };
    // Pushed under the lock; readable until the lock goes.
    ok(&format!("{lock}{push}ldxdw %r0, [%r6+0]\n{unlock}"));
    // Dropped instead.
    ok("mov %r1, %r6\nmov %r2, 0\ncall runtime 14\n");
    // Popped back, its object found from its node, dropped.
    ok(&format!(
        "{lock}{push}mov %r1, %r7\nadd %r1, 8\ncall runtime 17\nmov %r8, %r0\n{unlock}\
         jeq %r8, 0, out\nadd %r8, -8\nldxdw %r0, [%r8+0]\nmov %r1, %r8\nmov %r2, 0\ncall runtime 14\n"
    ));
    refused("", "Unreleased reference");
    refused(
        push,
        "bpf_spin_lock at off=0 must be held for bpf_list_head",
    );
    refused(
        &format!("{lock}{}{unlock}", push.replace("add %r2, 8\n", "")),
        "arg#1 offset=0, but expected bpf_list_node at offset=8 in struct item",
    );
    refused(
        &format!("{lock}{push}{unlock}ldxdw %r0, [%r6+0]\n"),
        "invalid mem access 'scalar'",
    );
    refused(
        &format!("{lock}{push}{unlock}mov %r1, %r6\nmov %r2, 0\ncall runtime 14\n"),
        "expected pointer to allocated object",
    );
    refused(
        "stdw [%r6+8], 1\nmov %r1, %r6\nmov %r2, 0\ncall runtime 14\n",
        "direct access to bpf_list_node is disallowed",
    );
    refused(
        "stdw [%r7+8], 0\nmov %r1, %r6\nmov %r2, 0\ncall runtime 14\n",
        "bpf_list_head cannot be accessed directly by load/store",
    );
    refused(
        &format!("{lock}mov %r1, 77\nmov %r2, 0\ncall runtime 13\n{unlock}"),
        "function calls are not allowed while holding a lock",
    );
    refused(
        "mov %r1, %r6\nadd %r1, 8\nmov %r2, 0\ncall runtime 14\n",
        "must have zero offset when passed to release func",
    );
    // Only the program's own types.
    let unknown = with_lists(&format!(
        "{}{end}",
        setup.replace("mov %r1, 77", "mov %r1, 78")
    ));
    assert!(unknown
        .unwrap_err()
        .reason
        .as_str()
        .contains("bpf_obj_new type ID argument must be of a struct"));
}

#[test]
fn a_trees_less_runs_under_its_lock_and_remove_takes_a_non_owning_node() {
    // The list test's layout with a tree's kinds (a 40-byte item).
    use ebpf_core::graph::types::FieldKind;
    let verify = |src: &str| with_graph(src, FieldKind::RbRoot, FieldKind::RbNode, 40);
    let setup = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx(0)\ncall 1\n\
                 jeq %r0, 0, out\nmov %r7, %r0\nmov %r1, 77\nmov %r2, 0\ncall runtime 13\n\
                 jeq %r0, 0, out\nmov %r6, %r0\n";
    // add(root, node, less): r3 = less.
    let add = "mov %r1, %r7\ncall 93\nmov %r1, %r7\nadd %r1, 8\nmov %r2, %r6\nadd %r2, 8\n\
               lddw %r3, func(less)\nmov %r4, 0\nmov %r5, 0\ncall runtime 19\n";
    let first_remove = "mov %r1, %r7\nadd %r1, 8\ncall runtime 20\njeq %r0, 0, unlock\n\
                        mov %r2, %r0\nmov %r1, %r7\nadd %r1, 8\ncall runtime 21\nmov %r8, %r0\n\
                        mov %r1, %r7\ncall 94\njeq %r8, 0, out\nadd %r8, -8\nmov %r1, %r8\n\
                        mov %r2, 0\ncall runtime 14\nja out\nunlock: mov %r1, %r7\ncall 94\n";
    let end = "out: mov %r0, 0\nexit\n";
    let less = "less: ldxdw %r3, [%r1-8]\nldxdw %r4, [%r2-8]\nmov %r0, 0\njge %r3, %r4, +1\nmov %r0, 1\nexit";
    let ok = verify(&format!("{setup}{add}{first_remove}{end}{less}"));
    assert!(ok.is_ok(), "{ok:?}");
    let reason = |src: String| verify(&src).unwrap_err().reason.to_string();
    // A `less` that calls something, or lets the lock go.
    let calls = "less: call 7\nmov %r0, 0\nexit";
    assert!(reason(format!("{setup}{add}{first_remove}{end}{calls}"))
        .contains("function calls are not allowed"));
    // remove takes a node of the tree, not an owned object.
    let owned = "mov %r1, %r7\nadd %r1, 8\nmov %r2, %r6\nadd %r2, 8\ncall runtime 21\n";
    let src = format!("{setup}mov %r1, %r7\ncall 93\n{owned}mov %r1, %r7\ncall 94\n{end}");
    let r = reason(src);
    assert!(
        r.contains("rbtree_remove node input must be non-owning ref"),
        "{r}"
    );
}

/// Verifies `src` with one object type, `struct item { u64 value; struct
/// bpf_refcount ref (when `counted`); }` (BTF id 77, graph index 0), and an
/// array (`map_idx(0)`) whose values are `{ u64 data; struct item __kptr
/// *obj; }`, with map `flags`.
fn with_kptr(src: &str, counted: bool, flags: u32) -> Result<Stats, verifier::VerifyError> {
    use ebpf_core::graph::types::{Field, FieldKind, ObjType};
    let field = |kind, offset| Field {
        kind,
        offset,
        contains: 0,
        node_offset: 0,
    };
    let count = [field(FieldKind::Refcount, 8)];
    let item = ObjType {
        name: *b"item\0\0\0\0\0\0\0\0\0\0\0\0",
        size: 16,
        record: Record::new(if counted { &count } else { &[] }, 16).unwrap(),
    };
    let slots = MapDesc {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 16,
        max_entries: 1,
        flags,
        inner: None,
        record: Record::new(&[field(FieldKind::Kptr, 8)], 16).unwrap(),
    };
    verify_with_object(src, slots, item)
}

#[test]
fn a_kptr_takes_an_owned_object_and_gives_back_what_it_held() {
    // r7 = the map value, r6 = a new item (checked).
    let setup = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx(0)\ncall 1\n\
                 jeq %r0, 0, out\nmov %r7, %r0\nmov %r1, 77\nmov %r2, 0\ncall runtime 13\n\
                 jeq %r0, 0, out\nmov %r6, %r0\n";
    let xchg = "mov %r1, %r7\nadd %r1, 8\nmov %r2, %r6\ncall 194\n";
    let drop_old = "jeq %r0, 0, out\nmov %r1, %r0\nmov %r2, 0\ncall runtime 14\n";
    let end = "out: mov %r0, 0\nexit";
    let verify = |body: &str, counted| with_kptr(&format!("{setup}{body}{end}"), counted, 0);
    let refused = |body: &str, counted, words: &str| match verify(body, counted) {
        Ok(_) => panic!("accepted, expected \"{words}\"\n{body}"),
        Err(e) => assert!(
            e.reason.as_str().contains(words),
            "{e}, expected \"{words}\""
        ),
    };
    assert!(verify(&format!("{xchg}{drop_old}"), false).is_ok());
    // What it held is the program's now: dropped, or leaked.
    refused(xchg, false, "Unreleased reference");
    // What it took is not the program's any more.
    refused(
        &format!("{xchg}ldxdw %r1, [%r6+0]\n{drop_old}"),
        false,
        "invalid mem access 'scalar'",
    );
    // NULL takes the object out.
    let take = "mov %r1, %r7\nadd %r1, 8\nmov %r2, 0\ncall 194\nmov %r8, %r0\n\
                mov %r1, %r6\nmov %r2, 0\ncall runtime 14\nmov %r0, %r8\n";
    assert!(verify(&format!("{take}{drop_old}"), false).is_ok());
    // A kptr is reached through bpf_kptr_xchg alone, at its offset, with
    // an object at its start.
    refused(
        &format!("ldxdw %r0, [%r7+8]\n{xchg}{drop_old}"),
        false,
        "kptr to struct item cannot be read directly: it has no bpf_refcount",
    );
    refused(
        &format!("stdw [%r7+8], 0\n{xchg}{drop_old}"),
        true,
        "kptr cannot be accessed directly",
    );
    // Of a counted type, read directly: the object or NULL, readable for
    // the run; not the program's until acquired (then maybe NULL).
    let peek = "ldxdw %r8, [%r7+8]\njeq %r8, 0, +8\nldxdw %r0, [%r8+0]\nmov %r1, %r8\n\
                mov %r2, 0\ncall runtime 22\njeq %r0, 0, +3\nmov %r1, %r0\nmov %r2, 0\n\
                call runtime 14\n";
    let drop_new = "mov %r1, %r6\nmov %r2, 0\ncall runtime 14\n";
    let ok = verify(&format!("{peek}{drop_new}"), true);
    assert!(ok.is_ok(), "{ok:?}");
    refused(
        &format!("{}{drop_new}", peek.replace("jeq %r8, 0, +8\n", "")),
        true,
        "invalid mem access 'rcu_ptr_alloc_or_null'",
    );
    refused(
        &format!("{}{drop_new}", peek.replace("jeq %r0, 0, +3\n", "")),
        true,
        "arg#0 expected pointer to allocated object",
    );
    refused(
        &format!(
            "{}mov %r1, %r8\nmov %r2, 0\ncall runtime 14\n{drop_new}",
            &peek[..peek.find("mov %r1, %r8").unwrap()]
        ),
        true,
        "expected pointer to allocated object",
    );
    refused(
        &format!("{}{drop_old}", xchg.replace("add %r1, 8", "add %r1, 0")),
        false,
        "off=0 doesn't point to kptr",
    );
    refused(
        &format!(
            "{}{drop_old}",
            xchg.replace("mov %r2, %r6", "mov %r2, %r6\nadd %r2, 8")
        ),
        false,
        "must have zero offset",
    );
    refused(
        &format!("{}{drop_old}", xchg.replace("mov %r2, %r6", "mov %r2, %r7")),
        false,
        "must be referenced or NULL",
    );
    // Not in a map programs may only read.
    let read_only = with_kptr(
        &format!("{setup}{xchg}{drop_old}{end}"),
        false,
        ebpf_core::maps::flags::BPF_F_RDONLY_PROG,
    );
    assert!(read_only
        .unwrap_err()
        .reason
        .as_str()
        .contains("write into map forbidden"));
    // One more owner of an owned object: not NULL; both dropped.
    let acquire = "mov %r1, %r6\nmov %r2, 0\ncall runtime 22\nldxdw %r1, [%r0+0]\n\
                   mov %r1, %r0\nmov %r2, 0\ncall runtime 14\n\
                   mov %r1, %r6\nmov %r2, 0\ncall runtime 14\n";
    assert!(verify(acquire, true).is_ok());
    refused(acquire, false, "has no bpf_refcount");
    // The count is the runtime's.
    refused(
        "stw [%r6+8], 1\nmov %r1, %r6\nmov %r2, 0\ncall runtime 14\n",
        true,
        "direct access to bpf_refcount is disallowed",
    );
}

/// A map of 24-byte values with a `struct bpf_timer` at offset 8 (and, with
/// `second`, another such map), for [`verify_with_object`]'s program.
fn with_timer(src: &str) -> Result<Stats, verifier::VerifyError> {
    use ebpf_core::graph::types::{Field, FieldKind, ObjType};
    let timer = Field {
        kind: FieldKind::Timer,
        offset: 8,
        contains: 0,
        node_offset: 0,
    };
    let slots = MapDesc {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 24,
        max_entries: 1,
        flags: 0,
        inner: None,
        record: Record::new(&[timer], 24).unwrap(),
    };
    let unused = ObjType {
        name: [0; 16],
        size: 8,
        record: Record::EMPTY,
    };
    verify_with_object(src, slots, unused)
}

#[test]
fn timers_are_reached_at_their_offset_and_callbacks_verified_on_their_own() {
    // r7 = the value (checked), then the calls, then the callback.
    let setup = "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx(0)\ncall 1\n\
                 jeq %r0, 0, out\nmov %r7, %r0\n";
    let init = "mov %r1, %r7\nadd %r1, 8\nlddw %r2, map_idx(0)\nmov %r3, 1\ncall 169\n";
    let set = "mov %r1, %r7\nadd %r1, 8\nlddw %r2, func(cb)\ncall 170\n";
    let end = "out: mov %r0, 0\nexit\n";
    // Every body ends with the callback's use (else it is dead code).
    let verify = |body: &str, cb: &str| with_timer(&format!("{setup}{body}{set}{end}cb: {cb}"));
    let refused = |body: &str, cb: &str, words: &str| match verify(body, cb) {
        Ok(_) => panic!("accepted, expected \"{words}\"\n{body}"),
        Err(e) => assert!(
            e.reason.as_str().contains(words),
            "{e}, expected \"{words}\""
        ),
    };
    let counts = "ldxdw %r1, [%r3+0]\nadd %r1, 1\nstxdw [%r3+0], %r1\nmov %r0, 0\nexit";
    let ok = verify(init, counts);
    assert!(ok.is_ok(), "{ok:?}");
    // The timer at its offset, of a value, of the map it lives in.
    refused(
        &init.replace("add %r1, 8", "add %r1, 0"),
        counts,
        "off 0 doesn't point to 'struct bpf_timer' that is at 8",
    );
    refused(
        "mov %r1, %r10\nadd %r1, -16\nlddw %r2, map_idx(0)\nmov %r3, 1\ncall 169\n",
        counts,
        "expected=map_value",
    );
    // Never read or written by the program itself.
    refused(
        "ldxdw %r0, [%r7+8]\n",
        counts,
        "bpf_timer cannot be accessed directly",
    );
    refused(
        "stdw [%r7+16], 0\n",
        counts,
        "bpf_timer cannot be accessed directly",
    );
    // The callback returns 0, holds nothing, and cannot reach the
    // program's stack: it runs later, as a run of its own.
    refused(
        "",
        "mov %r0, 1\nexit",
        "At async callback return the register R0 has",
    );
    refused(
        "",
        "ldxdw %r0, [%r10-8]\nmov %r0, 0\nexit",
        "invalid read from stack",
    );
    // Its r2 is the key (readable), r3 the value.
    assert!(verify("", "ldxw %r0, [%r2+0]\nmov %r0, 0\nexit").is_ok());
    refused(
        "",
        "stw [%r2+0], 0\nmov %r0, 0\nexit",
        "cannot write into map_key",
    );
}
