//! Linux's helpers on this runtime's maps, served by a per-run context
//! that also keeps the memory they hand out during a run (map values, ring
//! buffer records) and the tail calls made.

use crate::errno::Errno;
use crate::error::HelperError;
use crate::fixed_vec::FixedVec;
use crate::maps::{Map, ProgramHeader, RingBuf};
use crate::platform::{LogLevel, PlatformRef};
use crate::shared::Shared;

use super::format::{self, FixedBuf};
use super::packet::{NetDevice, PacketState};
use super::{ids, Flow, Helpers, ProgramMemory};

/// Tail calls one run may make (Linux's `MAX_TAIL_CALL_CNT`).
pub const MAX_TAIL_CALLS: u32 = 33;

/// Inner maps one run may look up (map-in-map); more make the lookup fail.
const MAX_INNER_MAPS: usize = 8;
/// Ring buffer records one run may hold reserved at once.
const MAX_RESERVATIONS: usize = 16;
/// Largest format string `bpf_trace_printk`/`bpf_snprintf` read.
const MAX_FMT: usize = 1024;
/// Largest iteration count of `bpf_loop` (Linux's `BPF_MAX_LOOPS`).
const MAX_LOOPS: u64 = 1 << 23;

#[derive(Clone, Copy)]
struct Reservation {
    addr: u64,
    len: u64,
    ring: *const RingBuf,
}

/// Helper state for one run of a program (and the programs it tail-calls).
pub struct RunContext<'r> {
    pub(super) platform: PlatformRef,
    /// The CPU, read when a helper first needs it.
    cpu: Option<u32>,
    /// The maps of the program running now (the last tail call's target).
    maps: &'r [Shared<Map>],
    /// Inner maps a lookup in a map of maps handed out in this run.
    inner: FixedVec<u64, MAX_INNER_MAPS>,
    /// Ring buffer records reserved and not yet committed.
    reservations: FixedVec<Reservation, MAX_RESERVATIONS>,
    tail_calls: u32,
    /// The tail call the program asked for when it last ended with
    /// [`Flow::TailCall`]: its context argument and target.
    tail_call: Option<(u64, *const ProgramHeader)>,
    /// The run's context (its first program's `r1`) and program type: a
    /// tail call passes that context on to a program of that type, so that
    /// a verified target always gets the context it was verified for, even
    /// from a checked caller.
    pub(super) run_ctx: u64,
    pub(super) run_type: u32,
    /// While `bpf_for_each_map_elem` runs: the key the callback may read
    /// (a buffer in that helper's frame), else (0, 0).
    key: (u64, usize),
    /// The `bpf_spin_lock` the program holds: its address and map (none
    /// for an object's lock).
    held_lock: Option<(u64, Option<&'r Map>)>,
    /// The packet's state the packet helpers keep, and its device.
    pub(super) packet_state: PacketState,
    pub(super) device: NetDevice,
    /// The object graph of the program running now and its object types
    /// (BTF id, index), if it allocates objects.
    pub(super) objects: Option<(&'r crate::graph::Graph, &'r [(u32, u32)])>,
    /// The program running now, if a timer may hold it
    /// (`bpf_timer_set_callback`).
    pub(super) program: Option<&'r crate::runtime::LoadedProgram>,
    /// When the run is a timer's callback: that timer.
    pub(super) timer: Option<&'r crate::runtime::timer::TimerCell>,
}

fn ret(r: Result<(), Errno>) -> u64 {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_helper_ret(),
    }
}

impl<'r> RunContext<'r> {
    /// A context for a run of a program that references `maps`, made
    /// inside the run's read-side section (which must outlive it).
    pub(crate) fn new(
        platform: PlatformRef,
        maps: &'r [Shared<Map>],
        run_ctx: u64,
        run_type: u32,
    ) -> Self {
        RunContext {
            platform,
            cpu: None,
            maps,
            run_ctx,
            run_type,
            inner: FixedVec::new(),
            reservations: FixedVec::new(),
            tail_calls: 0,
            tail_call: None,
            key: (0, 0),
            held_lock: None,
            packet_state: PacketState::default(),
            device: NetDevice::LOOPBACK,
            objects: None,
            program: None,
            timer: None,
        }
    }

    /// The program that runs now (set again at each tail call), if a
    /// timer may hold it.
    pub(crate) fn set_program(&mut self, program: Option<&'r crate::runtime::LoadedProgram>) {
        self.program = program;
    }

    /// Makes the run the callback of `timer`, in a value of `map`, whose
    /// key (a buffer of the caller's, `key`) it may read.
    pub(crate) fn set_timer_callback(
        &mut self,
        timer: &'r crate::runtime::timer::TimerCell,
        map: &'r Map,
        key: (u64, usize),
    ) {
        self.timer = Some(timer);
        self.key = key;
        let addr = map as *const Map as u64;
        if self.map(addr).is_none() {
            // An inner map: a fresh context has room for one.
            let _ = self.inner.push(addr);
        }
    }

    /// The object graph of the program that runs now (set again at each
    /// tail call).
    pub(crate) fn set_objects(
        &mut self,
        objects: Option<(&'r crate::graph::Graph, &'r [(u32, u32)])>,
    ) {
        self.objects = objects;
    }

    /// The CPU the run is on (stable: the run is inside a read-side
    /// section, which pins it).
    pub(super) fn cpu(&mut self) -> u32 {
        *self.cpu.get_or_insert_with(|| self.platform.cpu_id())
    }

    /// The CPU whose value of `map` the run uses (0 unless per-CPU).
    fn cpu_for(&mut self, map: &Map) -> u32 {
        if map.map_type().is_percpu() {
            self.cpu()
        } else {
            0
        }
    }

    /// The tail call the program just made: its context argument and the
    /// target, which stays alive until the run's read-side section ends.
    pub(crate) fn take_tail_call(&mut self) -> Option<(u64, *const ProgramHeader)> {
        self.tail_call.take()
    }

    /// Continues the run in a program referencing `maps` (a tail call's
    /// target).
    pub(crate) fn switch_to(&mut self, maps: &'r [Shared<Map>]) {
        self.maps = maps;
    }

    /// Ends the run: records still reserved are discarded, so the consumer
    /// is never blocked by a program that forgot one.
    pub(crate) fn finish(&mut self) {
        for r in self.reservations.as_slice() {
            // SAFETY: the ring belongs to a map the run could reach, alive
            // for the whole read-side section we are still in.
            unsafe { (*r.ring).commit(r.addr, true) };
        }
        self.reservations.clear();
        // Only a checked program can end holding its lock (never an
        // object's: objects are for verified programs).
        if let Some((addr, Some(map))) = self.held_lock.take() {
            let _ = map.program_unlock(addr);
        }
    }

    /// `bpf_spin_lock`: the lock of a value of one of the run's maps.
    fn spin_lock(&mut self, addr: u64) -> Result<u64, HelperError> {
        if self.held_lock.is_some() {
            return Err(HelperError::Other("bpf_spin_lock while holding a lock"));
        }
        let maps: &'r [Shared<Map>] = self.maps;
        let Some(map) = maps.iter().map(|m| &**m).find(|m| m.has_lock_word(addr)) else {
            // An object's lock: only verified programs reach objects, and
            // the verifier proved this is one's lock word.
            if self.objects.is_none() {
                return Err(HelperError::BadPointer { addr, len: 4 });
            }
            // SAFETY: per the verifier, the 4-byte aligned lock of a live
            // object the program owns.
            return match unsafe { crate::maps::lock_word(addr as *mut u8, self.platform) } {
                Ok(()) => {
                    self.held_lock = Some((addr, None));
                    Ok(0)
                }
                Err(_) => Err(HelperError::Other(
                    "bpf_spin_lock: an object's lock stayed held",
                )),
            };
        };
        match map.program_lock(addr, self.platform) {
            Ok(()) => {
                self.held_lock = Some((addr, Some(map)));
                Ok(0)
            }
            Err(_) => Err(HelperError::Other(
                "bpf_spin_lock: the lock stayed held (by a checked program)",
            )),
        }
    }

    /// `bpf_spin_unlock` of the lock the program holds.
    fn spin_unlock(&mut self, addr: u64) -> Result<u64, HelperError> {
        match self.held_lock {
            Some((held, map)) if held == addr => {
                match map {
                    Some(map) => {
                        let _ = map.program_unlock(addr);
                    }
                    // SAFETY: the object lock word taken in `spin_lock`.
                    None => unsafe { crate::maps::unlock_word(addr as *mut u8) },
                }
                self.held_lock = None;
                Ok(0)
            }
            _ => Err(HelperError::Other(
                "bpf_spin_unlock of a lock the program does not hold",
            )),
        }
    }

    /// The map a program passed as `addr`: one of the current program's, or
    /// an inner map it looked up during this run.
    fn map(&self, addr: u64) -> Option<&'r Map> {
        let maps: &'r [Shared<Map>] = self.maps;
        if let Some(m) = maps.iter().find(|m| Shared::as_ptr(m) as u64 == addr) {
            return Some(m);
        }
        if self.inner.as_slice().contains(&addr) {
            // SAFETY: the address came from an outer map's slot during this
            // run; the slot's reference is released only a grace period
            // after it is unpublished, and the run is inside a read-side
            // section.
            return Some(unsafe { &*(addr as *const Map) });
        }
        None
    }

    pub(super) fn map_arg(&self, addr: u64) -> Result<&'r Map, HelperError> {
        self.map(addr)
            .ok_or(HelperError::BadPointer { addr, len: 0 })
    }

    /// A read-only view of `len` bytes of program memory at `addr`.
    pub(super) fn arg_slice<'m>(
        &self,
        mem: &ProgramMemory<'_, '_>,
        addr: u64,
        len: usize,
    ) -> Result<&'m [u8], HelperError> {
        if len == 0 {
            return Ok(&[]);
        }
        if !mem.allows_with(addr, len, false, self) {
            return Err(HelperError::BadPointer { addr, len });
        }
        // SAFETY: the range lies in memory granted to this run (stack,
        // regions, values handed out), valid until the run ends; the slice
        // does not outlive the helper call. Other CPUs may write map values
        // concurrently, as on Linux.
        Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
    }

    /// Reads a NUL-terminated string of at most `buf.len()` bytes.
    fn read_cstr(&self, mem: &ProgramMemory<'_, '_>, addr: u64, buf: &mut [u8]) -> usize {
        for (i, slot) in buf.iter_mut().enumerate() {
            let mut b = [0u8];
            if mem
                .read_with(addr.wrapping_add(i as u64), &mut b, self)
                .is_err()
                || b[0] == 0
            {
                return i;
            }
            *slot = b[0];
        }
        buf.len()
    }

    fn lookup(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        map_addr: u64,
        key_addr: u64,
    ) -> Result<u64, HelperError> {
        let map = self.map_arg(map_addr)?;
        let key = self.arg_slice(mem, key_addr, map.attr().key_size as usize)?;
        let cpu = self.cpu_for(map);
        mem.charge(map.prog_call_cost())?;
        let found = map.prog_lookup(key, cpu);
        let of_maps = matches!(
            map.map_type(),
            crate::maps::MapType::ArrayOfMaps | crate::maps::MapType::HashOfMaps
        );
        if found != 0
            && of_maps
            && !self.inner.as_slice().contains(&found)
            && self.inner.push(found).is_err()
        {
            return Ok(0);
        }
        Ok(found)
    }

    /// `bpf_map_lookup_percpu_elem`: the value of `cpu` of a per-CPU map's
    /// key, NULL for a CPU that cannot exist or another kind of map.
    fn lookup_percpu(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        map_addr: u64,
        key_addr: u64,
        cpu: u64,
    ) -> Result<u64, HelperError> {
        let map = self.map_arg(map_addr)?;
        let key = self.arg_slice(mem, key_addr, map.attr().key_size as usize)?;
        let cpu = cpu as u32;
        if !map.map_type().is_percpu() || cpu >= self.platform.possible_cpus() {
            return Ok(0);
        }
        mem.charge(map.prog_call_cost())?;
        Ok(map.prog_lookup(key, cpu))
    }

    /// `bpf_tail_call`: on success the program ends and the run continues
    /// in the target; otherwise the program goes on after the call.
    fn tail_call(&mut self, ctx: u64, map_addr: u64, index: u64) -> Result<Flow, HelperError> {
        let map = self.map_arg(map_addr)?;
        let target = u32::try_from(index)
            .ok()
            .and_then(|i| map.prog_array_get(i));
        let Some(prog) = target else {
            return Ok(Flow::Return(Errno::ENOENT.to_helper_ret()));
        };
        // SAFETY: the slot holds a reference to the program, released only
        // a grace period after it is unpublished; we are inside the run's
        // read-side section.
        let same_type = unsafe { (*prog).prog_type() } == self.run_type;
        if ctx != self.run_ctx || !same_type {
            // Only a checked program can get here (the verifier requires
            // the context): it may not hand another one a forged context.
            return Ok(Flow::Return(Errno::EINVAL.to_helper_ret()));
        }
        if self.tail_calls >= MAX_TAIL_CALLS {
            return Ok(Flow::Return(Errno::ENOENT.to_helper_ret()));
        }
        self.tail_calls += 1;
        self.tail_call = Some((ctx, prog));
        Ok(Flow::TailCall)
    }

    fn ringbuf(&self, map_addr: u64) -> Result<&'r RingBuf, HelperError> {
        self.map_arg(map_addr)?
            .ringbuf()
            .ok_or(HelperError::Other("map is not a ring buffer"))
    }

    pub(super) fn reserve(
        &mut self,
        map_addr: u64,
        size: u64,
        flags: u64,
    ) -> Result<u64, HelperError> {
        let ring = self.ringbuf(map_addr)?;
        if flags != 0 || self.reservations.is_full() {
            return Ok(0);
        }
        let Some(addr) = ring.reserve(size) else {
            return Ok(0);
        };
        // Not full (checked above).
        let _ = self.reservations.push(Reservation {
            addr,
            len: size,
            ring,
        });
        Ok(addr)
    }

    /// The length of the record this run reserved at `addr`, if it did.
    pub(super) fn reserved_len(&self, addr: u64) -> Option<u64> {
        self.reservations
            .as_slice()
            .iter()
            .find(|r| r.addr == addr)
            .map(|r| r.len)
    }

    pub(super) fn commit(&mut self, addr: u64, discard: bool) -> Result<u64, HelperError> {
        let r = self
            .reservations
            .as_slice()
            .iter()
            .position(|r| r.addr == addr)
            .and_then(|at| self.reservations.swap_remove(at))
            .ok_or(HelperError::Other("not a reserved ring buffer record"))?;
        // SAFETY: as in `finish`.
        unsafe { (*r.ring).commit(addr, discard) };
        Ok(0)
    }

    fn for_each(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        map_addr: u64,
        callback: u64,
        cb_ctx: u64,
        flags: u64,
    ) -> Result<u64, HelperError> {
        let map = self.map_arg(map_addr)?;
        if flags != 0 {
            return Ok(Errno::EINVAL.to_helper_ret());
        }
        if self.key.0 != 0 {
            // A callback calling for_each again: one key buffer per run.
            return Ok(Errno::EBUSY.to_helper_ret());
        }
        let cpu = self.cpu_for(map);
        // The walk passes every slot or bucket, used or not.
        mem.charge(map.attr().max_entries as u64)?;
        let mut failure = None;
        let mut key_buf = [0u8; crate::maps::MAX_KEY_SIZE as usize];
        let key_addr = key_buf.as_mut_ptr() as u64;
        let visited = map.for_each(cpu, &mut |key, value| {
            key_buf[..key.len()].copy_from_slice(key);
            self.key = (key_addr, key.len());
            match mem.call_function(self, callback, [map_addr, key_addr, value, cb_ctx, 0]) {
                Ok(r) => r == 0,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        });
        self.key = (0, 0);
        if let Some(e) = failure {
            return Err(e);
        }
        Ok(match visited {
            Ok(n) => n,
            Err(e) => e.to_helper_ret(),
        })
    }

    fn bpf_loop(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        count: u64,
        callback: u64,
        cb_ctx: u64,
        flags: u64,
    ) -> Result<u64, HelperError> {
        if flags != 0 {
            return Ok(Errno::EINVAL.to_helper_ret());
        }
        if count > MAX_LOOPS {
            return Ok(Errno::E2BIG.to_helper_ret());
        }
        for i in 0..count {
            if mem.call_function(self, callback, [i, cb_ctx, 0, 0, 0])? != 0 {
                return Ok(i + 1);
            }
        }
        Ok(count)
    }

    /// `bpf_trace_printk(fmt, fmt_size, arg1, arg2, arg3)`.
    fn trace_printk(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        args: [u64; 5],
    ) -> Result<u64, HelperError> {
        self.trace(mem, args[0], args[1], &args[2..5])
    }

    /// `bpf_trace_vprintk(fmt, fmt_size, data, data_len)`: as
    /// `bpf_trace_printk`, with up to 12 arguments in an array of u64.
    fn trace_vprintk(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        args: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [fmt_addr, fmt_size, data_addr, data_len, _] = args;
        if data_len != 0 && data_addr == 0 {
            return Ok(Errno::EINVAL.to_helper_ret());
        }
        match self.format_args(mem, data_addr, data_len)? {
            Some((values, n)) => self.trace(mem, fmt_addr, fmt_size, &values[..n]),
            None => Ok(Errno::EINVAL.to_helper_ret()),
        }
    }

    /// Formats `fmt` (`fmt_size` bytes, ending within them as Linux's
    /// `bpf_bprintf_prepare` wants) with `values` into the trace log; the
    /// length of the text, or the error as the program sees it.
    fn trace(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        fmt_addr: u64,
        fmt_size: u64,
        values: &[u64],
    ) -> Result<u64, HelperError> {
        let size = fmt_size as usize;
        if size == 0 || size > MAX_FMT {
            return Ok(Errno::EINVAL.to_helper_ret());
        }
        let fmt = self.arg_slice(mem, fmt_addr, size)?;
        if !fmt.contains(&0) {
            return Ok(Errno::EINVAL.to_helper_ret());
        }
        let mut out = FixedBuf::<512>::default();
        let result = format::format(
            fmt,
            values,
            &mut |addr, buf| self.read_cstr(mem, addr, buf),
            &mut out,
        );
        if let Err(e) = result {
            return Ok(e.to_helper_ret());
        }
        let text = core::str::from_utf8(out.as_bytes()).unwrap_or("<non-UTF-8 output>");
        self.platform.log(
            LogLevel::Trace,
            format_args!("{}", text.trim_end_matches('\n')),
        );
        Ok(out.total() as u64)
    }

    /// The arguments an array of u64 holds (`bpf_snprintf`'s and
    /// `bpf_trace_vprintk`'s `data`, `data_len` bytes) and how many; `None`
    /// for a length not a multiple of 8 or over 12 arguments.
    fn format_args(
        &self,
        mem: &ProgramMemory<'_, '_>,
        data_addr: u64,
        data_len: u64,
    ) -> Result<Option<([u64; format::MAX_ARGS], usize)>, HelperError> {
        if data_len % 8 != 0 || data_len > (format::MAX_ARGS * 8) as u64 {
            return Ok(None);
        }
        let mut values = [0u64; format::MAX_ARGS];
        let data = self.arg_slice(mem, data_addr, data_len as usize)?;
        for (v, chunk) in values.iter_mut().zip(data.chunks_exact(8)) {
            *v = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
        }
        Ok(Some((values, (data_len / 8) as usize)))
    }

    fn snprintf(
        &mut self,
        mem: &ProgramMemory<'_, '_>,
        args: [u64; 5],
    ) -> Result<u64, HelperError> {
        let [str_addr, str_size, fmt_addr, data_addr, data_len] = args;
        let Some((values, n)) = self.format_args(mem, data_addr, data_len)? else {
            return Ok(Errno::EINVAL.to_helper_ret());
        };
        let mut fmt = [0u8; MAX_FMT];
        let fmt_len = self.read_cstr(mem, fmt_addr, &mut fmt);
        if fmt_len == MAX_FMT {
            return Ok(Errno::EINVAL.to_helper_ret());
        }
        let mut out = FixedBuf::<MAX_FMT>::default();
        let result = format::format(
            &fmt[..fmt_len],
            &values[..n],
            &mut |addr, buf| self.read_cstr(mem, addr, buf),
            &mut out,
        );
        if let Err(e) = result {
            return Ok(e.to_helper_ret());
        }
        if str_size > 0 {
            let keep = out.as_bytes().len().min(str_size as usize - 1);
            mem.write_with(str_addr, &out.as_bytes()[..keep], self)?;
            mem.write_with(str_addr + keep as u64, &[0], self)?;
        }
        Ok(out.total() as u64 + 1)
    }
}

impl Helpers for RunContext<'_> {
    fn supports(&self, id: u32) -> bool {
        ids::ALL.contains(&id)
    }

    fn call(
        &mut self,
        id: u32,
        args: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Result<Flow, HelperError> {
        if id == ids::TAIL_CALL {
            return self.tail_call(args[0], args[1], args[2]);
        }
        if id == ids::THROW {
            // The program ends, from whatever function threw, returning
            // what its exception callback returns (by default the cookie).
            return mem.throw(self, args[0]).map(Flow::Exit);
        }
        self.call_returning(id, args, mem).map(Flow::Return)
    }

    fn allows(&self, addr: u64, len: u64, write: bool) -> bool {
        if self.maps.iter().any(|m| m.contains_value(addr, len, write)) {
            return true;
        }
        if self.inner.as_slice().iter().any(|&m| {
            // SAFETY: as in `map`: inner maps seen in this run stay alive.
            unsafe { &*(m as *const Map) }.contains_value(addr, len, write)
        }) {
            return true;
        }
        let within = |start: u64, size: u64| {
            addr >= start && addr.checked_add(len).is_some_and(|end| end <= start + size)
        };
        if self
            .reservations
            .as_slice()
            .iter()
            .any(|r| within(r.addr, r.len))
        {
            return true;
        }
        !write && self.key.0 != 0 && within(self.key.0, self.key.1 as u64)
    }
}

impl RunContext<'_> {
    /// Every helper but `bpf_tail_call`: they all return to the program.
    fn call_returning(
        &mut self,
        id: u32,
        args: [u64; 5],
        mem: &ProgramMemory<'_, '_>,
    ) -> Result<u64, HelperError> {
        if let Some(result) = self.call_packet(id, args, mem) {
            return result;
        }
        if let Some(result) = self.call_dynptr(id, args, mem) {
            return result;
        }
        if let Some(result) = self.call_socket(id, args, mem) {
            return result;
        }
        if let Some(result) = self.call_graph(id, args, mem) {
            return result;
        }
        let p = self.platform;
        match id {
            ids::MAP_LOOKUP_ELEM => self.lookup(mem, args[0], args[1]),
            ids::MAP_UPDATE_ELEM => {
                let map = self.map_arg(args[0])?;
                let key = self.arg_slice(mem, args[1], map.attr().key_size as usize)?;
                let value = self.arg_slice(mem, args[2], map.attr().value_size as usize)?;
                let cpu = self.cpu_for(map);
                mem.charge(map.prog_call_cost())?;
                match map.prog_update(key, value, args[3], cpu) {
                    // Only a lock word the program itself left set stays
                    // held this long: end the run rather than spin on.
                    Err(Errno::EDEADLK) => Err(HelperError::Other(
                        "BPF_F_LOCK update: the value's bpf_spin_lock stayed held",
                    )),
                    result => Ok(ret(result)),
                }
            }
            ids::MAP_DELETE_ELEM => {
                let map = self.map_arg(args[0])?;
                let key = self.arg_slice(mem, args[1], map.attr().key_size as usize)?;
                mem.charge(map.prog_call_cost())?;
                Ok(ret(map.prog_delete(key)))
            }
            ids::MAP_PUSH_ELEM if self.map_arg(args[0])?.bloom().is_some() => {
                let map = self.map_arg(args[0])?;
                let value = self.arg_slice(mem, args[1], map.attr().value_size as usize)?;
                Ok(ret(map
                    .bloom()
                    .map_or(Err(Errno::EINVAL), |b| b.push(value, args[2]))))
            }
            ids::MAP_PEEK_ELEM if self.map_arg(args[0])?.bloom().is_some() => {
                let map = self.map_arg(args[0])?;
                let value = self.arg_slice(mem, args[1], map.attr().value_size as usize)?;
                Ok(ret(map
                    .bloom()
                    .map_or(Err(Errno::EINVAL), |b| b.peek(value))))
            }
            ids::MAP_PUSH_ELEM => {
                let map = self.map_arg(args[0])?;
                let Some(queue) = map.queue() else {
                    return Ok(Errno::EINVAL.to_helper_ret());
                };
                let value = self.arg_slice(mem, args[1], map.attr().value_size as usize)?;
                Ok(ret(queue.push(value, args[2])))
            }
            ids::MAP_POP_ELEM | ids::MAP_PEEK_ELEM => {
                let map = self.map_arg(args[0])?;
                let Some(queue) = map.queue() else {
                    return Ok(Errno::EINVAL.to_helper_ret());
                };
                let this: &Self = self;
                let mut copy = |v: &[u8]| mem.write_with(args[1], v, this);
                let r = if id == ids::MAP_POP_ELEM {
                    queue.pop_with(&mut copy)
                } else {
                    queue.peek_with(&mut copy)
                };
                match r {
                    Ok(written) => written.map(|()| 0),
                    Err(e) => Ok(e.to_helper_ret()),
                }
            }
            ids::RINGBUF_OUTPUT => {
                let ring = self.ringbuf(args[0])?;
                let data = self.arg_slice(mem, args[1], args[2] as usize)?;
                Ok(ret(ring.output(data)))
            }
            ids::RINGBUF_RESERVE => self.reserve(args[0], args[1], args[2]),
            ids::PERF_EVENT_OUTPUT => self.perf_event_output(mem, args),
            ids::RINGBUF_SUBMIT => self.commit(args[0], false),
            ids::RINGBUF_DISCARD => self.commit(args[0], true),
            ids::RINGBUF_QUERY => Ok(self.ringbuf(args[0])?.query(args[1])),
            ids::FOR_EACH_MAP_ELEM => self.for_each(mem, args[0], args[1], args[2], args[3]),
            ids::LOOP => self.bpf_loop(mem, args[0], args[1], args[2], args[3]),
            // Programs run with preemption (and migration) off already.
            ids::PREEMPT_DISABLE | ids::PREEMPT_ENABLE => Ok(0),
            ids::TIMER_INIT => self.timer_init(args[0], args[1], args[2]),
            ids::TIMER_SET_CALLBACK => self.timer_set_callback(args[0], args[1]),
            ids::TIMER_START => self.timer_start(args[0], args[1], args[2]),
            ids::TIMER_CANCEL => self.timer_cancel(args[0]),
            ids::SPIN_LOCK => self.spin_lock(args[0]),
            ids::SPIN_UNLOCK => self.spin_unlock(args[0]),
            ids::MAP_LOOKUP_PERCPU_ELEM => self.lookup_percpu(mem, args[0], args[1], args[2]),
            ids::STRNCMP => self.strncmp(mem, args),
            ids::TCP_RAW_GEN_SYNCOOKIE_IPV4 | ids::TCP_RAW_GEN_SYNCOOKIE_IPV6 => {
                self.gen_syncookie(mem, args, id == ids::TCP_RAW_GEN_SYNCOOKIE_IPV6)
            }
            ids::TCP_RAW_CHECK_SYNCOOKIE_IPV4 | ids::TCP_RAW_CHECK_SYNCOOKIE_IPV6 => {
                self.check_syncookie(mem, args, id == ids::TCP_RAW_CHECK_SYNCOOKIE_IPV6)
            }
            ids::STRTOL | ids::STRTOUL => self.strtox(mem, args, id == ids::STRTOL),
            ids::TRACE_PRINTK => self.trace_printk(mem, args),
            ids::TRACE_VPRINTK => self.trace_vprintk(mem, args),
            ids::SNPRINTF => self.snprintf(mem, args),
            ids::KTIME_GET_NS => Ok(p.monotonic_ns()),
            ids::KTIME_GET_BOOT_NS => Ok(p.boot_ns()),
            ids::KTIME_GET_COARSE_NS => Ok(p.coarse_ns()),
            ids::KTIME_GET_TAI_NS => Ok(p.tai_ns()),
            ids::JIFFIES64 => Ok(p.jiffies()),
            ids::GET_PRANDOM_U32 => Ok(p.random_u32() as u64),
            ids::GET_SMP_PROCESSOR_ID => Ok(self.cpu() as u64),
            ids::GET_NUMA_NODE_ID => Ok(p.numa_node() as u64),
            _ => Err(HelperError::NotAvailable),
        }
    }
}
