//! One function per command: validate, act, fill the reply.

use alloc::vec::Vec;
use core::fmt::Write;

use super::{user_addr, zeroed, Call, Device};
use crate::abi::{self, Command, ObjKind, Plain, OBJ_NAME_LEN, PIN_NAME_LEN};
use crate::attach::Link;
use crate::errno::Errno;
use crate::error::LoadError;
use crate::graph::types::{Field, Record};
use crate::insn::{Insn, INSN_SIZE};
use crate::interp::Stack;
use crate::load::{self, Admission, ProgramMaps};
use crate::maps::{InnerTemplate, Map, MapAttr, MapObject, MapType};
use crate::memory::MemoryMap;
use crate::platform::{Direction, ReadGuard};
use crate::prog_type::{AttachPoint, ProgType, TestFrame};
use crate::program::LoadOptions;
use crate::quota::Quota;
use crate::runtime::LoadedProgram;
use crate::shared::Shared;

use super::objects::Object;

fn check_name(name: &[u8]) -> Result<(), Errno> {
    let len = name.iter().position(|&b| b == 0).ok_or(Errno::EINVAL)?;
    let ok = name[..len]
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if !ok || name[len..].iter().any(|&b| b != 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn check_pin_name(name: &[u8; PIN_NAME_LEN]) -> Result<(), Errno> {
    let len = name.iter().position(|&b| b == 0).ok_or(Errno::EINVAL)?;
    let text = &name[..len];
    // Path-like names (`app/prog`) group pins as bpffs directories do.
    let ok = len > 0
        && text
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
        && text.split(|&b| b == b'/').all(|part| !part.is_empty());
    if !ok || name[len..].iter().any(|&b| b != 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn map_of(c: &Call<'_>, handle: u32) -> Result<Shared<Map>, Errno> {
    match c.file.get(handle)? {
        Object::Map(m) => Ok(m),
        _ => Err(Errno::EINVAL),
    }
}

fn prog_of(c: &Call<'_>, handle: u32) -> Result<Shared<LoadedProgram>, Errno> {
    match c.file.get(handle)? {
        Object::Prog(p) => Ok(p),
        _ => Err(Errno::EINVAL),
    }
}

/// Registers a new object and gives the caller a handle to it.
fn publish(c: &Call<'_>, obj: Object, name: [u8; OBJ_NAME_LEN]) -> Result<u32, Errno> {
    let mut reg = c.dev.registry.lock();
    reg.add(obj.clone(), name, c.dev.platform.monotonic_ns())?;
    match c.file.insert(obj.clone(), c.dev.limits.max_handles) {
        Ok(h) => Ok(h),
        Err(e) => {
            reg.unref(&obj, c.dev.platform);
            Err(e)
        }
    }
}

pub(super) fn version(dev: &Device, r: &mut abi::VersionReq) -> Result<(), Errno> {
    r.abi_version = abi::ABI_VERSION;
    r.commands = Command::ALL.len() as u32;
    r.possible_cpus = dev.platform.possible_cpus();
    r.reserved = 0;
    r.version = [0; 32];
    let v = dev.version.as_bytes();
    let n = v.len().min(31);
    r.version[..n].copy_from_slice(&v[..n]);
    Ok(())
}

pub(super) fn map_create(c: &Call<'_>, r: &mut abi::MapCreateReq) -> Result<(), Errno> {
    check_name(&r.name)?;
    let map_type = MapType::from_u32(r.map_type)?;
    let inner = match r.inner_map_handle {
        0 => None,
        h => Some(map_of(c, h)?.attr().as_template()),
    };
    // The value's special fields: its lock, lists and kptrs of the object
    // types given.
    let record = if r.nr_value_fields == 0 && r.nr_obj_types == 0 {
        Record::EMPTY
    } else {
        if r.nr_value_fields as usize > abi::MAX_OBJ_FIELDS {
            return Err(Errno::E2BIG);
        }
        let fields: Vec<abi::ObjField> = read_plain(c, r.value_fields, r.nr_value_fields)?;
        let descs: Vec<abi::ObjTypeDesc> = read_plain(c, r.obj_types, r.nr_obj_types)?;
        let ids = if descs.is_empty() {
            Vec::new()
        } else {
            c.dev.graph()?.register_descs(&descs)?
        };
        let record = crate::graph::record_of(&fields, r.value_size, &ids)?;
        if !descs.is_empty() {
            c.dev.graph()?.check_record(&record)?;
        }
        record
    };
    // The lock given alone (`spin_lock_offset_plus_one`, for values with
    // no other special field) or with the fields: one lock, where both say.
    let record = match (
        r.spin_lock_offset_plus_one.checked_sub(1),
        record.spin_lock(),
    ) {
        (None, _) => record,
        (Some(off), Some(have)) if off == have => record,
        (Some(_), Some(_)) => return Err(Errno::EINVAL),
        (Some(off), None) => record.with(Field::spin_lock(off), r.value_size)?,
    };
    let attr = MapAttr {
        map_type,
        key_size: r.key_size,
        value_size: r.value_size,
        max_entries: r.max_entries,
        flags: r.map_flags,
        inner: inner.map(|t: InnerTemplate| t),
        extra: r.map_extra as u64,
        record,
    };
    // Linux: `map_extra` means something to bloom filters only.
    if r.map_extra != 0 && map_type != MapType::BloomFilter {
        return Err(Errno::EINVAL);
    }
    // Charged before anything is allocated; the map gives it back when it
    // is freed.
    let charge = Quota::charge_map(&c.dev.quota, Map::footprint(c.dev.platform, &attr)?)?;
    let id = c.dev.registry.lock().next_id();
    let mut map = Map::create(c.dev.platform, &attr, id)?;
    if attr.record.holds_objects() {
        map.set_graph(c.dev.graph()?)?;
    }
    map.set_charge(charge);
    let map = Shared::try_new(map)?;
    r.handle = publish(c, Object::Map(map), r.name)?;
    r.id = id;
    Ok(())
}

pub(super) fn map_elem(c: &Call<'_>, cmd: Command, r: &mut abi::MapElemReq) -> Result<(), Errno> {
    if r.reserved != 0 {
        return Err(Errno::EINVAL);
    }
    let map = map_of(c, r.handle)?;
    let key_size = map.attr().key_size as usize;
    let key = if r.key == 0 && key_size > 0 {
        if cmd != Command::MapGetNextKey {
            return Err(Errno::EINVAL);
        }
        None
    } else {
        Some(c.read_user(r.key, key_size)?)
    };
    let object_valued = matches!(
        map.map_type(),
        MapType::ProgArray | MapType::ArrayOfMaps | MapType::HashOfMaps
    );
    let value_size = if object_valued {
        4
    } else {
        map.user_value_size()
    };
    match cmd {
        // A bloom filter is asked about the value the caller passes.
        Command::MapLookupElem if map.bloom().is_some() => {
            let mut value = c.read_user(r.value, value_size)?;
            map.lookup(&[], &mut value, r.flags)
        }
        Command::MapLookupElem => {
            let mut value = zeroed(value_size)?;
            map.lookup(key.as_deref().unwrap_or(&[]), &mut value, r.flags)?;
            c.write_user(r.value, &value)
        }
        Command::MapLookupAndDeleteElem => {
            let mut value = zeroed(value_size)?;
            map.lookup_and_delete(key.as_deref().unwrap_or(&[]), &mut value, r.flags)?;
            c.write_user(r.value, &value)
        }
        Command::MapUpdateElem => {
            let value = c.read_user(r.value, value_size)?;
            let key = key.as_deref().unwrap_or(&[]);
            if object_valued {
                let handle = u32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
                let obj = match c.file.get(handle)? {
                    Object::Map(m) => MapObject::Map(m),
                    Object::Prog(p) => MapObject::Program(p.into()),
                    Object::Link(_) => return Err(Errno::EINVAL),
                };
                map.update_object(key, obj, r.flags)
            } else {
                map.update(key, &value, r.flags)
            }
        }
        Command::MapDeleteElem => {
            if r.flags != 0 {
                return Err(Errno::EINVAL);
            }
            map.delete(key.as_deref().unwrap_or(&[]))
        }
        Command::MapGetNextKey => {
            let mut next = zeroed(key_size)?;
            map.get_next_key(key.as_deref(), &mut next)?;
            c.write_user(r.value, &next)
        }
        _ => Err(Errno::EINVAL),
    }
}

pub(super) fn map_batch(c: &Call<'_>, cmd: Command, r: &mut abi::MapBatchReq) -> Result<(), Errno> {
    if r.flags != 0 {
        return Err(Errno::EINVAL);
    }
    let map = map_of(c, r.handle)?;
    if matches!(
        map.map_type(),
        MapType::ProgArray
            | MapType::ArrayOfMaps
            | MapType::HashOfMaps
            | MapType::Queue
            | MapType::Stack
            | MapType::RingBuf
            | MapType::PerfEventArray
            | MapType::BloomFilter
    ) {
        return Err(Errno::ENOTSUPP);
    }
    let ks = map.attr().key_size as usize;
    let vs = map.user_value_size();
    let wanted = r.count;
    r.count = 0;
    match cmd {
        Command::MapLookupBatch => {
            if r.elem_flags & !crate::maps::update::BPF_F_LOCK != 0 {
                return Err(Errno::EINVAL);
            }
            // The last key seen; `next` and `prev` swap roles each step
            // (no allocation in the loop).
            let mut prev = zeroed(ks)?;
            let mut have_prev = r.in_batch != 0;
            if have_prev && ks > 0 {
                c.dev.platform.copy_from_user(&mut prev, r.in_batch)?;
            }
            let mut next = zeroed(ks)?;
            let mut value = zeroed(vs)?;
            while r.count < wanted {
                c.step()?;
                map.get_next_key(have_prev.then_some(&prev[..]), &mut next)?;
                if map.lookup(&next, &mut value, r.elem_flags).is_ok() {
                    let i = r.count as u64;
                    c.write_user(user_addr(r.keys, i * ks as u64)?, &next)?;
                    c.write_user(user_addr(r.values, i * vs as u64)?, &value)?;
                    c.write_user(r.out_batch, &next)?;
                    r.count += 1;
                }
                core::mem::swap(&mut prev, &mut next);
                have_prev = true;
            }
            Ok(())
        }
        Command::MapUpdateBatch => {
            for i in 0..wanted as u64 {
                c.step()?;
                let key = c.read_user(user_addr(r.keys, i * ks as u64)?, ks)?;
                let value = c.read_user(user_addr(r.values, i * vs as u64)?, vs)?;
                map.update(&key, &value, r.elem_flags)?;
                r.count += 1;
            }
            Ok(())
        }
        Command::MapDeleteBatch => {
            if r.elem_flags != 0 {
                return Err(Errno::EINVAL);
            }
            for i in 0..wanted as u64 {
                c.step()?;
                let key = c.read_user(user_addr(r.keys, i * ks as u64)?, ks)?;
                map.delete(&key)?;
                r.count += 1;
            }
            Ok(())
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `count` elements of `N` bytes at user address `addr`, each decoded by
/// `decode`, in fallibly allocated memory.
/// `count` request structs at user address `addr` (at most 64).
fn read_plain<T: abi::Plain>(c: &Call<'_>, addr: u64, count: u32) -> Result<Vec<T>, Errno> {
    if count > 64 {
        return Err(Errno::E2BIG);
    }
    let size = core::mem::size_of::<T>();
    let bytes = c.read_user(addr, count as usize * size)?;
    let mut out = Vec::new();
    out.try_reserve_exact(count as usize)
        .map_err(|_| Errno::ENOMEM)?;
    for chunk in bytes.chunks_exact(size) {
        let mut v = T::default();
        v.as_bytes_mut().copy_from_slice(chunk);
        out.push(v);
    }
    Ok(out)
}

fn read_user_array<T, const N: usize>(
    c: &Call<'_>,
    addr: u64,
    count: usize,
    decode: impl Fn([u8; N]) -> T,
) -> Result<Vec<T>, Errno> {
    let bytes = c.read_user(addr, count * N)?;
    let mut out = Vec::new();
    out.try_reserve_exact(count).map_err(|_| Errno::ENOMEM)?;
    out.extend(
        bytes
            .chunks_exact(N)
            .map(|b| decode(b.try_into().unwrap_or([0; N]))),
    );
    Ok(out)
}

/// The loader log: keeps what fits, counts all, always NUL-terminated.
struct Log {
    buf: Vec<u8>,
    cap: usize,
    total: usize,
}

impl Write for Log {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            self.total += 1;
            if self.buf.len() + 1 >= self.cap {
                continue;
            }
            // Grow only fallibly; a log cut short by memory is still a log.
            if self.buf.len() == self.buf.capacity()
                && self.buf.try_reserve(self.buf.len().max(64)).is_err()
            {
                continue;
            }
            self.buf.push(b);
        }
        Ok(())
    }
}

pub(super) fn prog_load(c: &Call<'_>, r: &mut abi::ProgLoadReq) -> Result<(), Errno> {
    if r.prog_flags & !abi::PROG_F_CHECKED != 0 {
        return Err(Errno::EINVAL);
    }
    check_name(&r.name)?;
    let prog_type = ProgType::from_u32(r.prog_type)?;
    let attach = AttachPoint::from_linux(prog_type, r.expected_attach_type)?;
    if r.insn_cnt == 0 {
        return Err(Errno::EINVAL);
    }
    if r.insn_cnt > c.dev.limits.max_insns {
        return Err(Errno::E2BIG);
    }
    let log_on = r.log_level != 0;
    if log_on && (r.log_buf == 0 || r.log_size < 2 || r.log_size > c.dev.limits.max_log)
        || !log_on && (r.log_buf != 0 || r.log_size != 0)
        || r.log_level > 2
    {
        return Err(Errno::EINVAL);
    }
    // License: NUL-terminated within 128 bytes.
    let mut license = [0u8; 128];
    let mut len = 0;
    while len < license.len() {
        c.dev.platform.copy_from_user(
            &mut license[len..len + 1],
            user_addr(r.license, len as u64)?,
        )?;
        if license[len] == 0 {
            break;
        }
        len += 1;
    }
    if len == license.len() {
        return Err(Errno::EINVAL);
    }
    let insns = read_user_array(c, r.insns, r.insn_cnt as usize, Insn::from_bytes)?;
    if r.map_count > 64 {
        return Err(Errno::E2BIG);
    }
    let handles = read_user_array(c, r.map_handles, r.map_count as usize, u32::from_ne_bytes)?;
    let maps = ProgramMaps::collect(&insns, &handles, &|h| map_of(c, h))?;
    // The object types it allocates, registered in the device's graph.
    let descs: Vec<abi::ObjTypeDesc> = read_plain(c, r.obj_types, r.nr_obj_types)?;
    let objects = if descs.is_empty() {
        None
    } else {
        let graph = c.dev.graph()?;
        let types = graph.register_descs(&descs)?;
        Some(crate::graph::ProgramObjects { graph, types })
    };
    let charge = Quota::charge_program(&c.dev.quota)?;
    let id = c.dev.registry.lock().next_id();
    let opts = LoadOptions::default()
        .max_insns(c.dev.limits.max_insns as usize)
        .budget(c.dev.limits.run_budget);
    let mut log = Log {
        buf: Vec::new(),
        cap: r.log_size as usize,
        total: 0,
    };
    if log_on {
        log.buf
            .try_reserve(log.cap.min(4096))
            .map_err(|_| Errno::ENOMEM)?;
    }
    let admission = Admission {
        gpl: load::gpl_compatible(&license[..len]),
        checked_if_rejected: r.prog_flags & abi::PROG_F_CHECKED != 0,
        allow_ptr_leaks: c.file.privileges().see_addresses,
        log: log_on.then_some((&mut log as &mut dyn Write, r.log_level)),
        attach,
        exception_cb: r.exception_cb.checked_sub(1).map(|i| i as usize),
        objects,
    };
    let started = c.dev.platform.monotonic_ns();
    let loaded = LoadedProgram::admit(c.dev.platform, id, prog_type, &insns, maps, opts, admission);
    let result = match loaded {
        Ok((mut p, verdict)) => {
            if log_on && matches!(verdict, load::Verdict::Verified(_)) {
                let us = c.dev.platform.monotonic_ns().saturating_sub(started) / 1000;
                let _ = writeln!(log, "verification time {us} usec");
            }
            if r.log_level >= 2 {
                let _ = writeln!(log, "loaded {} instructions", p.program().len());
            }
            p.set_charge(charge);
            let p = p.into_shared()?;
            r.handle = publish(c, Object::Prog(p), r.name)?;
            r.id = id;
            Ok(())
        }
        Err(LoadError::Rejected(e)) => {
            // The verifier wrote its reason to the log already.
            Err(e.errno)
        }
        Err(e) => {
            let _ = writeln!(log, "{e}");
            Err(match e {
                LoadError::OutOfMemory => Errno::ENOMEM,
                LoadError::TooLarge { .. } => Errno::E2BIG,
                _ => Errno::EINVAL,
            })
        }
    };
    if log_on {
        if log.buf.try_reserve(1).is_ok() {
            log.buf.push(0);
        } else if let Some(last) = log.buf.last_mut() {
            *last = 0;
        }
        r.log_true_size = log.total as u32 + 1;
        c.write_user(r.log_buf, &log.buf)?;
        if result.is_ok() && log.total + 1 > log.cap {
            return Err(Errno::ENOSPC);
        }
    }
    result
}

/// A batch of repeated test runs grows while it takes less than this long
/// in one read-side section (ns)...
const TEST_BATCH_NS: u64 = 100_000;
/// ... up to this many runs.
const TEST_BATCH_MAX: u32 = 1024;

pub(super) fn test_run(c: &Call<'_>, r: &mut abi::TestRunReq) -> Result<(), Errno> {
    if r.flags != 0 || r.reserved != 0 {
        return Err(Errno::EINVAL);
    }
    let prog = prog_of(c, r.handle)?;
    // Programs run from devmap and cpumap entries are not test-run, as
    // Linux's `bpf_prog_test_run_xdp` refuses them.
    if prog.attach().runs_from_map_entry() {
        return Err(Errno::EINVAL);
    }
    let max = c.dev.limits.max_test_data;
    if r.data_size_in > max || r.ctx_size_in > max {
        return Err(Errno::E2BIG);
    }
    if r.repeat > c.dev.limits.max_repeat {
        return Err(Errno::E2BIG);
    }
    let prog_type = prog.prog_type();
    let input = c.read_user(r.data_in, r.data_size_in as usize)?;
    // The context the caller passes (`ctx_in`), as Linux's test run takes
    // it for the type: which fields may be set, the rest zero.
    let template = {
        let mut t = prog_type.test_input(&input);
        let given = r.ctx_in != 0 || r.ctx_size_in != 0;
        let ctx = if given {
            c.read_user(r.ctx_in, r.ctx_size_in as usize)?
        } else {
            Vec::new()
        };
        let meta = prog_type.context_in(&mut t, given.then_some(&ctx[..]), input.len())?;
        (t, meta, given.then_some(ctx))
    };
    let mut frame = TestFrame::new(&input, template.1)?;
    let mut stack = Stack::try_new_boxed().ok_or(Errno::ENOMEM)?;
    // Objects the runs allocate come from the pool: filled here, where
    // allocating may sleep.
    prog.top_up_objects();
    let repeat = r.repeat.max(1);
    let start = c.dev.platform.monotonic_ns();
    let mut retval = 0;
    let mut runs = 0;
    let mut stopped = Ok(());
    let mut context = template.0;
    let platform = c.dev.platform;
    {
        // One packet and one context for every run, as Linux's test runs
        // repeat on the same buffer: a run sees what the previous one left
        // (the packet's bytes, its place, the context's fields).
        let mut mem = MemoryMap::new();
        let args = context
            .args(&mut mem, &mut frame)
            .map_err(|_| Errno::ENOMEM)?;
        // Runs come in batches inside one read-side section, as Linux's
        // test runs keep one across runs. Between batches, as Linux's
        // bpf_test_timer: reschedule, and stop with EINTR (retval and
        // duration of the runs so far) on a signal. A batch doubles while
        // it takes less than TEST_BATCH_NS, so none keeps the CPU much
        // longer (a single run is bounded as ever: by the verifier, or the
        // budget).
        let mut batch: u32 = 1;
        while runs < repeat {
            if runs > 0 {
                if let Err(e) = c.step() {
                    stopped = Err(e);
                    break;
                }
            }
            let batch_start = platform.monotonic_ns();
            let end = runs.saturating_add(batch).min(repeat);
            let section = ReadGuard::new(platform);
            let mut failed = None;
            while runs < end {
                match prog.run_in(&section, &mut stack, &mem, args) {
                    Ok(r0) => retval = r0,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
                runs += 1;
            }
            drop(section);
            if let Some(e) = failed {
                platform.log(
                    crate::platform::LogLevel::Warning,
                    format_args!("program {} stopped: {e}", prog.id()),
                );
                return Err(Errno::EFAULT);
            }
            if platform.monotonic_ns().saturating_sub(batch_start) < TEST_BATCH_NS {
                batch = batch.saturating_mul(2).min(TEST_BATCH_MAX);
            }
        }
    }
    let elapsed = c.dev.platform.monotonic_ns().saturating_sub(start);
    r.retval = retval as u32;
    r.duration = (elapsed / runs as u64).min(u32::MAX as u64) as u32;
    stopped?;
    let mut short = false;
    if r.ctx_out != 0 || r.ctx_size_out != 0 {
        match prog_type.context_out(&context, template.2.as_deref()) {
            Some(out) => {
                let out = out.as_bytes();
                let n = out.len().min(r.ctx_size_out as usize);
                if r.ctx_out != 0 {
                    c.write_user(r.ctx_out, &out[..n])?;
                }
                short |= n < out.len();
                r.ctx_size_out = out.len() as u32;
            }
            None => return Err(Errno::EINVAL),
        }
    }
    let data = context.frame_after(&mut frame);
    if r.data_out != 0 {
        let n = data.len().min(r.data_size_out as usize);
        c.write_user(r.data_out, &data[..n])?;
        short |= n < data.len();
    }
    r.data_size_out = data.len() as u32;
    if short {
        return Err(Errno::ENOSPC);
    }
    Ok(())
}

pub(super) fn obj_pin(c: &Call<'_>, r: &mut abi::ObjPinReq) -> Result<(), Errno> {
    if r.kind != 0 {
        return Err(Errno::EINVAL);
    }
    check_pin_name(&r.name)?;
    let obj = c.file.get(r.handle)?;
    c.dev
        .registry
        .lock()
        .pin(r.name, &obj, c.dev.limits.max_pins)
}

pub(super) fn obj_get(c: &Call<'_>, r: &mut abi::ObjPinReq) -> Result<(), Errno> {
    check_pin_name(&r.name)?;
    let mut reg = c.dev.registry.lock();
    let obj = reg.pinned(&r.name).ok_or(Errno::ENOENT)?;
    if r.handle != 0 {
        // handle = 1 asks to remove the pin instead (unpin).
        if r.handle != 1 {
            return Err(Errno::EINVAL);
        }
        return reg.unpin(&r.name, c.dev.platform);
    }
    let h = c.file.insert(obj.clone(), c.dev.limits.max_handles)?;
    reg.add_user(&obj);
    r.handle = h;
    r.kind = obj.kind() as u32;
    Ok(())
}

pub(super) fn obj_close(c: &Call<'_>, r: &mut abi::ObjCloseReq) -> Result<(), Errno> {
    if r.reserved != 0 {
        return Err(Errno::EINVAL);
    }
    let obj = c.file.remove(r.handle)?;
    c.dev.registry.lock().unref(&obj, c.dev.platform);
    Ok(())
}

pub(super) fn get_info(c: &Call<'_>, r: &mut abi::GetInfoReq) -> Result<(), Errno> {
    let obj = c.file.get(r.handle)?;
    let mut out = [0u8; 96];
    let mut xlated: Option<Vec<u8>> = None;
    // Where the caller wants a program's instructions, if its struct is new
    // enough to say (read before taking the registry lock: copies may fault).
    let want = core::mem::offset_of!(abi::ProgInfo, xlated_insns) + 8;
    let (cap, addr) = match (&obj, r.info_len as usize >= want) {
        (Object::Prog(_), true) => {
            let user = c.read_user(r.info, want)?;
            let mut info = abi::ProgInfo::default();
            // The fields read are a prefix of the struct (it grows at its end).
            let prefix = info.as_bytes_mut().get_mut(..want).ok_or(Errno::EINVAL)?;
            prefix.copy_from_slice(&user);
            (info.xlated_len, info.xlated_insns)
        }
        _ => (0, 0),
    };
    let bytes = {
        let reg = c.dev.registry.lock();
        let entry = reg.entry(&obj).ok_or(Errno::ENOENT)?;
        match &obj {
            Object::Map(m) => {
                let a = m.attr();
                let info = abi::MapInfo {
                    map_type: a.map_type as u32,
                    id: m.id(),
                    key_size: a.key_size,
                    value_size: a.value_size,
                    max_entries: a.max_entries,
                    map_flags: a.flags,
                    name: entry.name,
                    memory_bytes: m.memory_bytes(),
                };
                let b = info.as_bytes();
                out[..b.len()].copy_from_slice(b);
                b.len()
            }
            Object::Prog(p) => {
                let (runs, ns) = p.stats().get();
                let insns = p.program().insns();
                let mut info = abi::ProgInfo {
                    prog_type: p.prog_type() as u32,
                    id: p.id(),
                    insn_cnt: p.program().len() as u32,
                    map_count: p.maps().len() as u32,
                    name: entry.name,
                    load_time_ns: entry.load_time_ns,
                    run_cnt: runs,
                    run_time_ns: ns,
                    xlated_len: (insns.len() * INSN_SIZE) as u32,
                    flags: if p.is_verified() {
                        abi::PROG_INFO_VERIFIED
                    } else {
                        0
                    } | if p.program().native_len().is_some() {
                        abi::PROG_INFO_JITED
                    } else {
                        0
                    },
                    jited_len: p.program().native_len().unwrap_or(0) as u32,
                    ..Default::default()
                };
                info.xlated_insns = addr;
                {
                    if cap > 0 && addr != 0 {
                        let n = (cap as usize / INSN_SIZE).min(insns.len());
                        let mut code = Vec::new();
                        code.try_reserve_exact(n * INSN_SIZE)
                            .map_err(|_| Errno::ENOMEM)?;
                        for insn in &insns[..n] {
                            code.extend_from_slice(&insn.to_bytes());
                        }
                        xlated = Some(code);
                    }
                }
                let b = info.as_bytes();
                out[..b.len()].copy_from_slice(b);
                b.len()
            }
            Object::Link(l) => {
                let info = l.info();
                let b = info.as_bytes();
                out[..b.len()].copy_from_slice(b);
                b.len()
            }
        }
    };
    if let Some(code) = &xlated {
        c.write_user(addr, code)?;
    }
    let n = bytes.min(r.info_len as usize);
    c.write_user(r.info, &out[..n])?;
    r.info_len = n as u32;
    Ok(())
}

fn kind_of(k: u32) -> Result<ObjKind, Errno> {
    match k {
        1 => Ok(ObjKind::Map),
        2 => Ok(ObjKind::Prog),
        3 => Ok(ObjKind::Link),
        _ => Err(Errno::EINVAL),
    }
}

pub(super) fn get_next_id(c: &Call<'_>, r: &mut abi::IdReq) -> Result<(), Errno> {
    let kind = kind_of(r.kind)?;
    r.next_id = c
        .dev
        .registry
        .lock()
        .next_after(kind, r.id)
        .ok_or(Errno::ENOENT)?;
    Ok(())
}

pub(super) fn get_handle_by_id(c: &Call<'_>, r: &mut abi::IdReq) -> Result<(), Errno> {
    let kind = kind_of(r.kind)?;
    let mut reg = c.dev.registry.lock();
    let obj = reg.by_id(kind, r.id).ok_or(Errno::ENOENT)?.object.clone();
    r.handle = c.file.insert(obj.clone(), c.dev.limits.max_handles)?;
    reg.add_user(&obj);
    Ok(())
}

pub(super) fn ringbuf_consume(c: &Call<'_>, r: &mut abi::RingbufConsumeReq) -> Result<(), Errno> {
    let map = map_of(c, r.handle)?;
    let ring = match (map.ringbuf(), map.perf()) {
        (Some(ring), _) if r.index == 0 => {
            r.lost = 0;
            ring
        }
        (_, Some(perf)) => {
            r.lost = perf.lost(r.index);
            perf.ring(r.index).ok_or(Errno::E2BIG)?
        }
        _ => return Err(Errno::EINVAL),
    };
    let cap = r.buf_len as usize;
    let mut at = 0usize;
    let mut records = 0u32;
    let mut failed = None;
    ring.consume(&mut |rec| {
        let need = 8 + ((rec.len() + 7) & !7);
        if at + need > cap {
            return false;
        }
        let hdr = (rec.len() as u64).to_ne_bytes();
        if let Err(e) = user_addr(r.buf, at as u64).and_then(|dst| {
            c.write_user(dst, &hdr)?;
            c.write_user(user_addr(dst, 8)?, rec)
        }) {
            failed = Some(e);
            return false;
        }
        at += need;
        records += 1;
        true
    });
    r.buf_len = at as u32;
    r.records = records;
    failed.map_or(Ok(()), Err)
}

/// The interface a request names: by index, or by name (its bytes) when
/// the index is 0; `EINVAL` for both or neither, or a malformed name.
fn interface_arg(ifindex: u32, ifname: &[u8; abi::IFNAME_LEN]) -> Result<(u32, &[u8]), Errno> {
    let len = ifname.iter().position(|&b| b == 0).ok_or(Errno::EINVAL)?;
    if ifname[len..].iter().any(|&b| b != 0) || (ifindex != 0) == (len != 0) {
        return Err(Errno::EINVAL);
    }
    Ok((ifindex, &ifname[..len]))
}

pub(super) fn link_create(c: &Call<'_>, r: &mut abi::LinkCreateReq) -> Result<(), Errno> {
    if r.flags & !abi::LINK_F_REPLACE != 0 || r.link_handle != 0 || r.ifindex_out != 0 {
        return Err(Errno::EINVAL);
    }
    let direction = match r.direction {
        abi::LINK_INGRESS => Direction::Ingress,
        abi::LINK_EGRESS => Direction::Egress,
        _ => return Err(Errno::EINVAL),
    };
    let (ifindex, ifname) = interface_arg(r.ifindex, &r.ifname)?;
    let prog = prog_of(c, r.prog_handle)?;
    crate::attach::check_attachable(&prog)?;
    let device = c.dev.platform.net_device(ifindex, ifname)?;
    let platform = c.dev.platform;
    let mut reg = c.dev.registry.lock();
    let id = reg.next_id();
    let (link, replaced) = match reg.link_on(&device, direction) {
        Some(_) if r.flags & abi::LINK_F_REPLACE == 0 => return Err(Errno::EBUSY),
        Some(old) => {
            let (link, old_prog) = Link::replace(&old, id, prog.clone())?;
            (link, old_prog)
        }
        None => (
            Link::attach(platform, id, prog.clone(), device, direction)?,
            None,
        ),
    };
    let link = match Shared::try_new(link) {
        Ok(l) => l,
        Err(e) => {
            // The link detaches as it is dropped; a replaced program
            // stays detached (the old link says so).
            if let Some(p) = replaced {
                reg.unref(&Object::Prog(p), platform);
            }
            return Err(e);
        }
    };
    reg.add_user(&Object::Prog(prog));
    if let Some(p) = replaced {
        reg.unref(&Object::Prog(p), platform);
    }
    let obj = Object::Link(link);
    if let Err(e) = reg.add(obj.clone(), [0; OBJ_NAME_LEN], platform.monotonic_ns()) {
        if let Object::Link(l) = &obj {
            reg.detach(l, platform);
        }
        return Err(e);
    }
    match c.file.insert(obj.clone(), c.dev.limits.max_handles) {
        Ok(h) => {
            r.link_handle = h;
            r.ifindex_out = device.ifindex;
            Ok(())
        }
        Err(e) => {
            reg.unref(&obj, platform);
            Err(e)
        }
    }
}

pub(super) fn link_detach(c: &Call<'_>, r: &mut abi::ObjCloseReq) -> Result<(), Errno> {
    if r.reserved != 0 {
        return Err(Errno::EINVAL);
    }
    let Object::Link(link) = c.file.get(r.handle)? else {
        return Err(Errno::EINVAL);
    };
    // Detaching a detached link is no error, as for Linux's XDP links.
    c.dev.registry.lock().detach(&link, c.dev.platform);
    Ok(())
}
