//! The verifier's soundness: a program it accepts must never trip a
//! run-time check of the checking interpreter. Each input is either a seed
//! for the generator of near-valid XDP programs (ebpf-core's
//! `tests/common/xdp_gen.rs`), or, when it is long, raw instructions; the
//! program's maps are a hash map and an array, and it runs on packets made
//! from the input.
#![no_main]

#[path = "../../../ebpf-core/tests/common/xdp_gen.rs"]
#[allow(dead_code)]
mod xdp_gen;

use ebpf_core::maps::{Map, MapAttr, MapType};
use ebpf_core::verifier::{self, MapDesc, Subject};
use ebpf_core::{
    Insn, LoadOptions, LoadedProgram, MemoryMap, ProgType, ProgramMaps, RegionKind, Shared, Stack,
};
use libebpf_ioctl::UserPlatform;

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

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let p = UserPlatform::get();
    let hash = Shared::try_new(Map::create(p, &MapAttr::new(MapType::Hash, 4, 16, 8), 1).unwrap())
        .unwrap();
    let array =
        Shared::try_new(Map::create(p, &MapAttr::new(MapType::Array, 4, 32, 1), 2).unwrap())
            .unwrap();
    hash.update(&0u32.to_ne_bytes(), &[0x5a; 16], 0).unwrap();
    let mut seed = [0u8; 8];
    let n = data.len().min(8);
    seed[..n].copy_from_slice(&data[..n]);
    let mut rng = xdp_gen::Rng(u64::from_le_bytes(seed) | 1);
    let insns: Vec<Insn> = if data.len() >= 24 && data[0] & 1 == 1 {
        data[8..]
            .chunks_exact(8)
            .map(|c| Insn::from_bytes(c.try_into().unwrap()))
            .collect()
    } else {
        xdp_gen::program(&mut rng)
    };
    let Ok(prog) = LoadedProgram::load(
        p,
        1,
        ProgType::Xdp,
        &insns,
        ProgramMaps::from_list(vec![hash.clone(), array.clone()]),
        LoadOptions::default().budget(200_000),
    ) else {
        return;
    };
    let descs = [desc(&hash), desc(&array)];
    let subject = Subject {
        prog_type: ProgType::Xdp,
        gpl: true,
        maps: &descs,
        map_of_lddw: &|_, imm| usize::try_from(imm).ok().filter(|&i| i < 2),
    };
    let mut log = String::new();
    if verifier::verify(&insns, &subject, &mut log, 1).is_err() {
        return;
    }
    let mut stack = Stack::new();
    for _ in 0..4 {
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
            panic!("verifier accepted a program that fails at run time: {e}\n{insns:?}\n{log}");
        }
    }
});
