//! Workers churning the device at once; see `ebpf-stress churn --help`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ebpf_core::abi::ObjKind;
use ebpf_core::maps::MapType;
use ebpf_core::Errno;
use libebpf_ioctl::Ebpf;

use crate::workload::{key, load, program_for, spec, TYPES};

/// A name pinned by whichever worker gets there first.
const SHARED_PIN: &str = "stress/shared";

/// Runs `workers` workers for `seconds`: processes on a device (each its
/// own open file), threads sharing one embedded dispatcher. Then checks
/// that nothing they made is still alive.
pub fn run(device: Option<&PathBuf>, workers: u32, seconds: u64) -> Result<(), String> {
    let e = crate::open(device)?;
    let before = (ids(&e, ObjKind::Map)?, ids(&e, ObjKind::Prog)?);
    match device {
        Some(path) => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let children: Vec<_> = (0..workers)
                .map(|id| {
                    Command::new(&exe)
                        .arg("--device")
                        .arg(path)
                        .args(["worker", &id.to_string(), "--seconds", &seconds.to_string()])
                        .spawn()
                        .map_err(|e| format!("spawn worker {id}: {e}"))
                })
                .collect::<Result<_, _>>()?;
            for (id, mut child) in children.into_iter().enumerate() {
                let status = child.wait().map_err(|e| e.to_string())?;
                if !status.success() {
                    return Err(format!("worker {id} failed ({status})"));
                }
            }
        }
        None => std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|id| {
                    let e = &e;
                    s.spawn(move || worker(e, id, seconds))
                })
                .collect();
            let mut ops = 0;
            for h in handles {
                ops += h.join().map_err(|_| "a worker panicked".to_string())??;
            }
            println!("churn: {ops} operations");
            Ok::<_, String>(())
        })?,
    }
    allowed(
        e.unpin(SHARED_PIN),
        &[Errno::ENOENT],
        "unpin the shared pin",
    )?;
    let after = (ids(&e, ObjKind::Map)?, ids(&e, ObjKind::Prog)?);
    if after != before {
        return Err(format!(
            "alive before (maps, programs): {before:?}, after: {after:?}"
        ));
    }
    println!("churn: {workers} workers, {seconds} s: PASS, nothing left alive");
    Ok(())
}

fn ids(e: &Ebpf, kind: ObjKind) -> Result<Vec<u32>, String> {
    e.ids(kind).map_err(|e| e.to_string())
}

/// One worker in this process (a child of `churn` on the device).
pub fn worker_process(device: Option<&PathBuf>, id: u32, seconds: u64) -> Result<(), String> {
    let e = crate::open(device)?;
    let ops = worker(&e, id, seconds)?;
    println!("worker {id}: {ops} operations");
    Ok(())
}

/// `r`, unless it failed with an errno outside `ok`.
fn allowed<T>(r: libebpf_ioctl::Result<T>, ok: &[Errno], what: &str) -> Result<Option<T>, String> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if ok.contains(&e.errno) => Ok(None),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// Errnos of element operations on a busy map: absent, present, full.
const ELEM: &[Errno] = &[Errno::ENOENT, Errno::EEXIST, Errno::E2BIG, Errno::ENOSPC];

struct Worker<'a> {
    e: &'a Ebpf,
    id: u32,
    rng: fastrand::Rng,
    template: u32,
    maps: Vec<(MapType, u32)>,
    progs: Vec<u32>,
    ops: u64,
}

fn worker(e: &Ebpf, id: u32, seconds: u64) -> Result<u64, String> {
    let template = e
        .map_create(&spec(MapType::Array, None))
        .map_err(|e| e.to_string())?;
    let mut w = Worker {
        e,
        id,
        rng: fastrand::Rng::with_seed(0x5eed ^ id as u64),
        template,
        maps: Vec::new(),
        progs: Vec::new(),
        ops: 0,
    };
    for &t in TYPES {
        let m = w.create(t)?;
        w.maps.push((t, m));
        w.progs
            .push(load(e, &program_for(t), &[m]).map_err(|err| format!("{t:?} program: {err}"))?);
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        w.step()?;
        w.ops += 1;
    }
    let ops = w.ops;
    for h in w.progs.iter().chain(w.maps.iter().map(|(_, m)| m)) {
        e.close(*h).map_err(|e| e.to_string())?;
    }
    e.close(template).map_err(|e| e.to_string())?;
    Ok(ops)
}

impl Worker<'_> {
    fn create(&self, t: MapType) -> Result<u32, String> {
        let inner =
            matches!(t, MapType::ArrayOfMaps | MapType::HashOfMaps).then_some(self.template);
        self.e
            .map_create(&spec(t, inner))
            .map_err(|e| format!("create {t:?}: {e}"))
    }

    fn step(&mut self) -> Result<(), String> {
        let i = self.rng.usize(..self.maps.len());
        let (t, map) = self.maps[i];
        match self.rng.u32(..10) {
            0..=3 => self.element_op(t, map),
            4 | 5 => {
                let repeat = self.rng.u32(1..20);
                self.e
                    .prog_test_run(self.progs[i], &[0; 64], repeat)
                    .map(|_| ())
                    .map_err(|e| format!("run the {t:?} program: {e}"))
            }
            6 => {
                // A short-lived map and program, used once.
                let t = TYPES[self.rng.usize(..TYPES.len())];
                let m = self.create(t)?;
                let p = load(self.e, &program_for(t), &[m]).map_err(|e| e.to_string())?;
                self.e.prog_test_run(p, &[], 1).map_err(|e| e.to_string())?;
                self.e.close(m).map_err(|e| e.to_string())?;
                self.e.close(p).map_err(|e| e.to_string())
            }
            7 => self.pins(map),
            8 => self.by_id(),
            _ => self.batch(t, map),
        }
    }

    fn element_op(&mut self, t: MapType, map: u32) -> Result<(), String> {
        let e = self.e;
        let (ks, vs) = e.map_sizes(map).map_err(|e| e.to_string())?;
        let k = key(t, ks, self.rng.u32(..16));
        let mut v = vec![0u8; vs];
        match t {
            MapType::Queue | MapType::Stack => {
                if self.rng.bool() {
                    allowed(e.map_update(map, &[], &[1; 8], 0), ELEM, "push")?;
                } else {
                    allowed(e.map_lookup_and_delete(map, &[], &mut v), ELEM, "pop")?;
                }
            }
            MapType::RingBuf => {
                e.ringbuf_consume(map).map_err(|e| e.to_string())?;
            }
            MapType::ProgArray => {
                if self.rng.bool() {
                    let p = load(e, "mov %r0, 3\nexit", &[]).map_err(|e| e.to_string())?;
                    allowed(
                        e.map_update(map, &k, &p.to_ne_bytes(), 0),
                        ELEM,
                        "prog_array update",
                    )?;
                    e.close(p).map_err(|e| e.to_string())?;
                } else {
                    allowed(e.map_delete(map, &k), ELEM, "prog_array delete")?;
                }
            }
            MapType::ArrayOfMaps | MapType::HashOfMaps => {
                if self.rng.u32(..3) > 0 {
                    // Replace the inner map under the running programs.
                    let inner = self.create(MapType::Array)?;
                    allowed(
                        e.map_update(map, &k, &inner.to_ne_bytes(), 0),
                        ELEM,
                        "map-in-map update",
                    )?;
                    e.close(inner).map_err(|e| e.to_string())?;
                } else {
                    allowed(e.map_delete(map, &k), ELEM, "map-in-map delete")?;
                }
            }
            _ => {
                let array = matches!(t, MapType::Array | MapType::PercpuArray);
                match self.rng.u32(..4) {
                    0 => {
                        v[..8].copy_from_slice(&(self.id as u64).to_ne_bytes());
                        allowed(e.map_update(map, &k, &v, 0), ELEM, "update")?;
                    }
                    1 => {
                        allowed(e.map_lookup(map, &k, &mut v, 0), ELEM, "lookup")?;
                    }
                    2 if !array => {
                        allowed(e.map_delete(map, &k), ELEM, "delete")?;
                    }
                    _ => {
                        let mut next = vec![0u8; ks];
                        allowed(e.map_next_key(map, Some(&k), &mut next), ELEM, "next key")?;
                    }
                }
            }
        }
        Ok(())
    }

    fn pins(&mut self, map: u32) -> Result<(), String> {
        let e = self.e;
        let own = format!("stress/w{}/m{}", self.id, self.rng.u32(..4));
        allowed(e.pin(map, &own), &[Errno::EEXIST], "pin")?;
        if let Some((h, _)) = allowed(e.get_pinned(&own), &[], "get pinned")? {
            e.close(h).map_err(|e| e.to_string())?;
        }
        e.unpin(&own).map_err(|e| format!("unpin {own}: {e}"))?;
        // A name the workers race for.
        if self.rng.bool() {
            allowed(e.pin(map, SHARED_PIN), &[Errno::EEXIST], "pin shared")?;
        } else {
            allowed(e.unpin(SHARED_PIN), &[Errno::ENOENT], "unpin shared")?;
        }
        Ok(())
    }

    fn by_id(&mut self) -> Result<(), String> {
        let e = self.e;
        let kind = if self.rng.bool() {
            ObjKind::Map
        } else {
            ObjKind::Prog
        };
        let ids = e.ids(kind).map_err(|e| e.to_string())?;
        if ids.is_empty() {
            return Ok(());
        }
        let id = ids[self.rng.usize(..ids.len())];
        // Other workers' objects come and go.
        if let Some(h) = allowed(e.handle_by_id(kind, id), &[Errno::ENOENT], "handle by id")? {
            match kind {
                ObjKind::Map => e.map_info(h).map(|_| ()),
                ObjKind::Prog => e.prog_info(h).map(|_| ()),
                ObjKind::Link => e.link_info(h).map(|_| ()),
            }
            .map_err(|e| e.to_string())?;
            e.close(h).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn batch(&mut self, t: MapType, map: u32) -> Result<(), String> {
        let e = self.e;
        if !matches!(
            t,
            MapType::Array
                | MapType::PercpuArray
                | MapType::Hash
                | MapType::PercpuHash
                | MapType::LruHash
        ) {
            return Ok(());
        }
        let (ks, vs) = e.map_sizes(map).map_err(|e| e.to_string())?;
        let n = self.rng.u32(1..8);
        let keys: Vec<Vec<u8>> = (0..n).map(|i| key(t, ks, i)).collect();
        let elements: Vec<(Vec<u8>, Vec<u8>)> =
            keys.iter().map(|k| (k.clone(), vec![1; vs])).collect();
        allowed(e.map_update_batch(map, &elements, 0), ELEM, "update batch")?;
        allowed(e.map_lookup_batch(map, None, 8), ELEM, "lookup batch")?;
        if !matches!(t, MapType::Array | MapType::PercpuArray) {
            allowed(e.map_delete_batch(map, &keys), ELEM, "delete batch")?;
        }
        Ok(())
    }
}
