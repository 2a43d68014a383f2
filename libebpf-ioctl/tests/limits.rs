//! The device's limits hold for everything alive, whoever keeps an object
//! alive (a handle, a pin, a program using a map, a map-in-map or
//! prog_array slot), and hold exactly under concurrent creation.

use ebpf_core::dispatch::Limits;
use ebpf_core::{asm, Errno};
use libebpf_ioctl::{Ebpf, EmbeddedBackend, MapSpec, ProgSpec};

const ARRAY: u32 = 2;
const PROG_ARRAY: u32 = 3;
const ARRAY_OF_MAPS: u32 = 12;

fn device(limits: Limits) -> Ebpf {
    Ebpf::with_backend(Box::new(EmbeddedBackend::with_limits(limits).unwrap()))
}

fn array(value_size: u32) -> MapSpec {
    MapSpec {
        name: "a".into(),
        map_type: ARRAY,
        key_size: 4,
        value_size,
        max_entries: 1,
        ..Default::default()
    }
}

fn load(e: &Ebpf, src: &str, maps: &[u32]) -> Result<u32, Errno> {
    let code: Vec<u8> = asm::assemble(src)
        .unwrap()
        .iter()
        .flat_map(|i| i.to_bytes())
        .collect();
    e.prog_load(&ProgSpec {
        name: "p",
        prog_type: 0,
        bytecode: &code,
        license: "GPL",
        maps,
        obj_types: &[],
    })
    .map_err(|err| err.errno)
}

/// Refers to map 0 so that the program keeps it alive.
const USES_MAP: &str = "lddw %r1, map_idx(0)\nmov %r0, 0\nexit";

#[test]
fn maps_kept_alive_by_map_in_map_slots_count() {
    let e = device(Limits {
        max_maps: 8,
        ..Limits::default()
    });
    let template = e.map_create(&array(8)).unwrap();
    let outer = e
        .map_create(&MapSpec {
            name: "outer".into(),
            map_type: ARRAY_OF_MAPS,
            key_size: 4,
            value_size: 4,
            max_entries: 64,
            inner_map: Some(template),
            ..Default::default()
        })
        .unwrap();
    // Two maps are alive; six inner maps fit, each kept only by its slot.
    let mut made = 0;
    let err = loop {
        match e.map_create(&array(8)) {
            Ok(inner) => {
                e.map_update(outer, &(made as u32).to_ne_bytes(), &inner.to_ne_bytes(), 0)
                    .unwrap();
                e.close(inner).unwrap();
                made += 1;
                assert!(made <= 64, "the limit of 8 maps never applied");
            }
            Err(err) => break err.errno,
        }
    };
    assert_eq!((made, err), (6, Errno::ENOSPC));
    // Emptying a slot frees its map, and with it a place.
    e.map_delete(outer, &0u32.to_ne_bytes()).unwrap();
    let again = e.map_create(&array(8)).unwrap();
    assert_eq!(e.map_create(&array(8)).unwrap_err().errno, Errno::ENOSPC);
    e.close(again).unwrap();
    // Closing the outer map frees its five remaining inner maps.
    e.close(outer).unwrap();
    let many: Vec<u32> = (0..7).map(|_| e.map_create(&array(8)).unwrap()).collect();
    assert_eq!(e.map_create(&array(8)).unwrap_err().errno, Errno::ENOSPC);
    assert_eq!(many.len() + 1, 8, "template + 7");
}

#[test]
fn map_bytes_kept_alive_by_programs_count_exactly() {
    // Arrays of one 64 KiB value: 64 KiB of storage each.
    let big = array(64 << 10);
    let e = device(Limits {
        max_map_bytes: 3 * (64 << 10),
        ..Limits::default()
    });
    let mut progs = Vec::new();
    for _ in 0..3 {
        let m = e.map_create(&big).unwrap();
        progs.push(load(&e, USES_MAP, &[m]).unwrap());
        e.close(m).unwrap();
    }
    // Three maps are alive in programs: the limit is reached exactly.
    assert_eq!(e.map_create(&big).unwrap_err().errno, Errno::ENOMEM);
    assert_eq!(e.map_create(&array(8)).unwrap_err().errno, Errno::ENOMEM);
    // A program's end frees its map's bytes, exactly.
    e.close(progs.pop().unwrap()).unwrap();
    let m = e.map_create(&big).unwrap();
    assert_eq!(e.map_create(&array(8)).unwrap_err().errno, Errno::ENOMEM);
    e.close(m).unwrap();
    // An over-large map is refused before anything is allocated.
    let huge = MapSpec {
        max_entries: 1 << 20,
        ..array(1024)
    };
    assert_eq!(e.map_create(&huge).unwrap_err().errno, Errno::ENOMEM);
}

#[test]
fn programs_kept_alive_by_prog_arrays_count() {
    let e = device(Limits {
        max_progs: 4,
        ..Limits::default()
    });
    let slots = e
        .map_create(&MapSpec {
            name: "jmp".into(),
            map_type: PROG_ARRAY,
            key_size: 4,
            value_size: 4,
            max_entries: 16,
            ..Default::default()
        })
        .unwrap();
    let mut n = 0u32;
    let err = loop {
        match load(&e, "mov %r0, 1\nexit", &[]) {
            Ok(p) => {
                e.map_update(slots, &n.to_ne_bytes(), &p.to_ne_bytes(), 0)
                    .unwrap();
                e.close(p).unwrap();
                n += 1;
                assert!(n <= 16, "the limit of 4 programs never applied");
            }
            Err(errno) => break errno,
        }
    };
    assert_eq!((n, err), (4, Errno::ENOSPC));
    e.close(slots).unwrap();
    for _ in 0..4 {
        load(&e, "mov %r0, 1\nexit", &[]).unwrap();
    }
}

#[test]
fn concurrent_creations_stop_exactly_at_the_limit() {
    for _ in 0..20 {
        let e = device(Limits {
            max_maps: 50,
            ..Limits::default()
        });
        let made = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    // Large enough that creating one takes a while: the
                    // window a check-then-publish race needs.
                    let spec = MapSpec {
                        max_entries: 64,
                        ..array(4096)
                    };
                    while let Ok(_handle) = e.map_create(&spec) {
                        made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(made.into_inner(), 50);
    }
}
