//! The verifier's soundness, tested: random XDP programs near the edge of
//! what it accepts (`common/xdp_gen.rs`); every program it accepts runs in
//! the checking interpreter on random packets and must never trip a
//! run-time check (an access outside its memory, a misaligned atomic, the
//! instruction budget, a helper's pointer check). The `verifier` fuzz
//! target runs the same check for longer (`make fuzz`).

mod common;
#[path = "common/xdp_gen.rs"]
mod xdp_gen;

use common::platform::TestPlatform;
use ebpf_core::maps::{Map, MapAttr, MapType};
use ebpf_core::verifier::{self, MapDesc, Subject};
use ebpf_core::{
    asm, LoadOptions, LoadedProgram, MemoryMap, ProgType, ProgramMaps, RegionKind, Shared, Stack,
};
use xdp_gen::Rng;

fn desc(m: &Map) -> MapDesc {
    let a = m.attr();
    MapDesc {
        map_type: a.map_type,
        key_size: a.key_size,
        value_size: a.value_size,
        max_entries: a.max_entries,
        flags: a.flags,
        inner: None,
    }
}

/// Generates `count` programs from `seed`; returns how many the verifier
/// accepted and how many runs they made.
fn check(seed: u64, count: usize) -> (usize, usize) {
    let p = TestPlatform::new(2);
    let hash = Shared::try_new(Map::create(p, &MapAttr::new(MapType::Hash, 4, 16, 8), 1).unwrap())
        .unwrap();
    let array =
        Shared::try_new(Map::create(p, &MapAttr::new(MapType::Array, 4, 32, 1), 2).unwrap())
            .unwrap();
    for k in 0..2u32 {
        hash.update(&k.to_ne_bytes(), &[0x5a; 16], 0).unwrap();
    }
    let descs = [desc(&hash), desc(&array)];
    let subject = Subject {
        prog_type: ProgType::Xdp,
        gpl: true,
        maps: &descs,
        map_of_lddw: &|_, imm| usize::try_from(imm).ok().filter(|&i| i < 2),
    };
    let mut rng = Rng(seed);
    let mut stack = Stack::new();
    let (mut accepted, mut runs) = (0, 0);
    for _ in 0..count {
        let insns = xdp_gen::program(&mut rng);
        // Structurally valid and convertible, as the loader would take it.
        let Ok(prog) = LoadedProgram::load(
            p,
            1,
            ProgType::Xdp,
            &insns,
            ProgramMaps::from_list(vec![hash.clone(), array.clone()]),
            LoadOptions::default().budget(100_000),
        ) else {
            continue;
        };
        let mut log = String::new();
        if let Err(e) = verifier::verify(&insns, &subject, &mut log, 1) {
            if std::env::var("SHOW_REJECTS").is_ok() {
                let r = e.reason.to_string();
                let words: String = r.chars().take(40).collect();
                println!("REJECT {words}");
            }
            continue;
        }
        accepted += 1;
        for _ in 0..6 {
            let len = rng.below(80) as usize;
            let mut packet: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut mem = MemoryMap::new();
            let (addr, n) = if packet.is_empty() {
                (0, 0)
            } else {
                let n = packet.len() as u64;
                (mem.add_mut(&mut packet, RegionKind::Packet).unwrap(), n)
            };
            let input = ProgType::Xdp.test_input(addr, n);
            let args = input.args(&mut mem, addr, n).unwrap();
            if let Err(e) = prog.run(&mut stack, &mem, args) {
                panic!(
                    "the verifier accepted a program that fails at run time ({e}) on {len} bytes:\n{}\n{log}",
                    asm::disassemble(&insns).join("\n")
                );
            }
            runs += 1;
        }
    }
    (accepted, runs)
}

#[test]
fn accepted_programs_never_trip_a_run_time_check() {
    let (accepted, runs) = check(0x5eed_0f7e_5700, 4000);
    println!("{accepted} of 4000 programs accepted, {runs} runs, none tripped a check");
    // The generator reaches both sides of the line.
    assert!(
        accepted > 400,
        "only {accepted} accepted: the test would prove little"
    );
    assert!(
        accepted < 3600,
        "{accepted} accepted: the generator makes no unsafe programs"
    );
}
