//! The object graph's memory: objects come from the pool and go back to
//! it, lists hold them in place, and nothing outlives the map or graph
//! that holds it (the test platform counts every allocation and lock).

mod common;

use common::platform::TestPlatform;
use ebpf_core::graph::types::{Field, FieldKind, ObjType, Record};
use ebpf_core::graph::{list, Graph};
use ebpf_core::maps::{Map, MapAttr, MapType};
use ebpf_core::{Errno, Shared};

fn field(kind: FieldKind, offset: u32, contains: u32, node_offset: u32) -> Field {
    Field {
        kind,
        offset,
        contains,
        node_offset,
    }
}

/// `struct item { u64 value; struct bpf_list_node node; }`.
fn item() -> ObjType {
    ObjType {
        name: *b"item\0\0\0\0\0\0\0\0\0\0\0\0",
        size: 32,
        record: Record::new(&[field(FieldKind::ListNode, 8, 0, 0)], 32).unwrap(),
    }
}

/// `struct bucket { node; lock; items: list of item }`: objects holding
/// lists of objects.
fn bucket(item: u32) -> ObjType {
    ObjType {
        name: *b"bucket\0\0\0\0\0\0\0\0\0\0",
        size: 48,
        record: Record::new(
            &[
                field(FieldKind::ListNode, 0, 0, 0),
                field(FieldKind::SpinLock, 24, 0, 0),
                field(FieldKind::ListHead, 32, item, 8),
            ],
            48,
        )
        .unwrap(),
    }
}

#[test]
fn layouts_are_checked() {
    let node = |off| field(FieldKind::ListNode, off, 0, 0);
    // Misaligned, overlapping, past the end.
    assert_eq!(Record::new(&[node(4)], 32), Err(Errno::EINVAL));
    assert_eq!(Record::new(&[node(0), node(16)], 64), Err(Errno::EINVAL));
    assert_eq!(Record::new(&[node(16)], 32), Err(Errno::EINVAL));
    // A list needs a lock beside it; one lock only.
    let head = field(FieldKind::ListHead, 8, 0, 8);
    let lock = |off| field(FieldKind::SpinLock, off, 0, 0);
    assert_eq!(Record::new(&[head], 24), Err(Errno::EINVAL));
    assert_eq!(
        Record::new(&[lock(0), lock(4), head], 24),
        Err(Errno::EINVAL)
    );
    assert!(Record::new(&[lock(0), head], 24).is_ok());
    // A list of a type not registered, or of one without a node there.
    let p = TestPlatform::new(1);
    let g = Graph::new(p).unwrap();
    let i = g.register(item()).unwrap();
    assert_eq!(g.register(item()), Ok(i), "one index per layout");
    let bad_node = ObjType {
        record: Record::new(&[lock(24), field(FieldKind::ListHead, 32, i, 0)], 48).unwrap(),
        ..bucket(i)
    };
    assert_eq!(g.register(bad_node), Err(Errno::EINVAL));
    let unknown = ObjType {
        record: Record::new(&[lock(24), field(FieldKind::ListHead, 32, 99, 8)], 48).unwrap(),
        ..bucket(i)
    };
    assert_eq!(g.register(unknown), Err(Errno::EINVAL));
    drop(g);
    p.assert_no_leaks();
}

#[test]
fn lists_keep_order_and_objects_return_to_the_pool() {
    let p = TestPlatform::new(1);
    let g = Graph::new(p).unwrap();
    let i = g.register(item()).unwrap();
    let b = g.register(bucket(i)).unwrap();
    g.top_up(i).unwrap();
    g.top_up(b).unwrap();
    let free = g.free_objects(32);
    assert!(free >= 1024);
    // A bucket holding items 1, 2, 3: pushed back, front and back.
    let bk = g.alloc(b);
    assert_ne!(bk, 0);
    let head = bk + 32;
    let mut items = Vec::new();
    for (v, tail) in [(1u64, true), (0, false), (2, true)] {
        let it = g.alloc(i);
        assert_ne!(it, 0);
        // SAFETY: a fresh object of 32 bytes.
        unsafe { (it as *mut u64).write(v) };
        // SAFETY: the bucket's list and the item's node, both ours.
        assert!(unsafe { list::push(head, it + 8, tail) });
        items.push(it);
    }
    // A node already in a list is refused.
    // SAFETY: as above.
    assert!(!unsafe { list::push(head, items[0] + 8, true) });
    // Items and buckets share a block size: four blocks out.
    assert_eq!(g.free_objects(32), free - 4);
    // Popped: front 0, back 2.
    // SAFETY: as above.
    let front = unsafe { list::pop(head, false) }.unwrap();
    // SAFETY: as above.
    let back = unsafe { list::pop(head, true) }.unwrap();
    // SAFETY: the popped items' values.
    assert_eq!(unsafe { ((front - 8) as *const u64).read() }, 0);
    // SAFETY: as above.
    assert_eq!(unsafe { ((back - 8) as *const u64).read() }, 2);
    // SAFETY: popped: ours alone.
    unsafe {
        g.drop_object(front - 8);
        g.drop_object(back - 8);
    }
    // Dropping the bucket frees the item its list still holds.
    // SAFETY: the bucket, in no list.
    unsafe { g.drop_object(bk) };
    assert_eq!(g.free_objects(32), free, "every block back in the pool");
    drop(g);
    p.assert_no_leaks();
}

#[test]
fn a_map_frees_the_objects_its_lists_hold() {
    let p = TestPlatform::new(1);
    let g = Shared::try_new(Graph::new(p).unwrap()).unwrap();
    let i = g.register(item()).unwrap();
    g.top_up(i).unwrap();
    let free = g.free_objects(32);
    let record = Record::new(
        &[
            field(FieldKind::SpinLock, 0, 0, 0),
            field(FieldKind::ListHead, 8, i, 8),
        ],
        24,
    )
    .unwrap();
    let attr = MapAttr {
        spin_lock_offset: Some(0),
        record,
        ..MapAttr::new(MapType::Array, 4, 24, 2)
    };
    // Lists only in plain arrays, not mapped into a process.
    let hash = MapAttr {
        map_type: MapType::Hash,
        ..attr
    };
    assert_eq!(Map::create(p, &hash, 1).err(), Some(Errno::EOPNOTSUPP));
    let mmap = attr.with_flags(ebpf_core::maps::flags::BPF_F_MMAPABLE);
    assert_eq!(Map::create(p, &mmap, 1).err(), Some(Errno::EOPNOTSUPP));
    let mut map = Map::create(p, &attr, 1).unwrap();
    map.set_graph(g.clone()).unwrap();
    for key in [0u32, 1] {
        let value = map.prog_lookup(&key.to_ne_bytes(), 0);
        for _ in 0..5 {
            let it = g.alloc(i);
            // SAFETY: the value's list (no other user) and a new item.
            assert!(unsafe { list::push(value + 8, it + 8, true) });
        }
    }
    assert_eq!(g.free_objects(32), free - 10);
    // An update empties the element's list; userspace reads no pointer.
    map.update(&0u32.to_ne_bytes(), &[7; 24], 0).unwrap();
    assert_eq!(g.free_objects(32), free - 5);
    let mut out = [0xff; 24];
    map.lookup(&1u32.to_ne_bytes(), &mut out, 0).unwrap();
    assert_eq!(out, [0; 24], "the lock and the list read as zero");
    map.lookup(&0u32.to_ne_bytes(), &mut out, 0).unwrap();
    assert_eq!(&out[4..8], &[7; 4], "the data written");
    assert_eq!(&out[8..], &[0; 16], "the list's words were not");
    // The map goes: so do the objects its lists hold.
    drop(map);
    assert_eq!(g.free_objects(32), free);
    drop(g);
    p.assert_no_leaks();
}
