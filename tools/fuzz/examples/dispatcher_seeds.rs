//! Writes the dispatcher target's hand-made seeds: whole sessions in its
//! input format (see `ebpf_fuzz::play_ioctls`), so that the fuzzer starts
//! from requests that succeed (a map created, filled and looked up, a
//! program loaded and run, pins, info, ids, batches) and mutates from there.
//!
//! `cargo run --manifest-path tools/fuzz/Cargo.toml --example dispatcher_seeds`

use ebpf_core::abi::{self, Command, Plain};
use ebpf_core::asm;
use ebpf_fuzz::BASE;

/// Where the session's data sits in the arena.
const INSNS: u64 = 0;
const LICENSE: u64 = 1024;
const KEY: u64 = 1100;
const VALUE: u64 = 1200;
const PACKET: u64 = 1300;
const OUT: u64 = 2048;
/// Past the default arena: a value's special fields and an object type.
const FIELDS: u64 = 1376;
const TYPES: u64 = 1392;

struct Session {
    arena: Vec<u8>,
    ops: Vec<u8>,
}

impl Session {
    fn new() -> Self {
        let mut arena = vec![0u8; 1376];
        let code: Vec<u8> = asm::assemble(
            "stw [%r10-4], 1
             mov %r2, %r10
             add %r2, -4
             lddw %r1, map_fd(1)
             call 1
             jeq %r0, 0, out
             ldxdw %r0, [%r0]
             exit
         out:
             mov %r0, 0
             exit",
        )
        .unwrap()
        .iter()
        .flat_map(|i| i.to_bytes())
        .collect();
        arena[INSNS as usize..code.len()].copy_from_slice(&code);
        arena[LICENSE as usize..LICENSE as usize + 4].copy_from_slice(b"GPL\0");
        arena[KEY as usize..KEY as usize + 4].copy_from_slice(&1u32.to_ne_bytes());
        arena[VALUE as usize..VALUE as usize + 8].copy_from_slice(&42u64.to_ne_bytes());
        Session {
            arena,
            ops: Vec::new(),
        }
    }

    /// The session with `src` as its program instead.
    fn code(mut self, src: &str) -> Self {
        let code: Vec<u8> = asm::assemble(src)
            .unwrap()
            .iter()
            .flat_map(|i| i.to_bytes())
            .collect();
        assert!(code.len() <= LICENSE as usize);
        self.arena[..LICENSE as usize].fill(0);
        self.arena[..code.len()].copy_from_slice(&code);
        self
    }

    /// The session with `bytes` at `at` of the arena.
    fn put(mut self, at: u64, bytes: &[u8]) -> Self {
        let end = at as usize + bytes.len();
        if self.arena.len() < end {
            self.arena.resize(end.next_multiple_of(16), 0);
        }
        self.arena[at as usize..end].copy_from_slice(bytes);
        self
    }

    fn op<T: Plain>(mut self, cmd: Command, req: T) -> Self {
        let bytes = req.as_bytes();
        assert!(bytes.len().is_multiple_of(4) && bytes.len() / 4 < 256);
        self.ops.push(cmd as u8);
        self.ops.push((bytes.len() / 4) as u8);
        self.ops.extend_from_slice(bytes);
        self.ops.push(0); // no pointer patches: the pointers are in place
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let blocks = self.arena.len() / 16;
        let mut out = vec![blocks as u8];
        out.extend_from_slice(&self.arena[..blocks * 16]);
        out.extend_from_slice(&self.ops);
        out
    }
}

fn name16(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    n[..s.len()].copy_from_slice(s.as_bytes());
    n
}

fn main() {
    let hash = abi::MapCreateReq {
        map_type: 1,
        key_size: 4,
        value_size: 8,
        max_entries: 16,
        name: name16("m"),
        ..Default::default()
    };
    let elem = abi::MapElemReq {
        handle: 1,
        key: BASE + KEY,
        value: BASE + VALUE,
        ..Default::default()
    };
    let load = abi::ProgLoadReq {
        prog_type: 0,
        insn_cnt: 10,
        insns: BASE + INSNS,
        license: BASE + LICENSE,
        name: name16("p"),
        ..Default::default()
    };
    let run = abi::TestRunReq {
        handle: 2,
        data_in: BASE + PACKET,
        data_size_in: 64,
        data_out: BASE + OUT,
        data_size_out: 64,
        repeat: 2,
        ..Default::default()
    };
    let mut pin = abi::ObjPinReq {
        handle: 1,
        ..Default::default()
    };
    pin.name[..5].copy_from_slice(b"a/map");
    let info = abi::GetInfoReq {
        handle: 2,
        info_len: 72,
        info: BASE + OUT,
    };
    let batch = abi::MapBatchReq {
        handle: 1,
        count: 4,
        keys: BASE + OUT,
        values: BASE + OUT + 256,
        out_batch: BASE + OUT + 512,
        ..Default::default()
    };
    let sessions = [
        (
            "map",
            Session::new()
                .op(Command::MapCreate, hash)
                .op(Command::MapUpdateElem, elem)
                .op(
                    Command::MapLookupElem,
                    abi::MapElemReq {
                        value: BASE + OUT,
                        ..elem
                    },
                )
                .op(
                    Command::MapGetNextKey,
                    abi::MapElemReq {
                        key: 0,
                        value: BASE + OUT,
                        ..elem
                    },
                )
                .op(Command::MapLookupBatch, batch)
                .op(Command::MapDeleteElem, elem),
        ),
        (
            "prog",
            Session::new()
                .op(Command::MapCreate, hash)
                .op(Command::MapUpdateElem, elem)
                .op(Command::ProgLoad, load)
                .op(Command::ProgTestRun, run)
                .op(Command::ObjGetInfo, info),
        ),
        (
            "objects",
            Session::new()
                .op(Command::MapCreate, hash)
                .op(Command::ObjPin, pin)
                .op(
                    Command::ObjClose,
                    abi::ObjCloseReq {
                        handle: 1,
                        reserved: 0,
                    },
                )
                .op(Command::ObjGet, abi::ObjPinReq { handle: 0, ..pin })
                .op(
                    Command::GetNextId,
                    abi::IdReq {
                        kind: 1,
                        ..Default::default()
                    },
                )
                .op(
                    Command::GetHandleById,
                    abi::IdReq {
                        kind: 1,
                        id: 1,
                        ..Default::default()
                    },
                )
                .op(Command::ObjGet, abi::ObjPinReq { handle: 1, ..pin }),
        ),
        (
            "version",
            Session::new().op(Command::Version, abi::VersionReq::default()),
        ),
        ("kptr", kptr_session(run)),
        ("timer", timer_session(run)),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/dispatcher");
    for (name, s) in sessions {
        std::fs::write(dir.join(format!("session-{name}")), s.bytes()).unwrap();
    }
}

/// An array whose value keeps a reference-counted object in a kptr, and a
/// program that allocates one, takes a second reference, stashes it and
/// drops what was there (the object kfuncs and `bpf_kptr_xchg`).
fn kptr_session(run: abi::TestRunReq) -> Session {
    let kptr = abi::ObjField {
        kind: abi::FIELD_KPTR,
        offset: 8,
        contains: 5,
        node_offset: 0,
    };
    let mut counted = abi::ObjTypeDesc {
        btf_id: 5,
        size: 16,
        nr_fields: 1,
        ..Default::default()
    };
    counted.name[..7].copy_from_slice(b"counted");
    counted.fields[0] = abi::ObjField {
        kind: abi::FIELD_REFCOUNT,
        offset: 8,
        contains: 0,
        node_offset: 0,
    };
    let create = abi::MapCreateReq {
        map_type: 2,
        key_size: 4,
        value_size: 16,
        max_entries: 1,
        name: name16("k"),
        value_fields: BASE + FIELDS,
        nr_value_fields: 1,
        nr_obj_types: 1,
        obj_types: BASE + TYPES,
        ..Default::default()
    };
    let src = "stw [%r10-4], 0
               mov %r2, %r10
               add %r2, -4
               lddw %r1, map_fd(1)
               call 1
               jeq %r0, 0, out
               mov %r7, %r0
               mov %r1, 5
               mov %r2, 0
               call runtime 13
               jeq %r0, 0, out
               mov %r6, %r0
               stdw [%r6+0], 42
               mov %r1, %r6
               mov %r2, 0
               call runtime 22
               mov %r8, %r0
               mov %r1, %r7
               add %r1, 8
               mov %r2, %r6
               call 194
               jeq %r0, 0, keep
               mov %r1, %r0
               mov %r2, 0
               call runtime 14
         keep: ldxdw %r9, [%r8+0]
               mov %r1, %r8
               mov %r2, 0
               call runtime 14
               mov %r0, %r9
               exit
          out: mov %r0, 0
               exit";
    let load = abi::ProgLoadReq {
        prog_type: 6,
        insn_cnt: asm::assemble(src).unwrap().len() as u32,
        insns: BASE + INSNS,
        license: BASE + LICENSE,
        name: name16("kptr"),
        nr_obj_types: 1,
        obj_types: BASE + TYPES,
        ..Default::default()
    };
    let elem = abi::MapElemReq {
        handle: 1,
        key: BASE + KEY,
        value: BASE + OUT,
        ..Default::default()
    };
    Session::new()
        .code(src)
        .put(KEY, &0u32.to_ne_bytes())
        .put(FIELDS, kptr.as_bytes())
        .put(TYPES, counted.as_bytes())
        .op(Command::MapCreate, create)
        .op(Command::ProgLoad, load)
        .op(Command::ProgTestRun, run)
        .op(Command::MapLookupElem, elem)
        .op(Command::MapUpdateElem, elem)
        .op(Command::ProgTestRun, run)
}

/// An array whose value holds a timer, and a program that initialises it,
/// sets a callback counting in the value and starts it at once; the
/// value is read, then updated (which frees the timer), and the program
/// run again.
fn timer_session(run: abi::TestRunReq) -> Session {
    let timer = abi::ObjField {
        kind: abi::FIELD_TIMER,
        offset: 8,
        contains: 0,
        node_offset: 0,
    };
    let create = abi::MapCreateReq {
        map_type: 2,
        key_size: 4,
        value_size: 24,
        max_entries: 1,
        name: name16("t"),
        value_fields: BASE + FIELDS,
        nr_value_fields: 1,
        ..Default::default()
    };
    let src = "stw [%r10-4], 0
               mov %r2, %r10
               add %r2, -4
               lddw %r1, map_fd(1)
               call 1
               jeq %r0, 0, out
               mov %r7, %r0
               mov %r1, %r7
               add %r1, 8
               lddw %r2, map_fd(1)
               mov %r3, 1
               call 169
               mov %r1, %r7
               add %r1, 8
               lddw %r2, func(cb)
               call 170
               mov %r1, %r7
               add %r1, 8
               mov %r2, 0
               mov %r3, 0
               call 171
               exit
          out: mov %r0, 0
               exit
           cb: ldxdw %r1, [%r3+0]
               add %r1, 1
               stxdw [%r3+0], %r1
               mov %r0, 0
               exit";
    let load = abi::ProgLoadReq {
        prog_type: 6,
        insn_cnt: asm::assemble(src).unwrap().len() as u32,
        insns: BASE + INSNS,
        license: BASE + LICENSE,
        name: name16("timer"),
        ..Default::default()
    };
    let elem = abi::MapElemReq {
        handle: 1,
        key: BASE + KEY,
        value: BASE + OUT,
        ..Default::default()
    };
    Session::new()
        .code(src)
        .put(KEY, &0u32.to_ne_bytes())
        .put(FIELDS, timer.as_bytes())
        .op(Command::MapCreate, create)
        .op(Command::ProgLoad, load)
        .op(Command::ProgTestRun, run)
        .op(Command::MapLookupElem, elem)
        .op(Command::MapUpdateElem, elem)
        .op(Command::ProgTestRun, run)
}
