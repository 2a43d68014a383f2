//! Arbitrary instructions loaded as a program using one map of every type,
//! run in the checking interpreter while another thread updates and
//! deletes the same maps (and swaps inner maps). Load and run errors are
//! fine; a crash, a hang or a sanitizer report is not.
#![no_main]

use ebpf_core::maps::update::BPF_ANY;
use ebpf_core::maps::{InnerTemplate, Map, MapAttr, MapObject, MapType};
use ebpf_core::{Insn, LoadOptions, LoadedProgram, MemoryMap, Shared, Stack};
use libebpf_ioctl::UserPlatform;
use std::sync::{Mutex, Once};

fn maps() -> Vec<Shared<Map>> {
    let p = UserPlatform::get();
    let template = InnerTemplate {
        map_type: MapType::Array,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        flags: 0,
        record: Default::default(),
    };
    let shapes = [
        MapAttr::new(MapType::Array, 4, 8, 4),
        MapAttr::new(MapType::PercpuArray, 4, 8, 4),
        MapAttr::new(MapType::Hash, 4, 8, 4),
        MapAttr::new(MapType::PercpuHash, 4, 8, 4),
        MapAttr::new(MapType::LruHash, 4, 8, 4),
        MapAttr::new(MapType::LruPercpuHash, 4, 8, 4),
        MapAttr::new(MapType::LpmTrie, 8, 8, 4).with_flags(1),
        MapAttr::new(MapType::Queue, 0, 8, 4),
        MapAttr::new(MapType::Stack, 0, 8, 4),
        MapAttr::new(MapType::RingBuf, 0, 0, 4096),
        MapAttr::new(MapType::ProgArray, 4, 4, 4),
        MapAttr {
            inner: Some(template),
            ..MapAttr::new(MapType::ArrayOfMaps, 4, 4, 4)
        },
        MapAttr {
            inner: Some(template),
            ..MapAttr::new(MapType::HashOfMaps, 4, 4, 4)
        },
    ];
    shapes
        .iter()
        .enumerate()
        .map(|(i, a)| Shared::try_new(Map::create(p, a, i as u32 + 1).unwrap()).unwrap())
        .collect()
}

/// What userspace does meanwhile: every map written and emptied.
fn churn(maps: &[Shared<Map>], round: u32) {
    let p = UserPlatform::get();
    for m in maps {
        let k = (round % 4).to_ne_bytes();
        match m.map_type() {
            MapType::ArrayOfMaps | MapType::HashOfMaps => {
                let inner = Map::create(p, &MapAttr::new(MapType::Array, 4, 8, 4), 99).unwrap();
                let _ =
                    m.update_object(&k, MapObject::Map(Shared::try_new(inner).unwrap()), BPF_ANY);
                if round.is_multiple_of(3) {
                    let _ = m.delete(&k);
                }
            }
            MapType::ProgArray | MapType::RingBuf => {}
            MapType::Queue | MapType::Stack => {
                let _ = m.update(&[], &[round as u8; 8], BPF_ANY);
            }
            MapType::LpmTrie => {
                let mut key = [0u8; 8];
                key[..4].copy_from_slice(&(round % 33).to_ne_bytes());
                let _ = m.update(&key, &[1; 8], BPF_ANY);
                let _ = m.delete(&key);
            }
            _ => {
                let v = vec![round as u8; m.user_value_size()];
                let _ = m.update(&k, &v, BPF_ANY);
                let _ = m.delete(&k);
            }
        }
    }
}

/// The maps of the input being run, for the churning thread.
static CURRENT: Mutex<Option<Vec<Shared<Map>>>> = Mutex::new(None);

/// One long-lived thread churns the current input's maps (a thread per
/// input would leave glibc's thread-exit records to LeakSanitizer).
fn start_churner() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(|| {
            let mut round = 0u32;
            loop {
                let maps = CURRENT.lock().unwrap().clone();
                match maps {
                    Some(maps) => churn(&maps, round),
                    None => std::thread::yield_now(),
                }
                round = round.wrapping_add(1);
            }
        });
    });
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    start_churner();
    let insns: Vec<Insn> = data
        .chunks_exact(8)
        .map(|c| Insn::from_bytes(c.try_into().unwrap()))
        .collect();
    let maps = maps();
    let Ok(prog) = LoadedProgram::load(
        UserPlatform::get(),
        1,
        ebpf_core::ProgType::Generic,
        &insns,
        ebpf_core::ProgramMaps::from_list(maps.clone()),
        LoadOptions::default().budget(20_000),
    ) else {
        return;
    };
    *CURRENT.lock().unwrap() = Some(maps.clone());
    let mut stack = Stack::new();
    let mut packet = [0x11u8; 64];
    for _ in 0..4 {
        let mut mem = MemoryMap::new();
        let addr = mem
            .add_mut(&mut packet, ebpf_core::RegionKind::Packet)
            .unwrap();
        let _ = prog.run(&mut stack, &mem, [addr, 64, 0, 0, 0]);
    }
    *CURRENT.lock().unwrap() = None;
    for m in &maps {
        m.release_objects();
    }
});
