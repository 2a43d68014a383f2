//! Every command under allocation-failure injection; see `ebpf-stress
//! faults --help`.
//!
//! Linux's per-task fault injection fails the Nth allocation (slab or page)
//! the task makes after N is written to `/proc/thread-self/fail-nth`; with
//! failslab and fail_page_alloc set to fail every allocation of tasks
//! marked `make-it-fail` (the VM's init does that), the task's allocations
//! from the Nth on all fail: a single failure is not enough, since
//! `kvrealloc` retries a failed `krealloc` once. For each operation, N = 1,
//! 2, … is armed for exactly the one ioctl under test (the client's own
//! work happens outside the window, so no user page fault is failed),
//! until an N passes without being reached. Every injected failure must end
//! in success (the kernel recovered) or `ENOMEM`, with nothing left behind,
//! and the device must keep working.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use ebpf_core::abi::{Command, ObjKind};
use ebpf_core::maps::MapType;
use ebpf_core::Errno;
use libebpf_ioctl::{Backend, DeviceBackend, Ebpf};

use crate::workload::{key, load, program_for, spec, TYPES};

/// The most allocations one operation is expected to make.
const MAX_NTH: u32 = 400;

/// A device backend that arms fault injection around one request.
struct Injector {
    device: DeviceBackend,
    fail_nth: File,
    make_it_fail: File,
    armed: AtomicU32,
    injected: AtomicBool,
}

/// Writes `n` to an open fail-nth file (no allocation in this process).
fn write_nth(f: &File, n: u32) {
    let mut buf = [0u8; 12];
    let text = {
        use std::io::Write;
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        let _ = write!(cur, "{n}");
        cur.position() as usize
    };
    // SAFETY: a valid fd and a buffer of `text` bytes.
    unsafe { libc::pwrite(f.as_raw_fd(), buf.as_ptr().cast(), text, 0) };
}

/// Reads the count still to go; 0 once the failure was injected.
fn read_nth(f: &File) -> u32 {
    let mut buf = [0u8; 16];
    // SAFETY: a valid fd and buffer.
    let n = unsafe { libc::pread(f.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    let n = n.max(0) as usize;
    std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u32::MAX)
}

impl Injector {
    /// Runs `f` with the `nth` allocation failing; returns what it returned
    /// and whether the failure was injected.
    fn with_nth<T>(&self, nth: u32, f: impl FnOnce() -> T) -> (T, bool) {
        write_nth(&self.fail_nth, nth);
        write_nth(&self.make_it_fail, 1);
        let r = f();
        write_nth(&self.make_it_fail, 0);
        let left = read_nth(&self.fail_nth);
        write_nth(&self.fail_nth, 0);
        (r, left == 0)
    }
}

impl Backend for Injector {
    fn request(&self, cmd: Command, req: &mut [u8]) -> Result<(), Errno> {
        match self.armed.swap(0, Ordering::SeqCst) {
            0 => self.device.request(cmd, req),
            nth => {
                let (r, injected) = self.with_nth(nth, || self.device.request(cmd, req));
                self.injected.store(injected, Ordering::SeqCst);
                r
            }
        }
    }

    fn kind(&self) -> &'static str {
        "device"
    }
}

/// Objects the operations work on, made without injection.
struct Fixture {
    maps: Vec<(MapType, u32)>,
    template: u32,
    prog: u32,
}

type Op = Box<dyn Fn(&Ebpf, &Fixture) -> libebpf_ioctl::Result<()>>;

fn ops() -> Vec<(String, Op)> {
    let mut ops: Vec<(String, Op)> = Vec::new();
    for &t in TYPES {
        ops.push((
            format!("MAP_CREATE {}", t.name()),
            Box::new(move |e, f| {
                let inner =
                    matches!(t, MapType::ArrayOfMaps | MapType::HashOfMaps).then_some(f.template);
                let m = e.map_create(&spec(t, inner))?;
                e.close(m)
            }),
        ));
    }
    let map = |f: &Fixture, t: MapType| f.maps.iter().find(|(x, _)| *x == t).unwrap().1;
    ops.push((
        "MAP_UPDATE_ELEM hash (new key)".into(),
        Box::new(move |e, f| {
            let m = map(f, MapType::Hash);
            e.map_update(m, &key(MapType::Hash, 4, 9), &[1; 8], 0)?;
            e.map_delete(m, &key(MapType::Hash, 4, 9))
        }),
    ));
    ops.push((
        "MAP_LOOKUP_ELEM percpu_hash".into(),
        Box::new(move |e, f| {
            let m = map(f, MapType::PercpuHash);
            let (_, vs) = e.map_sizes(m)?;
            e.map_lookup(m, &key(MapType::Hash, 4, 1), &mut vec![0; vs], 0)
        }),
    ));
    ops.push((
        "MAP_UPDATE_ELEM hash_of_maps".into(),
        Box::new(move |e, f| {
            let inner = e.map_create(&spec(MapType::Array, None))?;
            let r = e.map_update(
                map(f, MapType::HashOfMaps),
                &[2, 0, 0, 0],
                &inner.to_ne_bytes(),
                0,
            );
            e.close(inner)?;
            r?;
            e.map_delete(map(f, MapType::HashOfMaps), &[2, 0, 0, 0])
        }),
    ));
    ops.push((
        "MAP_UPDATE_BATCH / LOOKUP_BATCH / DELETE_BATCH hash".into(),
        Box::new(move |e, f| {
            let m = map(f, MapType::Hash);
            let el: Vec<_> = (20..24)
                .map(|i| (key(MapType::Hash, 4, i), vec![3; 8]))
                .collect();
            e.map_update_batch(m, &el, 0)?;
            e.map_lookup_batch(m, None, 16)?;
            let keys: Vec<_> = el.into_iter().map(|(k, _)| k).collect();
            e.map_delete_batch(m, &keys)
        }),
    ));
    ops.push((
        "PROG_LOAD".into(),
        Box::new(move |e, f| {
            let p = load(e, &program_for(MapType::Hash), &[map(f, MapType::Hash)])?;
            e.close(p)
        }),
    ));
    ops.push((
        "PROG_TEST_RUN".into(),
        Box::new(move |e, f| e.prog_test_run(f.prog, &[7; 128], 3).map(|_| ())),
    ));
    ops.push((
        "OBJ_PIN / OBJ_GET / unpin".into(),
        Box::new(move |e, f| {
            e.pin(f.prog, "faults/p")?;
            let got = e.get_pinned("faults/p");
            e.unpin("faults/p")?;
            e.close(got?.0)
        }),
    ));
    ops.push((
        "OBJ_GET_INFO (program, with its instructions)".into(),
        Box::new(move |e, f| e.prog_insns(f.prog).map(|_| ())),
    ));
    ops.push((
        "GET_HANDLE_BY_ID".into(),
        Box::new(move |e, f| {
            let id = e.prog_info(f.prog)?.id;
            let h = e.handle_by_id(ObjKind::Prog, id)?;
            e.close(h)
        }),
    ));
    ops.push((
        "RINGBUF_CONSUME".into(),
        Box::new(move |e, f| e.ringbuf_consume(map(f, MapType::RingBuf)).map(|_| ())),
    ));
    ops
}

/// Runs every operation under injection on the device at `path`.
pub fn run(path: &Path) -> Result<(), String> {
    // Every page this process has or maps later is populated now, outside
    // the armed windows: a copy to a user buffer never faults in a page
    // (the injected failure would turn into EFAULT, not ENOMEM).
    // SAFETY: plain call.
    if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } != 0 {
        return Err(format!("mlockall: {}", std::io::Error::last_os_error()));
    }
    let proc_file = |name: &str| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/thread-self/{name}"))
            .map_err(|e| {
                format!("/proc/thread-self/{name}: {e} (a kernel with CONFIG_FAULT_INJECTION)")
            })
    };
    let fail_nth = proc_file("fail-nth")?;
    let make_it_fail = proc_file("make-it-fail")?;
    let injector = Box::new(Injector {
        device: DeviceBackend::open(path).map_err(|e| format!("{}: {e}", path.display()))?,
        fail_nth,
        make_it_fail,
        armed: AtomicU32::new(0),
        injected: AtomicBool::new(false),
    });
    let injector: &'static Injector = Box::leak(injector);
    let e = Ebpf::with_backend(Box::new(Forward(injector)));
    let template = e
        .map_create(&spec(MapType::Array, None))
        .map_err(|e| e.to_string())?;
    let mut maps = Vec::new();
    for &t in TYPES {
        let inner = matches!(t, MapType::ArrayOfMaps | MapType::HashOfMaps).then_some(template);
        maps.push((t, e.map_create(&spec(t, inner)).map_err(|e| e.to_string())?));
    }
    let hash = maps.iter().find(|(t, _)| *t == MapType::Hash).unwrap().1;
    let percpu = maps
        .iter()
        .find(|(t, _)| *t == MapType::PercpuHash)
        .unwrap()
        .1;
    let (_, vs) = e.map_sizes(percpu).map_err(|e| e.to_string())?;
    e.map_update(percpu, &key(MapType::Hash, 4, 1), &vec![1; vs], 0)
        .map_err(|e| e.to_string())?;
    let prog = load(&e, &program_for(MapType::Hash), &[hash]).map_err(|e| e.to_string())?;
    let fixture = Fixture {
        maps,
        template,
        prog,
    };
    let baseline = alive(&e)?;
    let mut total = 0;
    for (name, op) in ops() {
        // Once without injection: the op works, and the client's caches
        // (map sizes) are warm, so each armed request is the op's own.
        op(&e, &fixture).map_err(|err| format!("{name} without injection: {err}"))?;
        let (mut injected, mut enomem) = (0, 0);
        let mut nth = 1;
        loop {
            if nth > MAX_NTH {
                return Err(format!(
                    "{name}: still allocating after {MAX_NTH} allocations"
                ));
            }
            let r = arm_each_request(injector, nth, || op(&e, &fixture));
            let hit = injector.injected.swap(false, Ordering::SeqCst);
            match &r {
                Err(err) if err.errno == Errno::ENOMEM => enomem += 1,
                Err(err) if hit => {
                    return Err(format!(
                        "{name}, allocation {nth} failed: {err}, want ENOMEM"
                    ))
                }
                Err(err) => return Err(format!("{name}: {err}")),
                Ok(()) => {}
            }
            // Clean up what an interrupted op may have left (pins), then
            // nothing may be alive beyond the fixture.
            let _ = e.unpin("faults/p");
            let now = alive(&e)?;
            if now != baseline {
                return Err(format!(
                    "{name}, allocation {nth}: alive {now:?}, want {baseline:?}"
                ));
            }
            if !hit && r.is_ok() {
                break;
            }
            injected += 1;
            nth += 1;
        }
        println!("faults: {name}: {injected} allocations failed in turn, {enomem} ENOMEM, clean");
        total += injected;
    }
    // Opening the device allocates too.
    let mut enomem = 0;
    for nth in 1..=MAX_NTH {
        let (r, hit) =
            injector.with_nth(nth, || OpenOptions::new().read(true).write(true).open(path));
        match r {
            Err(err) if err.raw_os_error() == Some(libc::ENOMEM) => enomem += 1,
            Err(err) => return Err(format!("open, allocation {nth}: {err}")),
            Ok(_) if !hit => break,
            Ok(_) => {}
        }
    }
    println!("faults: open: {enomem} ENOMEM, clean");
    println!("faults: PASS ({total} injected allocation failures)");
    Ok(())
}

/// Arms the injection for every request `f` makes, the same `nth` each
/// time (operations of several requests have each request fail in turn).
fn arm_each_request<T>(injector: &Injector, nth: u32, f: impl FnOnce() -> T) -> T {
    ARM_ALL.store(nth, Ordering::SeqCst);
    let r = f();
    ARM_ALL.store(0, Ordering::SeqCst);
    let _ = injector;
    r
}

static ARM_ALL: AtomicU32 = AtomicU32::new(0);

/// The client's backend: arms the injector for each request while
/// [`arm_each_request`] runs.
struct Forward(&'static Injector);

impl Backend for Forward {
    fn request(&self, cmd: Command, req: &mut [u8]) -> Result<(), Errno> {
        let nth = ARM_ALL.load(Ordering::SeqCst);
        if nth != 0 {
            self.0.armed.store(nth, Ordering::SeqCst);
        }
        let r = self.0.request(cmd, req);
        if self.0.injected.load(Ordering::SeqCst) {
            // Only the first request that hit the failure counts; later
            // requests of the same op run normally.
            ARM_ALL.store(0, Ordering::SeqCst);
        }
        r
    }

    fn kind(&self) -> &'static str {
        "device"
    }
}

/// Ids of the maps and programs alive.
fn alive(e: &Ebpf) -> Result<(Vec<u32>, Vec<u32>), String> {
    Ok((
        e.ids(ObjKind::Map).map_err(|e| e.to_string())?,
        e.ids(ObjKind::Prog).map_err(|e| e.to_string())?,
    ))
}
