//! No request runs unbounded: a program cannot stall a CPU on a lock word
//! it set itself, helpers charge their work to the run's budget, a chain of
//! tail calls is one run with one budget, and long requests stop with
//! `EINTR` when the caller has a signal pending.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use ebpf_core::abi::{self, Command, IoctlArg, Plain};
use ebpf_core::dispatch::{Device, Limits};
use ebpf_core::{asm, Errno};
use libebpf_ioctl::{Caller, Ebpf, EmbeddedBackend, MapSpec, OwnProcess, ProgSpec, UserPlatform};

const HASH: u32 = 1;
const ARRAY: u32 = 2;
const PROG_ARRAY: u32 = 3;
const LPM_TRIE: u32 = 11;
const BPF_F_LOCK: u64 = 4;
const BPF_F_NO_PREALLOC: u32 = 1;

fn client() -> Ebpf {
    Ebpf::with_backend(Box::new(EmbeddedBackend::new().unwrap()))
}

fn code(src: &str) -> Vec<u8> {
    asm::assemble(src)
        .unwrap()
        .iter()
        .flat_map(|i| i.to_bytes())
        .collect()
}

fn load(e: &Ebpf, src: &str, maps: &[u32]) -> u32 {
    e.prog_load(&ProgSpec {
        name: "p",
        prog_type: 0,
        bytecode: &code(src),
        license: "GPL",
        maps,
        obj_types: &[],
    })
    .unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn a_lock_word_a_program_leaves_set_fails_the_run_instead_of_spinning() {
    let e = client();
    let map = e
        .map_create(&MapSpec {
            name: "locked".into(),
            map_type: HASH,
            key_size: 4,
            value_size: 16,
            max_entries: 4,
            spin_lock_offset: Some(0),
            ..Default::default()
        })
        .unwrap();
    e.map_update(map, &0u32.to_ne_bytes(), &[0; 16], 0).unwrap();
    // Sets the value's lock word itself, then asks for a locked update.
    let prog = load(
        &e,
        "stw [%r10-4], 0
         mov %r2, %r10
         add %r2, -4
         lddw %r1, map_idx(0)
         call 1
         jeq %r0, 0, out
         stw [%r0], 1
         stdw [%r10-24], 7
         stdw [%r10-16], 7
         lddw %r1, map_idx(0)
         mov %r2, %r10
         add %r2, -4
         mov %r3, %r10
         add %r3, -24
         mov %r4, 6          ; BPF_EXIST | BPF_F_LOCK
         call 2
     out:
         mov %r0, 0
         exit",
        &[map],
    );
    let err = e.prog_test_run(prog, &[], 1).unwrap_err();
    assert_eq!(err.errno, Errno::EFAULT, "the run failed: {err}");
    // Userspace's locked copies give up too, with EDEADLK.
    let mut v = [0u8; 16];
    let err = e
        .map_lookup(map, &0u32.to_ne_bytes(), &mut v, BPF_F_LOCK)
        .unwrap_err();
    assert_eq!(err.errno, Errno::EDEADLK);
    let err = e
        .map_update(map, &0u32.to_ne_bytes(), &[1; 16], BPF_F_LOCK)
        .unwrap_err();
    assert_eq!(err.errno, Errno::EDEADLK);
    // Without BPF_F_LOCK the element is still usable.
    e.map_lookup(map, &0u32.to_ne_bytes(), &mut v, 0).unwrap();
}

#[test]
fn a_chain_of_tail_calls_is_one_run_with_one_budget() {
    let e = client();
    let jumps = e
        .map_create(&MapSpec {
            name: "jmp".into(),
            map_type: PROG_ARRAY,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            ..Default::default()
        })
        .unwrap();
    // About 3 million instructions, then a tail call to itself: 33 tail
    // calls would be about 100 million, several times the budget of one
    // run (2^24).
    let prog = load(
        &e,
        "mov %r6, %r1
         mov %r7, 1000000
     again:
         sub %r7, 1
         jne %r7, 0, again
         mov %r1, %r6
         lddw %r2, map_idx(0)
         mov %r3, 0
         call 12
         mov %r0, 1
         exit",
        &[jumps],
    );
    e.map_update(jumps, &0u32.to_ne_bytes(), &prog.to_ne_bytes(), 0)
        .unwrap();
    let err = e.prog_test_run(prog, &[], 1).unwrap_err();
    assert_eq!(err.errno, Errno::EFAULT, "budget exhausted: {err}");
    e.close(jumps).unwrap();
}

#[test]
fn lpm_lookups_are_charged_to_the_budget() {
    let e = client();
    let lpm = e
        .map_create(&MapSpec {
            name: "routes".into(),
            map_type: LPM_TRIE,
            key_size: 8,
            value_size: 4,
            max_entries: 20_000,
            flags: BPF_F_NO_PREALLOC,
            ..Default::default()
        })
        .unwrap();
    for i in 0..10_000u32 {
        let mut key = [0u8; 8];
        key[..4].copy_from_slice(&32u32.to_ne_bytes());
        key[4..].copy_from_slice(&i.to_be_bytes());
        e.map_update(lpm, &key, &i.to_ne_bytes(), 0).unwrap();
    }
    // Each lookup scans up to 10 000 prefixes: 2 000 lookups are 20
    // million units of work, over the budget of 2^24.
    let prog = load(
        &e,
        "stw [%r10-8], 32
         stw [%r10-4], 0
         mov %r6, 2000
     again:
         lddw %r1, map_idx(0)
         mov %r2, %r10
         add %r2, -8
         call 1
         sub %r6, 1
         jne %r6, 0, again
         mov %r0, 0
         exit",
        &[lpm],
    );
    let err = e.prog_test_run(prog, &[], 1).unwrap_err();
    assert_eq!(err.errno, Errno::EFAULT, "budget exhausted: {err}");
}

/// The caller of the embedded backend, with a signal that becomes pending
/// after a number of checks.
struct SignalAfter {
    checks_left: AtomicU32,
    checks: AtomicU32,
}

impl Caller for SignalAfter {
    fn copy_from_user(&self, dst: &mut [u8], src: u64) -> Result<(), Errno> {
        OwnProcess.copy_from_user(dst, src)
    }
    fn copy_to_user(&self, dst: u64, src: &[u8]) -> Result<(), Errno> {
        OwnProcess.copy_to_user(dst, src)
    }
    fn interrupted(&self) -> bool {
        self.checks.fetch_add(1, Ordering::Relaxed);
        self.checks_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_err()
    }
}

fn send<T: Plain>(
    dev: &Device,
    file: &ebpf_core::dispatch::OpenFile,
    cmd: Command,
    req: &mut T,
) -> Result<(), Errno> {
    let bytes = req.as_bytes_mut();
    let arg = IoctlArg {
        request: bytes.as_mut_ptr() as u64,
        size: bytes.len() as u32,
        reserved: 0,
    };
    dev.ioctl(file, cmd.request(), &arg as *const IoctlArg as u64)
}

#[test]
fn long_requests_reschedule_and_stop_on_a_signal() {
    // Statics: the platform lives as long as the process, as a kernel's.
    static SIGNAL: SignalAfter = SignalAfter {
        checks_left: AtomicU32::new(u32::MAX),
        checks: AtomicU32::new(0),
    };
    static PLATFORM: OnceLock<&'static UserPlatform> = OnceLock::new();
    let platform = &SIGNAL;
    let user = PLATFORM.get_or_init(|| UserPlatform::with_caller(&SIGNAL));
    let dev = Device::new(*user, Limits::default(), "t").unwrap();
    let file = dev
        .open(ebpf_core::dispatch::Privileges::default())
        .unwrap();
    let insns = code("mov %r0, 7\nexit");
    let license = b"GPL\0";
    let mut load = abi::ProgLoadReq {
        insns: insns.as_ptr() as u64,
        insn_cnt: (insns.len() / 8) as u32,
        license: license.as_ptr() as u64,
        name: *b"p\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ..Default::default()
    };
    send(&dev, &file, Command::ProgLoad, &mut load).unwrap();
    // Ten million runs asked for (at least 9766 batches of at most 1024);
    // the signal arrives after 1000 checks.
    platform.checks_left.store(1000, Ordering::Relaxed);
    let mut run = abi::TestRunReq {
        handle: load.handle,
        repeat: 10_000_000,
        ..Default::default()
    };
    assert_eq!(
        send(&dev, &file, Command::ProgTestRun, &mut run),
        Err(Errno::EINTR)
    );
    assert_eq!(run.retval, 7, "the runs made report their result");
    assert_eq!(
        platform.checks.load(Ordering::Relaxed),
        1001,
        "a check between runs"
    );
    // Batches stop too, reporting how many elements they did.
    platform.checks_left.store(u32::MAX, Ordering::Relaxed);
    let mut create = abi::MapCreateReq {
        map_type: ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 100,
        ..Default::default()
    };
    send(&dev, &file, Command::MapCreate, &mut create).unwrap();
    let keys: Vec<u32> = (0..100).collect();
    let values = vec![0u64; 100];
    platform.checks_left.store(10, Ordering::Relaxed);
    let mut batch = abi::MapBatchReq {
        handle: create.handle,
        count: 100,
        keys: keys.as_ptr() as u64,
        values: values.as_ptr() as u64,
        ..Default::default()
    };
    assert_eq!(
        send(&dev, &file, Command::MapUpdateBatch, &mut batch),
        Err(Errno::EINTR)
    );
    assert_eq!(batch.count, 10, "elements done before the signal");
    platform.checks_left.store(u32::MAX, Ordering::Relaxed);
    dev.close(file);
}

/// Loads `src` as an XDP program: verified, or checked if `checked`.
fn load_xdp(e: &Ebpf, src: &str, maps: &[u32], checked: bool) -> u32 {
    let how = libebpf_ioctl::Admission {
        checked,
        log_level: 1,
        ..Default::default()
    };
    e.prog_load_with(
        &ProgSpec {
            name: "x",
            prog_type: ebpf_core::ProgType::Xdp as u32,
            bytecode: &code(src),
            license: "GPL",
            maps,
            obj_types: &[],
        },
        how,
    )
    .unwrap_or_else(|err| panic!("{err}"))
    .0
}

#[test]
fn bpf_spin_lock_guards_a_value_and_a_run_never_ends_holding_it() {
    let e = client();
    // struct { u32 count; struct bpf_spin_lock lock; }
    let map = e
        .map_create(&MapSpec {
            name: "locked".into(),
            map_type: ARRAY,
            key_size: 4,
            value_size: 8,
            max_entries: 1,
            spin_lock_offset: Some(4),
            ..Default::default()
        })
        .unwrap();
    let value = "stw [%r10-4], 0
         mov %r2, %r10
         add %r2, -4
         lddw %r1, map_idx(0)
         call 1
         jne %r0, 0, +2
         mov %r0, 0
         exit
         mov %r6, %r0
         mov %r1, %r6
         add %r1, 4
         call 93
    ";
    // Counts under the lock, returns the count.
    let count = load_xdp(
        &e,
        &format!(
            "{value}ldxw %r7, [%r6+0]
             add %r7, 1
             stxw [%r6+0], %r7
             mov %r1, %r6
             add %r1, 4
             call 94
             mov %r0, %r7
             exit"
        ),
        &[map],
        false,
    );
    for n in 1..=3 {
        assert_eq!(e.prog_test_run(count, &[0; 14], 1).unwrap().retval, n);
    }
    // Takes the lock and ends: refused by the verifier, admitted checked.
    let leaves = format!("{value}mov %r0, 0\nexit");
    let how = libebpf_ioctl::Admission {
        checked: false,
        log_level: 1,
        ..Default::default()
    };
    let spec = ProgSpec {
        name: "x",
        prog_type: ebpf_core::ProgType::Xdp as u32,
        bytecode: &code(&leaves),
        license: "GPL",
        maps: &[map],
        obj_types: &[],
    };
    let err = e.prog_load_with(&spec, how).unwrap_err();
    assert!(
        err.log
            .as_deref()
            .unwrap_or("")
            .contains("bpf_spin_unlock is missing"),
        "{err}"
    );
    let leaves = load_xdp(&e, &leaves, &[map], true);
    assert_eq!(e.prog_test_run(leaves, &[0; 14], 1).unwrap().retval, 0);
    // The run released it: counting goes on, and userspace's locked copy
    // gets the value (its lock word reads as 0).
    assert_eq!(e.prog_test_run(count, &[0; 14], 1).unwrap().retval, 4);
    let mut v = [0u8; 8];
    e.map_lookup(map, &0u32.to_ne_bytes(), &mut v, BPF_F_LOCK)
        .unwrap();
    assert_eq!(v, [4, 0, 0, 0, 0, 0, 0, 0]);
    // A checked program that releases a lock it does not hold fails.
    let stray = load_xdp(
        &e,
        &format!("{}mov %r0, 0\nexit", value.replace("call 93", "call 94")),
        &[map],
        true,
    );
    assert_eq!(
        e.prog_test_run(stray, &[0; 14], 1).unwrap_err().errno,
        Errno::EFAULT
    );
}
