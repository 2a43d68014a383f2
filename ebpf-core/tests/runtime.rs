//! Programs calling Linux's helpers on real maps: lookups that hand out
//! value pointers, updates, tail calls and their limit, map-in-map, ring
//! buffers, queues, callbacks (`bpf_loop`, `bpf_for_each_map_elem`),
//! formatting and the platform helpers.

mod common;

use common::assemble;
use common::platform::TestPlatform;
use ebpf_core::maps::update::BPF_ANY;
use ebpf_core::maps::{InnerTemplate, Map, MapAttr, MapObject, MapType};
use ebpf_core::prog_type::TestFrame;
use ebpf_core::{
    AccessKind, Errno, HelperError, LoadError, LoadOptions, LoadedProgram, MemoryMap, RegionKind,
    RunError, Shared, Stack,
};

fn map(p: &'static TestPlatform, attr: MapAttr, id: u32) -> Shared<Map> {
    Shared::try_new(Map::create(p, &attr, id).unwrap()).unwrap()
}

fn try_load(
    p: &'static TestPlatform,
    src: &str,
    maps: &[&Shared<Map>],
) -> Result<LoadedProgram, LoadError> {
    let maps: Vec<_> = maps.iter().map(|m| (*m).clone()).collect();
    LoadedProgram::load(
        p,
        1,
        ebpf_core::ProgType::Generic,
        &assemble(src),
        ebpf_core::ProgramMaps::from_list(maps),
        LoadOptions::default(),
    )
}

fn load(p: &'static TestPlatform, src: &str, maps: &[&Shared<Map>]) -> Shared<LoadedProgram> {
    Shared::try_new(try_load(p, src, maps).unwrap_or_else(|e| panic!("{e}\n{src}"))).unwrap()
}

fn run_ctx(prog: &LoadedProgram, ctx: &mut [u8]) -> Result<u64, RunError> {
    let mut mem = MemoryMap::new();
    let addr = mem.add_mut(ctx, RegionKind::Context).unwrap();
    prog.run(&mut Stack::new(), &mem, [addr, 0, 0, 0, 0])
}

fn run(prog: &LoadedProgram) -> Result<u64, RunError> {
    run_ctx(prog, &mut [0u8; 8])
}

fn get_u64(m: &Map, key: u32) -> u64 {
    let mut v = [0u8; 8];
    m.lookup(&key.to_ne_bytes(), &mut v, 0).unwrap();
    u64::from_ne_bytes(v)
}

/// r0 = &map[key] or exits with 0; key in r2's slot at fp-4.
const LOOKUP_0: &str = "
    stw [%r10-4], 0
    mov %r2, %r10
    add %r2, -4
    lddw %r1, map_idx(0)
    call 1
    jne %r0, 0, +1
    exit
";

#[test]
fn lookup_hands_out_the_real_value_and_bounds_it() {
    let p = TestPlatform::new(2);
    let counters = map(p, MapAttr::new(MapType::Array, 4, 8, 1), 1);
    let inc = load(
        p,
        &format!("{LOOKUP_0}\n mov %r1, 1\n lock add [%r0], %r1\n mov %r0, 1\n exit"),
        &[&counters],
    );
    run(&inc).unwrap();
    assert_eq!(
        inc.stats().get(),
        (0, 0),
        "stats are off by default, as on Linux"
    );
    inc.stats().enable(true);
    for _ in 0..9 {
        assert_eq!(run(&inc), Ok(1));
    }
    assert_eq!(
        get_u64(&counters, 0),
        10,
        "the program wrote the map's own memory"
    );
    let (runs, ns) = inc.stats().get();
    assert_eq!(runs, 9);
    assert!(ns > 0);

    let past = load(
        p,
        &format!("{LOOKUP_0}\n ldxdw %r0, [%r0+8]\n exit"),
        &[&counters],
    );
    match run(&past) {
        Err(RunError::OutOfBounds {
            size: 8,
            kind: AccessKind::Load,
            ..
        }) => {}
        other => panic!("reading past the value must fail: {other:?}"),
    }
    let before = load(
        p,
        &format!("{LOOKUP_0}\n stb [%r0-1], 1\n exit"),
        &[&counters],
    );
    assert!(matches!(
        run(&before),
        Err(RunError::OutOfBounds {
            kind: AccessKind::Store,
            ..
        })
    ));

    // A missing key gives NULL.
    let h = map(p, MapAttr::new(MapType::Hash, 4, 8, 4), 2);
    let miss = load(p, &format!("{LOOKUP_0}\n mov %r0, 7\n exit"), &[&h]);
    assert_eq!(run(&miss), Ok(0));
}

#[test]
fn update_and_delete_from_programs_return_linux_errnos() {
    let p = TestPlatform::new(1);
    let h = map(p, MapAttr::new(MapType::Hash, 4, 8, 1), 1);
    let src = "
        stw [%r10-4], 5          ; key
        stdw [%r10-16], 99       ; value
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -4
        mov %r3, %r10
        add %r3, -16
        mov %r4, 1               ; BPF_NOEXIST
        call 2
        exit";
    let upd = load(p, src, &[&h]);
    assert_eq!(run(&upd), Ok(0));
    assert_eq!(
        run(&upd),
        Ok(Errno::EEXIST.to_helper_ret()),
        "-EEXIST the second time"
    );
    assert_eq!(get_u64(&h, 5), 99);
    let del = load(
        p,
        "stw [%r10-4], 5\n lddw %r1, map_idx(0)\n mov %r2, %r10\n add %r2, -4\n call 3\n exit",
        &[&h],
    );
    assert_eq!(run(&del), Ok(0));
    assert_eq!(run(&del), Ok(Errno::ENOENT.to_helper_ret()));
    // A key pointer outside the program's memory ends the run.
    let bad = load(
        p,
        "lddw %r1, map_idx(0)\n mov %r2, 16\n call 3\n exit",
        &[&h],
    );
    assert!(matches!(
        run(&bad),
        Err(RunError::Helper {
            id: 3,
            error: HelperError::BadPointer { addr: 16, len: 4 },
            ..
        })
    ));
    // A map pointer that is not one of the program's maps ends it too.
    let forged = load(p, "mov %r1, %r10\n mov %r2, %r10\n call 1\n exit", &[]);
    assert!(matches!(run(&forged), Err(RunError::Helper { id: 1, .. })));
}

#[test]
fn load_refuses_unknown_helpers_and_maps() {
    let p = TestPlatform::new(1);
    assert_eq!(
        try_load(p, "call 9999\n exit", &[]).err(),
        Some(LoadError::UnknownHelper { pc: 0, id: 9999 })
    );
    assert!(matches!(
        try_load(p, "lddw %r1, map_idx(1)\n mov %r0, 0\n exit", &[]).err(),
        Some(LoadError::BadMapReference { pc: 0, map: 1, .. })
    ));
    let a = map(p, MapAttr::new(MapType::Array, 4, 8, 1), 1);
    assert!(
        matches!(
            try_load(
                p,
                "lddw %r1, map_idx_value(0, 8)\n mov %r0, 0\n exit",
                &[&a]
            )
            .err(),
            Some(LoadError::BadMapReference { offset: 8, .. })
        ),
        "value offset past the value"
    );
    // Global data: the address of the value itself.
    let g = load(
        p,
        "lddw %r1, map_idx_value(0, 4)\n stw [%r1], 7\n mov %r0, 0\n exit",
        &[&a],
    );
    run(&g).unwrap();
    assert_eq!(get_u64(&a, 0), 7 << 32);
}

#[test]
fn tail_calls_replace_the_program_up_to_33_times() {
    let p = TestPlatform::new(1);
    let jumps = map(p, MapAttr::new(MapType::ProgArray, 4, 4, 2), 1);
    let count = map(p, MapAttr::new(MapType::Array, 4, 8, 1), 2);
    // Counts itself, then tail-calls slot 0 (itself) until the limit; the
    // failed tail call returns, and the program exits with 1000.
    let src = format!(
        "mov %r6, %r1
         {LOOKUP_0}
         mov %r1, 1
         lock add [%r0], %r1
         mov %r1, %r6
         lddw %r2, map_idx(1)
         mov %r3, 0
         call 12
         mov %r0, 1000
         exit"
    );
    let selfcall = load(p, &src, &[&count, &jumps]);
    jumps
        .update_object(
            &0u32.to_ne_bytes(),
            MapObject::Program(selfcall.clone().into()),
            BPF_ANY,
        )
        .unwrap();
    assert_eq!(run(&selfcall), Ok(1000));
    assert_eq!(get_u64(&count, 0), 34, "the first run plus 33 tail calls");
    // Tail call into an empty slot falls through.
    let empty = load(
        p,
        "lddw %r2, map_idx(0)\n mov %r3, 1\n call 12\n exit",
        &[&jumps],
    );
    assert_eq!(run(&empty), Ok(Errno::ENOENT.to_helper_ret()));
    // The target starts with the caller's context in r1.
    let reader = load(p, "ldxb %r0, [%r1+3]\n exit", &[]);
    jumps
        .update_object(
            &1u32.to_ne_bytes(),
            MapObject::Program(reader.into()),
            BPF_ANY,
        )
        .unwrap();
    let mut ctx = [0, 0, 0, 42, 0, 0, 0, 0];
    assert_eq!(run_ctx(&empty, &mut ctx), Ok(42));
    // Break the cycle selfcall -> jumps -> selfcall, as the last user
    // reference to a prog_array does.
    jumps.release_objects();
}

#[test]
fn map_in_map_lookups_reach_the_inner_map() {
    let p = TestPlatform::new(1);
    let inner = map(p, MapAttr::new(MapType::Array, 4, 8, 1), 7);
    let mut attr = MapAttr::new(MapType::HashOfMaps, 4, 4, 4);
    attr.inner = Some(InnerTemplate {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: 0,
        record: Default::default(),
    });
    let outer = map(p, attr, 8);
    outer
        .update_object(&3u32.to_ne_bytes(), MapObject::Map(inner.clone()), BPF_ANY)
        .unwrap();
    let src = "
        stw [%r10-4], 3
        mov %r2, %r10
        add %r2, -4
        lddw %r1, map_idx(0)
        call 1                  ; r0 = inner map
        jeq %r0, 0, miss
        mov %r1, %r0
        stw [%r10-8], 0
        mov %r2, %r10
        add %r2, -8
        call 1                  ; r0 = &inner[0]
        jeq %r0, 0, miss
        stdw [%r0], 555
        mov %r0, 1
        exit
    miss:
        mov %r0, 0
        exit";
    let prog = load(p, src, &[&outer]);
    assert_eq!(run(&prog), Ok(1));
    assert_eq!(get_u64(&inner, 0), 555);
    outer.delete(&3u32.to_ne_bytes()).unwrap();
    assert_eq!(run(&prog), Ok(0), "gone from the outer map");
}

#[test]
fn ringbuf_records_from_programs_reach_the_consumer() {
    let p = TestPlatform::new(1);
    let rb = map(p, MapAttr::new(MapType::RingBuf, 0, 0, 4096), 1);
    let src = "
        lddw %r1, map_idx(0)
        mov %r2, 8
        mov %r3, 0
        call 131                ; reserve 8
        jeq %r0, 0, out
        stdw [%r0], 0x1122
        mov %r1, %r0
        mov %r2, 0
        call 132                ; submit
        lddw %r1, map_idx(0)
        mov %r2, 16
        mov %r3, 0
        call 131                ; reserved and never submitted
        stdw [%r10-8], 0x3344
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -8
        mov %r3, 8
        mov %r4, 0
        call 130                ; output
        lddw %r1, map_idx(0)
        mov %r2, 0
        call 134                ; BPF_RB_AVAIL_DATA
    out:
        exit";
    let prog = load(p, src, &[&rb]);
    assert_eq!(run(&prog), Ok(16 + 24 + 16), "three records with headers");
    let mut got = Vec::new();
    rb.ringbuf().unwrap().consume(&mut |r| {
        got.push(u64::from_ne_bytes(r.try_into().unwrap()));
        true
    });
    assert_eq!(
        got,
        [0x1122, 0x3344],
        "the forgotten record was discarded at exit"
    );
    // Writing past a reserved record is refused.
    let over = load(p, "lddw %r1, map_idx(0)\n mov %r2, 8\n mov %r3, 0\n call 131\n jeq %r0, 0, +1\n stdw [%r0+8], 1\n exit", &[&rb]);
    assert!(matches!(run(&over), Err(RunError::OutOfBounds { .. })));
    assert_eq!(
        rb.ringbuf().unwrap().consume(&mut |_| true),
        0,
        "and the record was discarded"
    );
}

#[test]
fn queue_helpers_push_pop_and_peek() {
    let p = TestPlatform::new(1);
    let q = map(p, MapAttr::new(MapType::Stack, 0, 8, 4), 1);
    let src = "
        stdw [%r10-8], 11
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -8
        mov %r3, 0
        call 87                 ; push 11
        stdw [%r10-8], 22
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -8
        mov %r3, 0
        call 87                 ; push 22
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -16
        call 89                 ; peek -> 22
        lddw %r1, map_idx(0)
        mov %r2, %r10
        add %r2, -24
        call 88                 ; pop -> 22
        ldxdw %r6, [%r10-16]
        ldxdw %r7, [%r10-24]
        mul %r6, 100
        add %r6, %r7
        mov %r0, %r6
        exit";
    assert_eq!(run(&load(p, src, &[&q])), Ok(22 * 100 + 22));
    let mut v = [0u8; 8];
    q.lookup_and_delete(&[], &mut v, 0).unwrap();
    assert_eq!(u64::from_ne_bytes(v), 11);
    let empty = load(
        p,
        "lddw %r1, map_idx(0)\n mov %r2, %r10\n add %r2, -8\n call 88\n exit",
        &[&q],
    );
    assert_eq!(run(&empty), Ok(Errno::ENOENT.to_helper_ret()));
}

#[test]
fn bpf_loop_calls_back_until_told_to_stop() {
    let p = TestPlatform::new(1);
    // Sums i for i in 0..10 into a u64 on the caller's stack.
    let src = "
        stdw [%r10-8], 0
        mov %r1, 10
        lddw %r2, func(body)
        mov %r3, %r10
        add %r3, -8
        mov %r4, 0
        call 181
        ldxdw %r1, [%r10-8]
        lsh %r0, 32
        or %r0, %r1
        exit
    body:
        ldxdw %r3, [%r2]
        add %r3, %r1
        stxdw [%r2], %r3
        mov %r0, 0
        jne %r1, 100, +1
        mov %r0, 1
        exit";
    assert_eq!(run(&load(p, src, &[])), Ok((10 << 32) | 45));
    let stop = src.replace("jne %r1, 100", "jne %r1, 4");
    assert_eq!(
        run(&load(p, &stop, &[])),
        Ok((5 << 32) | 10),
        "returns the iterations done"
    );
    let too_many = src.replace("mov %r1, 10", "lddw %r1, 0x800001");
    assert_eq!(
        run(&load(p, &too_many, &[])).unwrap() >> 32,
        Errno::E2BIG.to_helper_ret() & 0xffff_ffff
    );
    let not_a_function = src.replace("lddw %r2, func(body)", "mov %r2, 3");
    assert!(matches!(
        run(&load(p, &not_a_function, &[])),
        Err(RunError::Helper {
            id: 181,
            error: HelperError::BadCallback(3),
            ..
        })
    ));
    // A callback's failure is the run's failure, with the callee's pc.
    let faulting = src.replace("ldxdw %r3, [%r2]", "ldxdw %r3, [%r1]");
    assert!(matches!(
        run(&load(p, &faulting, &[])),
        Err(RunError::OutOfBounds {
            pc: 12,
            addr: 0,
            ..
        })
    ));
}

#[test]
fn for_each_map_elem_visits_every_element() {
    let p = TestPlatform::new(1);
    let h = map(p, MapAttr::new(MapType::Hash, 4, 8, 16), 1);
    for k in 1..=5u32 {
        h.update(&k.to_ne_bytes(), &(k as u64 * 10).to_ne_bytes(), BPF_ANY)
            .unwrap();
    }
    // Sums keys * 1000 + values; the callback doubles each value in place.
    let src = "
        stdw [%r10-8], 0
        lddw %r1, map_idx(0)
        lddw %r2, func(cb)
        mov %r3, %r10
        add %r3, -8
        mov %r4, 0
        call 164
        ldxdw %r1, [%r10-8]
        mov %r0, %r1
        exit
    cb:
        ldxw %r6, [%r2]
        mul %r6, 1000
        ldxdw %r7, [%r3]
        add %r6, %r7
        lsh %r7, 1
        stxdw [%r3], %r7
        ldxdw %r8, [%r4]
        add %r8, %r6
        stxdw [%r4], %r8
        mov %r0, 0
        exit";
    assert_eq!(run(&load(p, src, &[&h])), Ok(15_000 + 150));
    assert_eq!(get_u64(&h, 3), 60, "values were writable");
    // Keys are read-only to the callback.
    let write_key = src.replace("ldxw %r6, [%r2]", "stw [%r2], 1");
    assert!(matches!(
        run(&load(p, &write_key, &[&h])),
        Err(RunError::OutOfBounds {
            kind: AccessKind::Store,
            ..
        })
    ));
}

#[test]
fn formatting_helpers() {
    let p = TestPlatform::new(1);
    // "n=%d s=%s\0" on the stack, then snprintf into 32 bytes of stack.
    let fmt = b"n=%d s=%s\0";
    let mut stores = String::new();
    for (i, b) in fmt.iter().enumerate() {
        stores.push_str(&format!("stb [%r10-{}], {}\n", 64 - i, b));
    }
    let word = b"ok\0";
    for (i, b) in word.iter().enumerate() {
        stores.push_str(&format!("stb [%r10-{}], {}\n", 48 - i, b));
    }
    let prog = format!(
        "{stores}
        stdw [%r10-40], -7         ; data[0] = -7
        mov %r1, %r10
        add %r1, -48
        stxdw [%r10-32], %r1        ; data[1] = &\"ok\"
        mov %r1, %r10
        add %r1, -128              ; out
        mov %r2, 32
        mov %r3, %r10
        add %r3, -64               ; fmt
        mov %r4, %r10
        add %r4, -40               ; data
        mov %r5, 16
        call 165
        mov %r6, %r0
        mov %r1, %r10
        add %r1, -128
        mov %r2, 12
        mov %r3, 0
        mov %r4, 0
        mov %r5, 0
        call 6                     ; trace_printk(out)
        mov %r0, %r6
        exit"
    );
    let prog = load(p, &prog, &[]);
    assert_eq!(run(&prog), Ok(10), "strlen(\"n=-7 s=ok\") + 1");
    assert_eq!(p.trace.lock().unwrap().as_slice(), ["n=-7 s=ok"]);
}

#[test]
fn platform_helpers() {
    let p = TestPlatform::new(4);
    TestPlatform::set_cpu(3);
    assert_eq!(
        run(&load(p, "call 8\n exit", &[])),
        Ok(3),
        "smp_processor_id"
    );
    assert_eq!(run(&load(p, "call 42\n exit", &[])), Ok(0), "numa node");
    let t = load(
        p,
        "call 5\n mov %r6, %r0\n call 5\n sub %r0, %r6\n exit",
        &[],
    );
    assert!(run(&t).unwrap() > 0, "ktime_get_ns advances");
    for id in [118, 125, 160] {
        assert!(run(&load(p, &format!("call {id}\n exit"), &[])).is_ok());
    }
    // bpf_ktime_get_tai_ns: the platform's TAI clock (this one's epoch is
    // 2026-01-01), not the monotonic one.
    let tai = run(&load(p, "call 208\n exit", &[])).unwrap();
    assert!(tai > 1_767_225_600_000_000_000, "{tai}");
    let r = load(
        p,
        "call 7\n mov %r6, %r0\n call 7\n xor %r0, %r6\n exit",
        &[],
    );
    assert_ne!(run(&r), Ok(0), "two random numbers differ");
    TestPlatform::set_cpu(0);
}

#[test]
fn per_cpu_lookups_see_the_running_cpu() {
    let p = TestPlatform::new(2);
    let pc = map(p, MapAttr::new(MapType::PercpuArray, 4, 8, 1), 1);
    let inc = load(
        p,
        &format!("{LOOKUP_0}\n mov %r1, 1\n lock add [%r0], %r1\n mov %r0, 0\n exit"),
        &[&pc],
    );
    TestPlatform::set_cpu(1);
    for _ in 0..3 {
        run(&inc).unwrap();
    }
    TestPlatform::set_cpu(0);
    run(&inc).unwrap();
    let mut v = [0u8; 16];
    pc.lookup(&0u32.to_ne_bytes(), &mut v, 0).unwrap();
    assert_eq!(
        (
            u64::from_ne_bytes(v[..8].try_into().unwrap()),
            u64::from_ne_bytes(v[8..].try_into().unwrap())
        ),
        (1, 3)
    );
}

#[test]
fn nothing_leaks_after_programs_and_maps_go() {
    let p = TestPlatform::new(2);
    {
        let h = map(p, MapAttr::new(MapType::Hash, 4, 8, 8), 1);
        let rb = map(p, MapAttr::new(MapType::RingBuf, 0, 0, 4096), 2);
        let jumps = map(p, MapAttr::new(MapType::ProgArray, 4, 4, 1), 3);
        let prog = load(p, &format!("{LOOKUP_0}\n exit"), &[&h, &rb, &jumps]);
        jumps
            .update_object(
                &0u32.to_ne_bytes(),
                MapObject::Program(prog.clone().into()),
                BPF_ANY,
            )
            .unwrap();
        run(&prog).unwrap();
        jumps.release_objects();
    }
    p.assert_no_leaks();
}

/// Found by the dispatcher fuzzer (twice): the XDP context analysis added a
/// store's size to its offset in 16 bits, and negated a load's offset, so a
/// stack access at an offset near i16::MAX or at i16::MIN overflowed (a
/// kernel built with overflow checks panics). Every offset must load or be
/// refused, never panic.
#[test]
fn xdp_context_analysis_takes_every_store_offset() {
    let p = TestPlatform::new(1);
    for off in [i16::MAX, i16::MAX - 1, i16::MAX - 7, i16::MIN, -1, 0] {
        for access in [
            "stb [%r10{off}], 0",
            "stdw [%r10{off}], 0",
            "ldxdw %r1, [%r10{off}]",
        ]
        .iter()
        .chain(&[
            "ldxb %r1, [%r10{off}]",
            "sth [%r10{off}], 0",
            "stw [%r10{off}], 0",
        ]) {
            let access = access.replace("{off}", &format!("{off:+}"));
            let src = format!("{access}\nmov %r0, 2\nexit");
            let insns = assemble(&src);
            let _ = LoadedProgram::load(
                p,
                1,
                ebpf_core::ProgType::Xdp,
                &insns,
                ebpf_core::ProgramMaps::from_list(Vec::new()),
                LoadOptions::default(),
            );
        }
    }
}

#[test]
fn a_verified_program_tail_calling_a_checked_one_keeps_the_checked_ones_budget() {
    use ebpf_core::load::Admission;
    use ebpf_core::{ProgType, ProgramMaps};
    let p = TestPlatform::new(1);
    let jumps = map(p, MapAttr::new(MapType::ProgArray, 4, 4, 1), 1);
    let (caller, verdict) = LoadedProgram::admit(
        p,
        1,
        ProgType::Xdp,
        &assemble("lddw %r2, map_idx(0)\nmov %r3, 0\ncall 12\nmov %r0, 2\nexit"),
        ProgramMaps::from_list(vec![jumps.clone()]),
        LoadOptions::default(),
        Admission {
            gpl: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(verdict, ebpf_core::load::Verdict::Verified(_)));
    assert!(caller.is_verified());
    // Checked (`load` never verifies), and never ends.
    let spin = Shared::try_new(
        LoadedProgram::load(
            p,
            2,
            ProgType::Xdp,
            &assemble("mov %r0, 0\nl: ja l\nexit"),
            ProgramMaps::from_list(Vec::new()),
            LoadOptions::default(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(!spin.is_verified());
    jumps
        .update_object(
            &0u32.to_ne_bytes(),
            MapObject::Program(spin.into()),
            BPF_ANY,
        )
        .unwrap();
    let packet = [0u8; 4];
    let mut input = ProgType::Xdp.test_input(&packet);
    let mut frame = TestFrame::new(&packet, 0).unwrap();
    let mut mem = MemoryMap::new();
    let args = input.args(&mut mem, &mut frame).unwrap();
    let r = caller.run(&mut Stack::new(), &mem, args);
    assert!(
        matches!(r, Err(RunError::BudgetExhausted { .. })),
        "the chain stops at the checked program's budget: {r:?}"
    );
    jumps.release_objects();
}

#[test]
fn a_tail_call_passes_on_only_the_runs_own_context_to_a_program_of_its_type() {
    use ebpf_core::load::Admission;
    use ebpf_core::{ProgType, ProgramMaps};
    let p = TestPlatform::new(1);
    let jumps = map(p, MapAttr::new(MapType::ProgArray, 4, 4, 2), 1);
    // Slot 0: a verified XDP program that trusts its r1 to be the context.
    let (target, _) = LoadedProgram::admit(
        p,
        1,
        ProgType::Xdp,
        &assemble("ldxw %r0, [%r1+12]\nexit"),
        ProgramMaps::from_list(Vec::new()),
        LoadOptions::default(),
        Admission {
            gpl: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(target.is_verified());
    let target = Shared::try_new(target).unwrap();
    jumps
        .update_object(
            &0u32.to_ne_bytes(),
            MapObject::Program(target.into()),
            BPF_ANY,
        )
        .unwrap();
    // Checked XDP callers: one passes its context on, one a forged one.
    let caller = |src: &str| {
        Shared::try_new(
            LoadedProgram::load(
                p,
                3,
                ProgType::Xdp,
                &assemble(src),
                ProgramMaps::from_list(vec![jumps.clone()]),
                LoadOptions::default(),
            )
            .unwrap(),
        )
        .unwrap()
    };
    let honest = caller("lddw %r2, map_idx(0)\nmov %r3, 0\ncall 12\nmov %r0, 99\nexit");
    let forger = caller("mov %r1, 4096\nlddw %r2, map_idx(0)\nmov %r3, 0\ncall 12\nexit");
    let packet = [0u8; 4];
    let mut input = ProgType::Xdp.test_input(&packet);
    let mut frame = TestFrame::new(&packet, 0).unwrap();
    let mut mem = MemoryMap::new();
    let args = input.args(&mut mem, &mut frame).unwrap();
    let mut stack = Stack::new();
    assert_eq!(
        honest.run(&mut stack, &mem, args),
        Ok(1),
        "ingress_ifindex of the test run: the loopback device"
    );
    assert_eq!(
        forger.run(&mut stack, &mem, args),
        Ok(Errno::EINVAL.to_helper_ret()),
        "a forged context is refused; the target never sees it"
    );
    // A program of another type may not be tail-called into either.
    let generic = load(
        p,
        "lddw %r2, map_idx(0)\nmov %r3, 0\ncall 12\nexit",
        &[&jumps],
    );
    let mut data = [0u8; 8];
    assert_eq!(
        run_ctx(&generic, &mut data),
        Ok(Errno::EINVAL.to_helper_ret())
    );
    jumps.release_objects();
}

#[test]
fn socket_lookups_are_refused_where_the_platform_hides_its_sockets() {
    use ebpf_core::load::Admission;
    use ebpf_core::{LoadError, ProgType, ProgramMaps};
    // The test platform keeps the default: its sockets are not shown.
    let p = TestPlatform::new(1);
    let lookup = "stdw [%r10-16], 0\nstw [%r10-8], 0\nmov %r2, %r10\nadd %r2, -16\nmov %r3, 12\n\
                  mov %r4, -1\nmov %r5, 0\ncall 84\njeq %r0, 0, out\nmov %r1, %r0\ncall 86\n\
                  out: mov %r0, 2\nexit";
    let err = LoadedProgram::admit(
        p,
        1,
        ProgType::Xdp,
        &assemble(lookup),
        ProgramMaps::from_list(Vec::new()),
        LoadOptions::default(),
        Admission {
            gpl: true,
            ..Default::default()
        },
    )
    .err()
    .expect("refused");
    assert_eq!(
        err,
        LoadError::SocketsHidden {
            pc: 7,
            name: "bpf_sk_lookup_tcp"
        }
    );
    assert_eq!(
        err.to_string(),
        "insn 7: helper bpf_sk_lookup_tcp needs the kernel's sockets, which this platform does not show the runtime: not provided here"
    );
    p.assert_no_leaks();
}
