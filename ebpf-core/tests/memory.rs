//! Loads, stores, atomics and legacy packet loads (RFC 9669, section 5),
//! and the run-time memory checks: every region is enforced at both ends,
//! and a refused access reads or writes nothing.

mod common;

use common::{load, run, run_mem, try_run_mem};
use ebpf_core::{AccessKind, MemoryMap, NoHelpers, RegionKind, RunError, Stack};

fn mem16() -> [u8; 16] {
    core::array::from_fn(|i| 0x80 + i as u8)
}

#[test]
fn loads_of_every_size_are_little_endian() {
    let mut m = mem16();
    assert_eq!(run_mem("ldxb %r0, [%r1+1]\nexit", &mut m), 0x81);
    assert_eq!(run_mem("ldxh %r0, [%r1+2]\nexit", &mut m), 0x8382);
    assert_eq!(run_mem("ldxw %r0, [%r1+4]\nexit", &mut m), 0x8786_8584);
    assert_eq!(
        run_mem("ldxdw %r0, [%r1+8]\nexit", &mut m),
        0x8f8e_8d8c_8b8a_8988
    );
    // Misaligned plain loads are allowed.
    assert_eq!(run_mem("ldxw %r0, [%r1+1]\nexit", &mut m), 0x8483_8281);
    // r2 carries the length.
    assert_eq!(run_mem("mov %r0, %r2\nexit", &mut m), 16);
}

#[test]
fn sign_extending_loads() {
    let mut m = mem16();
    assert_eq!(
        run_mem("ldxsb %r0, [%r1]\nexit", &mut m),
        0xffff_ffff_ffff_ff80
    );
    assert_eq!(
        run_mem("ldxsh %r0, [%r1]\nexit", &mut m),
        0xffff_ffff_ffff_8180
    );
    assert_eq!(
        run_mem("ldxsw %r0, [%r1]\nexit", &mut m),
        0xffff_ffff_8382_8180
    );
    let mut pos = [0x7fu8, 0x7f, 0x7f, 0x7f];
    assert_eq!(run_mem("ldxsw %r0, [%r1]\nexit", &mut pos), 0x7f7f_7f7f);
}

#[test]
fn stores_write_exactly_their_size() {
    let mut m = [0u8; 16];
    run_mem(
        "stb [%r1], 0x11\nsth [%r1+2], 0x2233\nstw [%r1+4], -1\nstdw [%r1+8], -2\nmov %r0, 0\nexit",
        &mut m,
    );
    assert_eq!(
        m,
        [
            0x11, 0, 0x33, 0x22, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff
        ]
    );
    let mut m = [0u8; 16];
    run_mem(
        "lddw %r2, 0x1122334455667788\nstxb [%r1], %r2\nstxh [%r1+1], %r2\nstxw [%r1+3], %r2\nstxdw [%r1+7], %r2\nexit",
        &mut m,
    );
    assert_eq!(
        m,
        [
            0x88, 0x88, 0x77, 0x88, 0x77, 0x66, 0x55, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
            0x11, 0
        ]
    );
}

#[test]
fn stack_is_512_bytes_below_r10() {
    assert_eq!(
        run("lddw %r1, 0x1122334455667788\nstxdw [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit"),
        0x1122_3344_5566_7788
    );
    assert_eq!(run("stb [%r10-512], 7\nldxb %r0, [%r10-512]\nexit"), 7);
    let p = load("ldxb %r0, [%r10-513]\nexit");
    assert!(matches!(
        p.run_on(&mut []),
        Err(RunError::OutOfBounds {
            pc: 0,
            size: 1,
            kind: AccessKind::Load,
            ..
        })
    ));
    let p = load("stb [%r10], 1\nexit");
    assert!(matches!(
        p.run_on(&mut []),
        Err(RunError::OutOfBounds {
            pc: 0,
            size: 1,
            kind: AccessKind::Store,
            ..
        })
    ));
    // Crossing the top of the stack by one byte.
    let p = load("ldxdw %r0, [%r10-7]\nexit");
    assert!(matches!(
        p.run_on(&mut []),
        Err(RunError::OutOfBounds { size: 8, .. })
    ));
}

#[test]
fn memory_region_is_enforced_at_both_ends() {
    let mut m = [0u8; 16];
    assert_eq!(run_mem("ldxb %r0, [%r1+15]\nexit", &mut m), 0);
    assert_eq!(run_mem("ldxdw %r0, [%r1+8]\nexit", &mut m), 0);
    let base = m.as_ptr() as u64;
    for (src, addr, size) in [
        ("ldxb %r0, [%r1+16]\nexit", base + 16, 1),
        ("ldxb %r0, [%r1-1]\nexit", base - 1, 1),
        ("ldxdw %r0, [%r1+9]\nexit", base + 9, 8),
        ("ldxh %r0, [%r1+15]\nexit", base + 15, 2),
    ] {
        assert_eq!(
            try_run_mem(src, &mut m),
            Err(RunError::OutOfBounds {
                pc: 0,
                addr,
                size,
                kind: AccessKind::Load
            }),
            "{src}"
        );
    }
}

#[test]
fn refused_store_writes_nothing() {
    let mut m = [0u8; 16];
    let r = try_run_mem("stdw [%r1+12], -1\nexit", &mut m);
    assert!(matches!(
        r,
        Err(RunError::OutOfBounds {
            kind: AccessKind::Store,
            size: 8,
            ..
        })
    ));
    assert_eq!(m, [0u8; 16], "the in-bounds half must be untouched");
}

#[test]
fn null_and_wild_pointers_are_refused() {
    for src in [
        "mov %r1, 0\nldxb %r0, [%r1]\nexit",
        "lddw %r1, 0xffffffffffffffff\nldxdw %r0, [%r1]\nexit",
        "mov %r1, 0\nstw [%r1+4], 1\nexit",
    ] {
        assert!(
            matches!(try_run_mem(src, &mut []), Err(RunError::OutOfBounds { .. })),
            "{src}"
        );
    }
}

#[test]
fn read_only_regions_refuse_stores_and_atomics() {
    let ctx = [1u8, 2, 3, 4, 5, 6, 7, 8];
    let mut map = MemoryMap::new();
    let addr = map.add_ref(&ctx, RegionKind::Context).unwrap();
    let run =
        |src: &str| load(src).run(&mut Stack::new(), &map, [addr, 0, 0, 0, 0], &mut NoHelpers);
    assert_eq!(run("ldxw %r0, [%r1+4]\nexit"), Ok(0x0807_0605));
    assert_eq!(
        run("stw [%r1], 0\nexit"),
        Err(RunError::OutOfBounds {
            pc: 0,
            addr,
            size: 4,
            kind: AccessKind::Store
        })
    );
    assert_eq!(
        run("mov %r2, 1\nlock add [%r1], %r2\nexit"),
        Err(RunError::OutOfBounds {
            pc: 1,
            addr,
            size: 8,
            kind: AccessKind::Atomic
        })
    );
    assert_eq!(ctx, [1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn several_regions_are_each_enforced() {
    let mut a = [0u8; 8];
    let mut b = [0u8; 4];
    let (pa, pb) = (a.as_ptr() as u64, b.as_ptr() as u64);
    let mut map = MemoryMap::new();
    map.add_mut(&mut a, RegionKind::Context).unwrap();
    map.add_mut(&mut b, RegionKind::Memory).unwrap();
    let prog = load("stdw [%r1], -1\nstw [%r2], -1\nldxw %r0, [%r2+1]\nexit");
    let r = prog.run(&mut Stack::new(), &map, [pa, pb, 0, 0, 0], &mut NoHelpers);
    assert_eq!(
        r,
        Err(RunError::OutOfBounds {
            pc: 2,
            addr: pb + 1,
            size: 4,
            kind: AccessKind::Load
        })
    );
    assert_eq!((a, b), ([0xff; 8], [0xff; 4]));
}

/// Runs one atomic instruction on an 8-byte cell holding `init`, with
/// r0 = `r0` and r2 = `r2`; returns (cell, r0, r2) afterwards.
fn atomic(insn: &str, init: u64, r0: u64, r2: u64) -> (u64, u64, u64) {
    let mut cell = init.to_le_bytes();
    let prog_r0 = format!("lddw %r0, {r0:#x}\nlddw %r2, {r2:#x}\n{insn}\nexit");
    let got_r0 = run_mem(&prog_r0, &mut cell);
    let after = u64::from_le_bytes(cell);
    let mut cell2 = init.to_le_bytes();
    let prog_r2 = format!("lddw %r0, {r0:#x}\nlddw %r2, {r2:#x}\n{insn}\nmov %r0, %r2\nexit");
    let got_r2 = run_mem(&prog_r2, &mut cell2);
    (after, got_r0, got_r2)
}

#[test]
fn atomics_64_bit() {
    let v = 0x0f0f_0000_0000_00f0u64;
    let o = 0xff00_0000_0000_0f0fu64;
    assert_eq!(
        atomic("lock add [%r1], %r2", v, 9, o),
        (v.wrapping_add(o), 9, o)
    );
    assert_eq!(atomic("lock or [%r1], %r2", v, 9, o), (v | o, 9, o));
    assert_eq!(atomic("lock and [%r1], %r2", v, 9, o), (v & o, 9, o));
    assert_eq!(atomic("lock xor [%r1], %r2", v, 9, o), (v ^ o, 9, o));
    assert_eq!(
        atomic("lock fetch_add [%r1], %r2", v, 9, o),
        (v.wrapping_add(o), 9, v)
    );
    assert_eq!(atomic("lock fetch_or [%r1], %r2", v, 9, o), (v | o, 9, v));
    assert_eq!(atomic("lock fetch_and [%r1], %r2", v, 9, o), (v & o, 9, v));
    assert_eq!(atomic("lock fetch_xor [%r1], %r2", v, 9, o), (v ^ o, 9, v));
    assert_eq!(atomic("lock xchg [%r1], %r2", v, 9, o), (o, 9, v));
    // cmpxchg: r0 is the expected value, gets the old value either way.
    assert_eq!(atomic("lock cmpxchg [%r1], %r2", v, v, o), (o, v, o));
    assert_eq!(atomic("lock cmpxchg [%r1], %r2", v, 9, o), (v, v, o));
}

#[test]
fn atomics_32_bit_touch_the_low_word_and_zero_extend() {
    let v = 0xaaaa_aaaa_8000_0001u64;
    let o = 0xffff_ffff_8000_0003u64;
    let hi = v & 0xffff_ffff_0000_0000;
    let lo = |x: u64| x & 0xffff_ffff;
    assert_eq!(atomic("lock add32 [%r1], %r2", v, 9, o), (hi | 4, 9, o));
    assert_eq!(
        atomic("lock or32 [%r1], %r2", v, 9, o),
        (hi | lo(v | o), 9, o)
    );
    assert_eq!(
        atomic("lock and32 [%r1], %r2", v, 9, o),
        (hi | lo(v & o), 9, o)
    );
    assert_eq!(
        atomic("lock xor32 [%r1], %r2", v, 9, o),
        (hi | lo(v ^ o), 9, o)
    );
    assert_eq!(
        atomic("lock fetch_add32 [%r1], %r2", v, 9, o),
        (hi | 4, 9, lo(v))
    );
    assert_eq!(
        atomic("lock fetch_or32 [%r1], %r2", v, 9, o),
        (hi | lo(v | o), 9, lo(v))
    );
    assert_eq!(
        atomic("lock fetch_and32 [%r1], %r2", v, 9, o),
        (hi | lo(v & o), 9, lo(v))
    );
    assert_eq!(
        atomic("lock fetch_xor32 [%r1], %r2", v, 9, o),
        (hi | lo(v ^ o), 9, lo(v))
    );
    assert_eq!(
        atomic("lock xchg32 [%r1], %r2", v, 9, o),
        (hi | lo(o), 9, lo(v))
    );
    // cmpxchg32 compares only the low 32 bits of r0.
    let expect = 0x1234_5678_0000_0000 | lo(v);
    assert_eq!(
        atomic("lock cmpxchg32 [%r1], %r2", v, expect, o),
        (hi | lo(o), lo(v), o)
    );
    assert_eq!(atomic("lock cmpxchg32 [%r1], %r2", v, 9, o), (v, lo(v), o));
}

#[test]
fn atomics_need_natural_alignment() {
    let mut m = [0u64; 2];
    let bytes: &mut [u8] = bytemuck_bytes(&mut m);
    let base = bytes.as_ptr() as u64;
    assert_eq!(
        try_run_mem("mov %r2, 1\nlock add [%r1+4], %r2\nexit", bytes),
        Err(RunError::Misaligned {
            pc: 1,
            addr: base + 4,
            size: 8
        })
    );
    assert_eq!(
        try_run_mem("mov %r2, 1\nlock add32 [%r1+2], %r2\nexit", bytes),
        Err(RunError::Misaligned {
            pc: 1,
            addr: base + 2,
            size: 4
        })
    );
    assert_eq!(
        try_run_mem(
            "mov %r2, 1\nlock add32 [%r1+4], %r2\nmov %r0, 0\nexit",
            bytes
        ),
        Ok(0)
    );
    assert_eq!(
        try_run_mem("mov %r2, 1\nlock add [%r1+16], %r2\nexit", bytes),
        Err(RunError::OutOfBounds {
            pc: 1,
            addr: base + 16,
            size: 8,
            kind: AccessKind::Atomic
        })
    );
}

fn bytemuck_bytes(words: &mut [u64; 2]) -> &mut [u8] {
    // Reinterpret via a safe round trip: u64 arrays have no padding.
    let ptr = words.as_mut_ptr() as *mut u8;
    // SAFETY: 16 bytes of initialised, exclusively borrowed memory; u8 has
    // no alignment or validity requirements.
    unsafe { core::slice::from_raw_parts_mut(ptr, 16) }
}

#[test]
fn atomics_on_the_stack() {
    assert_eq!(
        run("stdw [%r10-8], 40\nmov %r1, 2\nlock add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nexit"),
        42
    );
}

#[test]
fn legacy_packet_loads_are_big_endian() {
    let mut pkt = [0x11u8, 0x22, 0x33, 0x44, 0x55, 0x66];
    assert_eq!(run_mem("ldabsb 1\nexit", &mut pkt), 0x22);
    assert_eq!(run_mem("ldabsh 1\nexit", &mut pkt), 0x2233);
    assert_eq!(run_mem("ldabsw 2\nexit", &mut pkt), 0x3344_5566);
    assert_eq!(run_mem("mov %r3, 1\nldindh %r3, 3\nexit", &mut pkt), 0x5566);
    assert_eq!(
        run_mem("mov %r3, 2\nldindw %r3, 0\nexit", &mut pkt),
        0x3344_5566
    );
}

#[test]
fn legacy_packet_loads_out_of_bounds_end_the_program_with_zero() {
    let mut pkt = [0x11u8, 0x22, 0x33, 0x44];
    for src in [
        "mov %r0, 7\nldabsw 1\nmov %r0, 9\nexit",
        "mov %r0, 7\nldabsb 4\nmov %r0, 9\nexit",
        "mov %r0, 7\nmov %r3, -1\nldindb %r3, 0\nmov %r0, 9\nexit",
        "mov %r0, 7\nmov %r3, 3\nldindh %r3, 0\nmov %r0, 9\nexit",
    ] {
        assert_eq!(run_mem(src, &mut pkt), 0, "{src}");
    }
    assert_eq!(run("mov %r0, 7\nldabsb 0\nexit"), 0, "no packet at all");
}
