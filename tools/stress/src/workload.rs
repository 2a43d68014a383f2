//! The maps and programs the stress commands use: one of every map type,
//! and a program per map that uses it the way real programs do.

use ebpf_core::asm;
use ebpf_core::maps::MapType;
use libebpf_ioctl::{Ebpf, MapSpec, ProgSpec};

/// Bytecode of assembler text.
pub fn code(src: &str) -> Vec<u8> {
    asm::assemble(src)
        .unwrap_or_else(|e| panic!("built-in program: {e}"))
        .iter()
        .flat_map(|i| i.to_bytes())
        .collect()
}

/// Loads `src` as a generic program using `maps` (as `map_idx(i)`).
pub fn load(e: &Ebpf, src: &str, maps: &[u32]) -> libebpf_ioctl::Result<u32> {
    e.prog_load(&ProgSpec {
        name: "stress",
        prog_type: 0,
        bytecode: &code(src),
        license: "GPL",
        maps,
        obj_types: &[],
    })
}

/// A map of `t` with 4-byte keys (8-byte LPM keys, none for queues) and
/// 8-byte values; `inner` is the template of a map-in-map.
pub fn spec(t: MapType, inner: Option<u32>) -> MapSpec {
    let (key, value, entries, flags) = match t {
        MapType::LpmTrie => (8, 8, 64, 1),
        MapType::Queue | MapType::Stack => (0, 8, 16, 0),
        MapType::RingBuf => (0, 0, 4096, 0),
        MapType::ProgArray | MapType::ArrayOfMaps | MapType::HashOfMaps => (4, 4, 8, 0),
        _ => (4, 8, 16, 0),
    };
    MapSpec {
        name: t.name().chars().take(15).collect(),
        map_type: t as u32,
        key_size: key,
        value_size: value,
        max_entries: entries,
        flags,
        inner_map: inner,
        ..Default::default()
    }
}

/// Every map type the runtime provides.
pub const TYPES: &[MapType] = &[
    MapType::Array,
    MapType::PercpuArray,
    MapType::Hash,
    MapType::PercpuHash,
    MapType::LruHash,
    MapType::LruPercpuHash,
    MapType::LpmTrie,
    MapType::Queue,
    MapType::Stack,
    MapType::RingBuf,
    MapType::ProgArray,
    MapType::ArrayOfMaps,
    MapType::HashOfMaps,
];

/// Random key 0..15 at [r10-8] (LPM: prefix length 32 and the key), r2
/// pointing at it.
const RANDOM_KEY: &str = "
    call 7
    and %r0, 15
    stw [%r10-8], 32
    stxw [%r10-4], %r0
    mov %r2, %r10
    add %r2, -4
";

/// A program that uses a map of type `t` (map 0) as programs do: looks a
/// random key up and counts in it, inserts it when missing, deletes now
/// and then; queues push and pop; ring buffers output; map-in-map look up
/// the inner map and count in its element 0.
pub fn program_for(t: MapType) -> String {
    let key = if t == MapType::LpmTrie {
        RANDOM_KEY.replace("add %r2, -4", "add %r2, -8")
    } else {
        RANDOM_KEY.into()
    };
    match t {
        MapType::Queue | MapType::Stack => "
            stdw [%r10-8], 5
            lddw %r1, map_idx(0)
            mov %r2, %r10
            add %r2, -8
            mov %r3, 0
            call 87
            lddw %r1, map_idx(0)
            mov %r2, %r10
            add %r2, -8
            call 88
            mov %r0, 0
            exit"
            .into(),
        MapType::RingBuf => "
            stdw [%r10-8], 5
            lddw %r1, map_idx(0)
            mov %r2, %r10
            add %r2, -8
            mov %r3, 8
            mov %r4, 0
            call 130
            mov %r0, 0
            exit"
            .into(),
        MapType::ProgArray => "
            lddw %r2, map_idx(0)
            mov %r3, 0
            call 12
            mov %r0, 0
            exit"
            .into(),
        MapType::ArrayOfMaps | MapType::HashOfMaps => format!(
            "{key}
            lddw %r1, map_idx(0)
            call 1
            jeq %r0, 0, out
            mov %r1, %r0
            stw [%r10-4], 0
            mov %r2, %r10
            add %r2, -4
            call 1
            jeq %r0, 0, out
            mov %r1, 1
            lock add [%r0], %r1
        out:
            mov %r0, 0
            exit"
        ),
        _ => format!(
            "{key}
            mov %r6, %r2
            lddw %r1, map_idx(0)
            call 1
            jeq %r0, 0, miss
            mov %r1, 1
            lock add [%r0], %r1
            call 7
            and %r0, 7
            jne %r0, 0, out
            lddw %r1, map_idx(0)
            mov %r2, %r6
            call 3
        out:
            mov %r0, 0
            exit
        miss:
            stdw [%r10-16], 1
            lddw %r1, map_idx(0)
            mov %r2, %r6
            mov %r3, %r10
            add %r3, -16
            mov %r4, 0
            call 2
            mov %r0, 0
            exit"
        ),
    }
}

/// A key of `size` bytes for index `i` (LPM: a /32 prefix).
pub fn key(t: MapType, size: usize, i: u32) -> Vec<u8> {
    let mut k = vec![0u8; size];
    if t == MapType::LpmTrie {
        k[..4].copy_from_slice(&32u32.to_ne_bytes());
        k[4..].copy_from_slice(&i.to_ne_bytes());
    } else if size >= 4 {
        k[..4].copy_from_slice(&i.to_ne_bytes());
    }
    k
}
