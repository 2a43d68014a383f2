//! The object graph's memory: objects come from the pool and go back to
//! it, lists hold them in place, and nothing outlives the map or graph
//! that holds it (the test platform counts every allocation and lock).

mod common;

use common::platform::TestPlatform;
use ebpf_core::graph::types::{Field, FieldKind, ObjType, Record};
use ebpf_core::graph::{list, rbtree, Graph};
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

/// A graph with [`item`] registered (index returned) and its pool filled:
/// the test platform, the graph, the type, the free blocks.
fn items_graph() -> (&'static TestPlatform, Shared<Graph>, u32, usize) {
    let p = TestPlatform::new(1);
    let g = Shared::try_new(Graph::new(p).unwrap()).unwrap();
    let i = g.register(item()).unwrap();
    g.top_up(i).unwrap();
    let free = g.free_objects(32);
    (p, g, i, free)
}

/// `struct { u64 data; struct item __kptr *obj; }` (item type `i`): no
/// lock needed.
fn kptr_value(i: u32) -> Record {
    Record::new(&[field(FieldKind::Kptr, 8, i, 0)], 16).unwrap()
}

/// `struct keyed { u64 value; struct bpf_rb_node node; }`.
fn keyed() -> ObjType {
    ObjType {
        name: *b"keyed\0\0\0\0\0\0\0\0\0\0\0",
        size: 40,
        record: Record::new(&[field(FieldKind::RbNode, 8, 0, 0)], 40).unwrap(),
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
    let (p, g, i, free) = items_graph();
    let record = Record::new(
        &[
            field(FieldKind::SpinLock, 0, 0, 0),
            field(FieldKind::ListHead, 8, i, 8),
        ],
        24,
    )
    .unwrap();
    let attr = MapAttr {
        record,
        ..MapAttr::new(MapType::Array, 4, 24, 2)
    };
    // Lists not in per-CPU maps (nor their lock), nor in one mapped into a
    // process.
    let percpu = MapAttr {
        map_type: MapType::PercpuArray,
        ..attr
    };
    assert_eq!(Map::create(p, &percpu, 1).err(), Some(Errno::EINVAL));
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

/// `struct shared { u64 value; struct bpf_list_node l; struct bpf_rb_node
/// r; struct bpf_refcount ref; struct item __kptr *leaf; }`: an object
/// with several owners, itself holding one in a kptr.
fn shared(item: u32) -> ObjType {
    ObjType {
        name: *b"shared\0\0\0\0\0\0\0\0\0\0",
        size: 80,
        record: Record::new(
            &[
                field(FieldKind::ListNode, 8, 0, 0),
                field(FieldKind::RbNode, 32, 0, 0),
                field(FieldKind::Refcount, 64, 0, 0),
                field(FieldKind::Kptr, 72, item, 0),
            ],
            80,
        )
        .unwrap(),
    }
}

#[test]
fn a_refcounted_object_is_freed_by_its_last_owner_with_what_it_holds() {
    let p = TestPlatform::new(1);
    let g = Graph::new(p).unwrap();
    let i = g.register(item()).unwrap();
    let s = g.register(shared(i)).unwrap();
    // A kptr of a type registered after it, or a count in a value or
    // twice, is refused.
    assert_eq!(g.register(shared(s + 1)), Err(Errno::EINVAL));
    let count = |off| field(FieldKind::Refcount, off, 0, 0);
    assert_eq!(Record::new(&[count(0), count(4)], 8), Err(Errno::EINVAL));
    assert_eq!(Record::new(&[count(2)], 8), Err(Errno::EINVAL));
    g.top_up(i).unwrap();
    g.top_up(s).unwrap();
    let (free_items, free_shared) = (g.free_objects(32), g.free_objects(80));
    let obj = g.alloc(s);
    assert_ne!(obj, 0);
    let leaf = g.alloc(i);
    // SAFETY: a fresh object of `shared`, ours; its kptr at 72.
    assert_eq!(unsafe { Graph::kptr_xchg(obj + 72, leaf) }, 0);
    // Four references: for a list, a tree, a failed push, and the
    // program's to keep.
    for _ in 0..3 {
        // SAFETY: the object is live and ours.
        assert_eq!(unsafe { g.acquire(obj) }, obj);
    }
    let (head, root) = ([0u64; 2], [0u64; 2]);
    let (head, root) = (head.as_ptr() as u64, root.as_ptr() as u64);
    let mut less = |_: u64, _: u64| Ok::<bool, ()>(false);
    // SAFETY: a list head and tree root on the stack, ours; the nodes.
    unsafe {
        assert!(list::push(head, obj + 8, false));
        assert_eq!(rbtree::add(root, obj + 32, &mut less), Ok(true));
        // In a list already: refused, and the failed push's reference
        // dropped, the object found from its node (as the kfunc does).
        assert!(!list::push(head, obj + 8, true));
        g.drop_by_node(obj + 8);
    }
    assert_eq!(g.object_of(obj + 8), Some(obj));
    assert_eq!(g.object_of(obj + 79), Some(obj));
    assert_eq!(g.object_of(head), None, "not a pool block");
    // Owners let go one by one: the list, the tree, the program.
    // SAFETY: the popped nodes' object, owned by whoever popped it.
    unsafe {
        let n = list::pop(head, false).unwrap();
        g.drop_object(n - 8);
        assert_eq!(g.free_objects(80), free_shared - 1, "two owners left");
        let n = rbtree::first(root);
        assert!(rbtree::remove(root, n));
        g.drop_object(n - 32);
        assert_eq!(g.free_objects(80), free_shared - 1, "one owner left");
        g.drop_object(obj);
    }
    assert_eq!(g.free_objects(80), free_shared, "freed by the last owner");
    assert_eq!(
        g.free_objects(32),
        free_items,
        "with the object its kptr held"
    );
    drop(g);
    p.assert_no_leaks();
}

#[test]
fn a_counted_objects_block_is_handed_out_again_only_after_a_grace_period() {
    // Runs may read a counted object through a kptr loaded before it was
    // freed (Linux's RCU-protected kptrs): its block is retired, not free.
    use std::sync::atomic::Ordering::SeqCst;
    let p = TestPlatform::new(1);
    let g = Graph::new(p).unwrap();
    let i = g.register(item()).unwrap();
    let s = g.register(shared(i)).unwrap();
    g.top_up(s).unwrap();
    let idle = g.free_objects(80);
    let (before, gone) = (g.alloc(s), g.alloc(s));
    // SAFETY: ours alone: freed, one after the other.
    unsafe {
        g.drop_object(before);
        g.drop_object(gone);
    }
    assert_eq!(g.free_objects(80), idle, "idle, awaiting a grace period");
    // A run that read it before it went finds it gone: its count zero,
    // where its header says (the header outlives the object).
    // SAFETY: retired, not reused: still the pool's memory, as for a run
    // that loaded its address from a kptr.
    assert_eq!(unsafe { g.acquire(gone) }, 0);
    let mut taken = Vec::new();
    loop {
        let o = g.alloc(s);
        if o == 0 {
            break;
        }
        assert!(o != gone && o != before, "handed out before a grace period");
        taken.push(o);
    }
    assert_eq!(taken.len(), idle - 2);
    let grace_periods = p.synchronizes.load(SeqCst);
    g.top_up(s).unwrap();
    assert!(p.synchronizes.load(SeqCst) > grace_periods);
    loop {
        let o = g.alloc(s);
        if o == 0 || o == gone {
            taken.push(o);
            break;
        }
        taken.push(o);
    }
    assert_eq!(taken.last(), Some(&gone), "back after the grace period");
    for o in taken {
        // SAFETY: ours alone.
        unsafe { g.drop_object(o) };
    }
    drop(g);
    p.assert_no_leaks();
}

#[test]
fn a_map_drops_the_objects_its_kptrs_hold() {
    let (p, g, i, free) = items_graph();
    let attr = MapAttr {
        record: kptr_value(i),
        ..MapAttr::new(MapType::Array, 4, 16, 3)
    };
    let percpu = MapAttr {
        map_type: MapType::PercpuArray,
        ..attr
    };
    assert_eq!(Map::create(p, &percpu, 1).err(), Some(Errno::EOPNOTSUPP));
    let counted = MapAttr {
        record: Record::new(&[field(FieldKind::Refcount, 0, 0, 0)], 16).unwrap(),
        ..attr
    };
    assert_eq!(Map::create(p, &counted, 1).err(), Some(Errno::EINVAL));
    let mut map = Map::create(p, &attr, 1).unwrap();
    map.set_graph(g.clone()).unwrap();
    for key in [0u32, 1, 2] {
        let value = map.prog_lookup(&key.to_ne_bytes(), 0);
        // SAFETY: the value's kptr, and a new item of its type.
        assert_eq!(unsafe { Graph::kptr_xchg(value + 8, g.alloc(i)) }, 0);
    }
    assert_eq!(g.free_objects(32), free - 3);
    // Userspace reads the data, not the pointer; an update drops the
    // object and leaves the kptr NULL.
    map.update(&0u32.to_ne_bytes(), &[7; 16], 0).unwrap();
    assert_eq!(g.free_objects(32), free - 2);
    let mut out = [0xff; 16];
    map.lookup(&0u32.to_ne_bytes(), &mut out, 0).unwrap();
    assert_eq!(out[..8], [7; 8]);
    assert_eq!(out[8..], [0; 8]);
    let value = map.prog_lookup(&0u32.to_ne_bytes(), 0);
    // SAFETY: as above.
    assert_eq!(unsafe { Graph::kptr_xchg(value + 8, 0) }, 0, "emptied");
    map.lookup(&1u32.to_ne_bytes(), &mut out, 0).unwrap();
    assert_eq!(out, [0; 16], "a kptr reads as zero");
    drop(map);
    assert_eq!(g.free_objects(32), free);
    drop(g);
    p.assert_no_leaks();
}

#[test]
fn shared_objects_pushed_by_two_threads_land_in_one_list_each() {
    // Two threads take a reference to each of the same objects and push
    // it into their own list under their own lock: a node is claimed by
    // one of them only (the other's push fails and drops its reference),
    // and the counts, changed from both at once, end where they should.
    // A claim that is not atomic links nodes into both lists; a count that
    // is not atomic loses changes (objects freed early or never).
    const OBJECTS: usize = 1000;
    let p = TestPlatform::new(2);
    let g = Graph::new(p).unwrap();
    let i = g.register(item()).unwrap();
    let s = g.register(shared(i)).unwrap();
    g.top_up(s).unwrap();
    let free = g.free_objects(80);
    for _ in 0..16 {
        // Freed counted objects wait for a grace period: the top-up before
        // each run (as before a test run) hands them out again.
        g.top_up(s).unwrap();
        let objects: Vec<u64> = (0..OBJECTS).map(|_| g.alloc(s)).collect();
        assert!(objects.iter().all(|&o| o != 0));
        let heads = [[0u64; 2], [0u64; 2]];
        let heads = heads.map(std::sync::Mutex::new);
        // Both threads at the same object at once: each arrives, then waits
        // for the other (a spinning barrier per object).
        let arrived = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for head in &heads {
                let (g, objects, arrived) = (&g, &objects, &arrived);
                scope.spawn(move || {
                    for (k, &o) in objects.iter().enumerate() {
                        arrived.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                        while arrived.load(std::sync::atomic::Ordering::Acquire) < 2 * (k + 1) {
                            std::hint::spin_loop();
                        }
                        // SAFETY: the object is live (the test's reference).
                        assert_eq!(unsafe { g.acquire(o) }, o);
                        let mut h = head.lock().unwrap();
                        // SAFETY: this thread's list under its lock, and
                        // a node of an object it holds a reference to.
                        if !unsafe { list::push(h.as_mut_ptr() as u64, o + 8, true) } {
                            // SAFETY: that reference, given up.
                            unsafe { g.drop_by_node(o + 8) };
                        }
                    }
                });
            }
        });
        // Every object in exactly one list; each popped and let go.
        let mut popped = Vec::new();
        for head in &heads {
            let mut h = head.lock().unwrap();
            // SAFETY: the lists are ours alone now.
            while let Some(n) = unsafe { list::pop(h.as_mut_ptr() as u64, false) } {
                popped.push(n - 8);
                assert!(popped.len() <= OBJECTS, "a node in both lists");
            }
        }
        popped.sort_unstable();
        let mut want = objects.clone();
        want.sort_unstable();
        assert_eq!(popped, want);
        for o in popped.into_iter().chain(objects) {
            // SAFETY: the list's reference, then the test's.
            unsafe { g.drop_object(o) };
        }
        assert_eq!(g.free_objects(80), free, "every object freed once");
    }
    drop(g);
    p.assert_no_leaks();
}

#[test]
fn objects_exchanged_through_one_kptr_by_four_threads_are_each_dropped_once() {
    // Four threads put new objects into one kptr and drop what they get
    // back. Each object is handed back to exactly one of them (or stays in
    // the kptr): an exchange that is not atomic hands one object to two
    // threads (dropped twice) and loses another (never dropped), and the
    // pool's count of free blocks ends wrong.
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    let (p, g, i, free) = items_graph();
    let kptr = std::sync::atomic::AtomicU64::new(0);
    let field = kptr.as_ptr() as u64;
    let start = std::sync::Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            let (g, start) = (&g, &start);
            s.spawn(move || {
                start.wait();
                for _ in 0..ROUNDS {
                    let new = g.alloc(i);
                    assert_ne!(new, 0);
                    // SAFETY: a kptr of items, and an item ours alone.
                    let old = unsafe { Graph::kptr_xchg(field, new) };
                    if old != 0 {
                        // SAFETY: handed back to this thread alone.
                        unsafe { g.drop_object(old) };
                    }
                }
            });
        }
    });
    // SAFETY: the kptr is ours alone now.
    let last = unsafe { Graph::kptr_xchg(field, 0) };
    // SAFETY: what the kptr held last, ours.
    unsafe { g.drop_object(last) };
    assert_eq!(g.free_objects(32), free, "every object dropped once");
    drop(g);
    p.assert_no_leaks();
}

#[test]
fn a_hash_maps_elements_drop_their_kptrs_objects_when_they_go() {
    // (Lists: `a_hash_maps_elements_empty_their_lists_when_they_go`.)
    let (p, g, i, free) = items_graph();
    let attr = MapAttr {
        record: kptr_value(i),
        ..MapAttr::new(MapType::Hash, 4, 16, 4)
    };
    // Not per-CPU.
    let percpu = MapAttr {
        map_type: MapType::PercpuHash,
        ..attr
    };
    assert_eq!(Map::create(p, &percpu, 1).err(), Some(Errno::EOPNOTSUPP));
    let mut map = Map::create(p, &attr, 1).unwrap();
    map.set_graph(g.clone()).unwrap();
    let stash = |key: u32| {
        let value = map.prog_lookup(&key.to_ne_bytes(), 0);
        assert_ne!(value, 0);
        // SAFETY: the element's kptr, and a new item of its type.
        assert_eq!(unsafe { Graph::kptr_xchg(value + 8, g.alloc(i)) }, 0);
    };
    for key in [1u32, 2, 3] {
        // A user's bytes never reach the kptr.
        map.update(&key.to_ne_bytes(), &[0xff; 16], 0).unwrap();
        stash(key);
    }
    assert_eq!(g.free_objects(32), free - 3);
    let mut out = [0xee; 16];
    map.lookup(&1u32.to_ne_bytes(), &mut out, 0).unwrap();
    assert_eq!(out[..8], [0xff; 8]);
    assert_eq!(out[8..], [0; 8], "a kptr reads as zero");
    // Replaced, deleted: the old element's object goes.
    map.update(&1u32.to_ne_bytes(), &[7; 16], 0).unwrap();
    assert_eq!(g.free_objects(32), free - 2);
    let value = map.prog_lookup(&1u32.to_ne_bytes(), 0);
    // SAFETY: the new element's kptr: NULL, not the user's bytes.
    assert_eq!(unsafe { Graph::kptr_xchg(value + 8, 0) }, 0);
    map.delete(&2u32.to_ne_bytes()).unwrap();
    assert_eq!(g.free_objects(32), free - 1);
    drop(map);
    assert_eq!(g.free_objects(32), free, "the map took the last with it");
    drop(g);
    p.assert_no_leaks();
}

#[test]
fn a_hash_maps_elements_empty_their_lists_when_they_go() {
    let (p, g, i, free) = items_graph();
    let attr = MapAttr {
        record: Record::new(
            &[
                field(FieldKind::SpinLock, 0, 0, 0),
                field(FieldKind::ListHead, 8, i, 8),
            ],
            24,
        )
        .unwrap(),
        ..MapAttr::new(MapType::Hash, 4, 24, 4)
    };
    let mut map = Map::create(p, &attr, 1).unwrap();
    map.set_graph(g.clone()).unwrap();
    for key in [1u32, 2, 3] {
        map.update(&key.to_ne_bytes(), &[0xff; 24], 0).unwrap();
        let value = map.prog_lookup(&key.to_ne_bytes(), 0);
        for _ in 0..2 {
            // SAFETY: the element's list (no other user) and a new item.
            assert!(unsafe { list::push(value + 8, g.alloc(i) + 8, true) });
        }
    }
    assert_eq!(g.free_objects(32), free - 6);
    let mut out = [0xee; 24];
    map.lookup(&1u32.to_ne_bytes(), &mut out, 0).unwrap();
    assert_eq!(out[4..8], [0xff; 4]);
    assert_eq!(out[..4], [0; 4], "the lock reads as zero");
    assert_eq!(out[8..], [0; 16], "the list reads as zero");
    // Replaced, deleted: the old element's list is emptied.
    map.update(&1u32.to_ne_bytes(), &[7; 24], 0).unwrap();
    assert_eq!(g.free_objects(32), free - 4);
    map.delete(&2u32.to_ne_bytes()).unwrap();
    assert_eq!(g.free_objects(32), free - 2);
    drop(map);
    assert_eq!(g.free_objects(32), free, "the map took the last with it");
    drop(g);
    p.assert_no_leaks();
}

/// One step on a list and its model.
#[derive(Clone, Debug)]
enum ListOp {
    Push { tail: bool },
    Pop { tail: bool },
}

/// One step on a tree and its model.
#[derive(Clone, Debug)]
enum TreeOp {
    Add(u8),
    RemoveFirst,
    RemoveNth(u8),
}

mod props {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn list_op() -> impl Strategy<Value = ListOp> {
        prop_oneof![
            any::<bool>().prop_map(|tail| ListOp::Push { tail }),
            any::<bool>().prop_map(|tail| ListOp::Pop { tail }),
        ]
    }

    fn tree_op() -> impl Strategy<Value = TreeOp> {
        prop_oneof![
            3 => any::<u8>().prop_map(|k| TreeOp::Add(k % 8)),
            1 => Just(TreeOp::RemoveFirst),
            1 => any::<u8>().prop_map(TreeOp::RemoveNth),
        ]
    }

    /// Reads an object's value word.
    fn value(obj: u64) -> u64 {
        // SAFETY: a live object of at least 8 bytes.
        unsafe { (obj as *const u64).read() }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Pushes and pops at both ends keep the order a deque keeps, and
        /// every object comes back to the pool.
        #[test]
        fn a_list_is_a_deque(ops in proptest::collection::vec(list_op(), 1..64)) {
            let p = TestPlatform::new(1);
            let g = Graph::new(p).unwrap();
            let i = g.register(item()).unwrap();
            g.top_up(i).unwrap();
            let free = g.free_objects(32);
            let mut head = [0u64; 2];
            let h = head.as_mut_ptr() as u64;
            let mut model = VecDeque::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    ListOp::Push { tail } => {
                        let obj = g.alloc(i);
                        // SAFETY: a new object's value word.
                        unsafe { (obj as *mut u64).write(n as u64) };
                        // SAFETY: our head, a node in no list.
                        let pushed = unsafe { list::push(h, obj + 8, tail) };
                        prop_assert!(pushed);
                        if tail { model.push_back(n as u64) } else { model.push_front(n as u64) }
                    }
                    ListOp::Pop { tail } => {
                        // SAFETY: our head.
                        let got = unsafe { list::pop(h, tail) }.map(|node| {
                            let v = value(node - 8);
                            // SAFETY: popped, ours alone.
                            unsafe { g.drop_object(node - 8) };
                            v
                        });
                        let want = if tail { model.pop_back() } else { model.pop_front() };
                        prop_assert_eq!(got, want);
                    }
                }
            }
            // What is left, in order, then freed with the list.
            let mut left = Vec::new();
            // SAFETY: our head.
            while let Some(node) = unsafe { list::pop(h, false) } {
                left.push(value(node - 8));
                // SAFETY: popped.
                unsafe { g.drop_object(node - 8) };
            }
            prop_assert_eq!(left, model.into_iter().collect::<Vec<_>>());
            prop_assert_eq!(g.free_objects(32), free);
        }

        /// A tree gives its nodes in key order, equal keys in the order
        /// added, as a stable sort does; removing any node keeps the rest.
        #[test]
        fn a_tree_is_a_stable_sort(ops in proptest::collection::vec(tree_op(), 1..400)) {
            let p = TestPlatform::new(1);
            let g = Graph::new(p).unwrap();
            let i = g.register(keyed()).unwrap();
            g.top_up(i).unwrap();
            let free = g.free_objects(40);
            let mut root = [0u64; 2];
            let r = root.as_mut_ptr() as u64;
            // (key, order added, object).
            let mut model: Vec<(u64, usize, u64)> = Vec::new();
            let key = |obj: u64| value(obj) >> 32;
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    TreeOp::Add(k) => {
                        let obj = g.alloc(i);
                        // SAFETY: a new object's value word: key above, order below.
                        unsafe { (obj as *mut u64).write((u64::from(k) << 32) | n as u64) };
                        let mut calls = 0u32;
                        let mut less = |a: u64, b: u64| {
                            calls += 1;
                            Ok::<bool, ()>(key(a - 8) < key(b - 8))
                        };
                        // SAFETY: our root, a node in no tree; `less` reads only.
                        prop_assert_eq!(unsafe { rbtree::add(r, obj + 8, &mut less) }, Ok(true));
                        // Balanced: a red-black tree of n nodes is at most
                        // 2 log2(n + 1) deep, one `less` call per level.
                        let depth_bound = 2 * (usize::BITS - (model.len() + 1).leading_zeros());
                        prop_assert!(calls <= depth_bound, "{} calls for {} nodes", calls, model.len());
                        model.push((u64::from(k), n, obj));
                        model.sort_by_key(|&(k, n, _)| (k, n));
                    }
                    TreeOp::RemoveFirst | TreeOp::RemoveNth(_) => {
                        if model.is_empty() {
                            // SAFETY: our root.
                            prop_assert_eq!(unsafe { rbtree::first(r) }, 0);
                            continue;
                        }
                        let at = match op { TreeOp::RemoveNth(x) => x as usize % model.len(), _ => 0 };
                        if at == 0 {
                            // SAFETY: our root.
                            prop_assert_eq!(unsafe { rbtree::first(r) }, model[0].2 + 8);
                        }
                        let (_, _, obj) = model.remove(at);
                        // SAFETY: our root and a node in it.
                        let removed = unsafe { rbtree::remove(r, obj + 8) };
                        prop_assert!(removed);
                        // Not in the tree any more.
                        // SAFETY: as above.
                        let again = unsafe { rbtree::remove(r, obj + 8) };
                        prop_assert!(!again);
                        // SAFETY: out of the tree, ours alone.
                        unsafe { g.drop_object(obj) };
                    }
                }
            }
            // In order from the first, half of them; the rest taken out
            // at once, in order, as freeing the tree's holder does.
            let half = model.len() / 2;
            for &(k, n, obj) in &model[..half] {
                // SAFETY: our root.
                let first = unsafe { rbtree::first(r) };
                prop_assert_eq!(first, obj + 8);
                prop_assert_eq!(value(obj), (k << 32) | n as u64);
                // SAFETY: as above.
                let removed = unsafe { rbtree::remove(r, first) };
                prop_assert!(removed);
                // SAFETY: out of the tree.
                unsafe { g.drop_object(obj) };
            }
            // SAFETY: our root.
            let mut node = unsafe { ebpf_core::graph::take_all(FieldKind::RbRoot, r) };
            prop_assert_eq!(root, [0, 0]);
            for &(_, _, obj) in &model[half..] {
                prop_assert_eq!(node, obj + 8);
                // SAFETY: a detached chain, ours.
                node = unsafe { list::unlink_next(node) };
                // SAFETY: out of the tree.
                unsafe { g.drop_object(obj) };
            }
            prop_assert_eq!(node, 0);
            prop_assert_eq!(g.free_objects(40), free);
        }
    }
}
