//! [`Ebpf`]: a safe client of the ABI over any [`Backend`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use ebpf_core::abi::{self, Command, LinkInfo, ObjKind, OBJ_NAME_LEN, PIN_NAME_LEN};
use ebpf_core::Errno;

use crate::backend::{send, Backend, DeviceBackend, EmbeddedBackend, DEVICE_PATH};

/// A failed request: the operation, the errno and, for program loads, the
/// loader's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What was attempted.
    pub op: &'static str,
    /// The errno.
    pub errno: Errno,
    /// The loader log, if any.
    pub log: Option<String>,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.errno)?;
        if let Some(log) = self.log.as_deref().filter(|l| !l.is_empty()) {
            write!(f, ": {}", log.trim_end())?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Result of this crate's requests.
pub type Result<T> = std::result::Result<T, Error>;

fn err(op: &'static str) -> impl Fn(Errno) -> Error {
    move |errno| Error {
        op,
        errno,
        log: None,
    }
}

fn name_bytes<const N: usize>(name: &str, op: &'static str) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    if name.len() >= N {
        return Err(Error {
            op,
            errno: Errno::EINVAL,
            log: Some(format!("name {name:?} is longer than {} bytes", N - 1)),
        });
    }
    out[..name.len()].copy_from_slice(name.as_bytes());
    Ok(out)
}

fn name_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// An interface to attach to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface<'a> {
    /// By index.
    Index(u32),
    /// By name.
    Name(&'a str),
}

impl fmt::Display for Interface<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interface::Index(i) => write!(f, "interface {i}"),
            Interface::Name(n) => write!(f, "interface {n}"),
        }
    }
}

/// The traffic an attached program sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Direction {
    /// Frames the interface receives.
    Ingress = abi::LINK_INGRESS,
    /// Frames sent through it.
    Egress = abi::LINK_EGRESS,
}

/// What a failed attach most likely means, in words.
fn attach_hint(errno: Errno, interface: &Interface<'_>) -> Option<String> {
    let text = match errno {
        Errno::ENODEV => format!("no {interface} (in this network namespace)"),
        Errno::EBUSY => format!("{interface} already has a program in that direction (detach it, or replace it)"),
        Errno::EINVAL => "only XDP programs attach to interfaces".to_string(),
        Errno::EOPNOTSUPP => "not offered here: this backend has no packet hooks in that direction, or the program asks for redirects, which the hooks do not do".to_string(),
        _ => return None,
    };
    Some(text)
}

/// How to create a map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapSpec {
    /// Name (up to 15 bytes).
    pub name: String,
    /// Linux map type number.
    pub map_type: u32,
    /// Key size.
    pub key_size: u32,
    /// Value size.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
    /// Handle of an inner-map template (map-in-map).
    pub inner_map: Option<u32>,
    /// Offset of a `struct bpf_spin_lock` in the value.
    pub spin_lock_offset: Option<u32>,
    /// Linux's `map_extra` (a bloom filter's hash functions).
    pub map_extra: u32,
    /// The value's special fields (its spin lock, lists of objects).
    pub value_fields: Vec<abi::ObjField>,
    /// The object types the value's lists hold, transitively.
    pub obj_types: Vec<abi::ObjTypeDesc>,
}

impl MapSpec {
    /// A spec with only a name: `name` without leading dots, cut to the
    /// 15 bytes a map name may have (as libbpf names `.data` maps).
    pub fn named(name: &str) -> Self {
        MapSpec {
            name: name.trim_start_matches('.').chars().take(15).collect(),
            ..Default::default()
        }
    }
}

/// How to load a program.
#[derive(Clone, Debug, Default)]
pub struct ProgSpec<'a> {
    /// Name (up to 15 bytes).
    pub name: &'a str,
    /// Program type: a [`ebpf_core::ProgType`] as its number (sent as
    /// given, so that the device's answer to others can be seen).
    pub prog_type: u32,
    /// Bytecode, 8 bytes per slot.
    pub bytecode: &'a [u8],
    /// License.
    pub license: &'a str,
    /// Map handles for `map_idx` references.
    pub maps: &'a [u32],
    /// The object types it allocates (`bpf_obj_new`) and those their
    /// lists and its maps' lists hold.
    pub obj_types: &'a [abi::ObjTypeDesc],
}

/// How a program is admitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Admission {
    /// Admit a program the verifier rejects as a checked one (run-time
    /// checks, instruction budget) instead of failing
    /// (`EBPF_F_CHECKED`).
    pub checked: bool,
    /// The verifier's log level: 1 (the default) the verdict, 2 the state
    /// at every instruction.
    pub log_level: u32,
    /// Where the program is meant to run (Linux's `expected_attach_type`:
    /// 0, or [`ebpf_core::abi::ATTACH_XDP_DEVMAP`] and the like).
    pub expected_attach_type: u32,
    /// The first instruction of the program's own exception callback.
    pub exception_cb: Option<usize>,
}

/// What a test run returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRun {
    /// r0 (low 32 bits, as Linux reports it).
    pub retval: u32,
    /// Mean duration of one run, ns.
    pub duration_ns: u32,
    /// The packet after the run.
    pub data_out: Vec<u8>,
    /// The context after the run (empty when none was passed in).
    pub ctx_out: Vec<u8>,
}

/// Map attributes and statistics.
pub type MapInfo = abi::MapInfo;

/// What a batch lookup returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Keys and values found.
    pub elements: Vec<(Vec<u8>, Vec<u8>)>,
    /// The key to continue after; `None` at the end of the map.
    pub next: Option<Vec<u8>>,
}
/// Program attributes and statistics.
pub type ProgInfo = abi::ProgInfo;

/// A connection to a device (real or embedded). Handles belong to it and
/// are released when it is dropped, except what is pinned.
pub struct Ebpf {
    backend: Box<dyn Backend>,
    /// Key and value sizes (as userspace sees them) of the maps used so
    /// far, so that no request can make the device read or write past a
    /// caller's buffer.
    sizes: Mutex<HashMap<u32, (usize, usize)>>,
}

impl Ebpf {
    /// Uses `backend`.
    pub fn with_backend(backend: Box<dyn Backend>) -> Self {
        Ebpf {
            backend,
            sizes: Mutex::new(HashMap::new()),
        }
    }

    /// Key size and value size (as userspace sees it) of map `handle`.
    pub fn map_sizes(&self, handle: u32) -> Result<(usize, usize)> {
        if let Some(&s) = self
            .sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&handle)
        {
            return Ok(s);
        }
        let info = self.map_info(handle)?;
        // Per-CPU maps: one value per possible CPU, rounded to 8.
        let percpu = ebpf_core::MapType::from_u32(info.map_type).is_ok_and(|t| t.is_percpu());
        let value = if percpu {
            info.value_size.div_ceil(8) as usize * 8 * self.possible_cpus()? as usize
        } else {
            info.value_size as usize
        };
        let s = (info.key_size as usize, value);
        self.sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle, s);
        Ok(s)
    }

    fn check_sizes(
        &self,
        op: &'static str,
        map: u32,
        key: Option<&[u8]>,
        value: Option<usize>,
    ) -> Result<()> {
        let (ks, vs) = self.map_sizes(map).map_err(|e| Error { op, ..e })?;
        let bad = |what: &str, got: usize, want: usize| Error {
            op,
            errno: Errno::EINVAL,
            log: Some(format!("{what} is {got} bytes, the map's is {want}")),
        };
        if let Some(k) = key {
            if k.len() != ks {
                return Err(bad("key", k.len(), ks));
            }
        }
        if let Some(v) = value {
            if v != vs {
                return Err(bad("value", v, vs));
            }
        }
        Ok(())
    }

    /// An embedded device in this process.
    pub fn embedded() -> Result<Self> {
        Ok(Self::with_backend(Box::new(
            EmbeddedBackend::new().map_err(err("embedded"))?,
        )))
    }

    /// The device at `path`.
    pub fn device(path: &Path) -> std::io::Result<Self> {
        Ok(Self::with_backend(Box::new(DeviceBackend::open(path)?)))
    }

    /// The device when `/dev/ebpf` exists, otherwise embedded.
    pub fn open_default() -> std::io::Result<Self> {
        if Path::new(DEVICE_PATH).exists() {
            return Self::device(Path::new(DEVICE_PATH));
        }
        Self::embedded().map_err(|e| std::io::Error::from_raw_os_error(e.errno.0))
    }

    /// "device" or "embedded".
    pub fn backend_kind(&self) -> &'static str {
        self.backend.kind()
    }

    fn b(&self) -> &dyn Backend {
        &*self.backend
    }

    /// ABI version and module version.
    pub fn version(&self) -> Result<(u32, String)> {
        let mut r = abi::VersionReq::default();
        send(self.b(), Command::Version, &mut r).map_err(err("version"))?;
        Ok((r.abi_version, name_str(&r.version)))
    }

    /// Creates a map; returns its handle.
    pub fn map_create(&self, spec: &MapSpec) -> Result<u32> {
        let mut r = abi::MapCreateReq {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries: spec.max_entries,
            map_flags: spec.flags,
            inner_map_handle: spec.inner_map.unwrap_or(0),
            spin_lock_offset_plus_one: spec.spin_lock_offset.map_or(0, |o| o + 1),
            map_extra: spec.map_extra,
            name: name_bytes::<OBJ_NAME_LEN>(&spec.name, "map create")?,
            value_fields: spec.value_fields.as_ptr() as u64,
            nr_value_fields: spec.value_fields.len() as u32,
            obj_types: spec.obj_types.as_ptr() as u64,
            nr_obj_types: spec.obj_types.len() as u32,
            ..Default::default()
        };
        send(self.b(), Command::MapCreate, &mut r).map_err(|e| {
            let mut e = err("map create")(e);
            if let Some((name, needs)) = ebpf_core::MapType::linux_only(spec.map_type) {
                e.log = Some(format!(
                    "map type {name} ({}) holds the Linux kernel's {needs}: not provided by this runtime",
                    spec.map_type
                ));
            } else if e.errno == Errno::EOPNOTSUPP && !spec.value_fields.is_empty() {
                e.log = Some(
                    "its values hold objects (lists, trees, kptrs) or timers, which this \
                     runtime provides in arrays and hash maps, not per-CPU ones, not mapped \
                     into processes"
                        .into(),
                );
            }
            e
        })?;
        Ok(r.handle)
    }

    fn elem(
        &self,
        cmd: Command,
        op: &'static str,
        map: u32,
        key: Option<&[u8]>,
        value: *mut u8,
        flags: u64,
    ) -> Result<()> {
        let mut r = abi::MapElemReq {
            handle: map,
            key: key.map_or(0, |k| k.as_ptr() as u64),
            value: value as u64,
            flags,
            ..Default::default()
        };
        send(self.b(), cmd, &mut r).map_err(err(op))
    }

    /// Copies the value of `key` into `value` (sized as the map's value as
    /// userspace sees it).
    pub fn map_lookup(&self, map: u32, key: &[u8], value: &mut [u8], flags: u64) -> Result<()> {
        self.check_sizes("map lookup", map, Some(key), Some(value.len()))?;
        self.elem(
            Command::MapLookupElem,
            "map lookup",
            map,
            Some(key),
            value.as_mut_ptr(),
            flags,
        )
    }

    /// Stores `value` under `key`.
    pub fn map_update(&self, map: u32, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        self.check_sizes("map update", map, Some(key), Some(value.len()))?;
        self.elem(
            Command::MapUpdateElem,
            "map update",
            map,
            Some(key),
            value.as_ptr() as *mut u8,
            flags,
        )
    }

    /// Deletes `key`.
    pub fn map_delete(&self, map: u32, key: &[u8]) -> Result<()> {
        self.check_sizes("map delete", map, Some(key), None)?;
        self.elem(
            Command::MapDeleteElem,
            "map delete",
            map,
            Some(key),
            std::ptr::null_mut(),
            0,
        )
    }

    /// The key after `key` (or the first); `None` after the last.
    pub fn map_next_key(&self, map: u32, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool> {
        self.check_sizes("map next key", map, key, None)?;
        self.check_sizes("map next key", map, Some(next), None)?;
        match self.elem(
            Command::MapGetNextKey,
            "map next key",
            map,
            key,
            next.as_mut_ptr(),
            0,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.errno == Errno::ENOENT => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Copies the value of `key` out and removes it (pop for queues).
    pub fn map_lookup_and_delete(&self, map: u32, key: &[u8], value: &mut [u8]) -> Result<()> {
        self.check_sizes("map lookup and delete", map, Some(key), Some(value.len()))?;
        self.elem(
            Command::MapLookupAndDeleteElem,
            "map lookup and delete",
            map,
            Some(key),
            value.as_mut_ptr(),
            0,
        )
    }

    /// Loads a program; returns its handle, or the errno with the log.
    pub fn prog_load(&self, spec: &ProgSpec<'_>) -> Result<u32> {
        self.prog_load_with(spec, Admission::default())
            .map(|(handle, _)| handle)
    }

    /// Loads a program as `how` says; returns its handle and the
    /// verifier's log (its verdict and statistics for verified types).
    pub fn prog_load_with(&self, spec: &ProgSpec<'_>, how: Admission) -> Result<(u32, String)> {
        if spec.bytecode.len() % 8 != 0 {
            return Err(Error {
                op: "prog load",
                errno: Errno::EINVAL,
                log: Some("bytecode is not a whole number of instructions".into()),
            });
        }
        let license = format!("{}\0", spec.license);
        let mut log = vec![
            0u8;
            if how.log_level >= 2 {
                16 << 20
            } else {
                64 << 10
            }
        ];
        let mut r = abi::ProgLoadReq {
            prog_type: spec.prog_type,
            insn_cnt: (spec.bytecode.len() / 8) as u32,
            insns: spec.bytecode.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_flags: if how.checked { abi::PROG_F_CHECKED } else { 0 },
            log_level: how.log_level.clamp(1, 2),
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            map_handles: spec.maps.as_ptr() as u64,
            map_count: spec.maps.len() as u32,
            name: name_bytes::<OBJ_NAME_LEN>(spec.name, "prog load")?,
            expected_attach_type: how.expected_attach_type,
            obj_types: spec.obj_types.as_ptr() as u64,
            nr_obj_types: spec.obj_types.len() as u32,
            exception_cb: match how.exception_cb {
                Some(i) => u32::try_from(i)
                    .ok()
                    .and_then(|i| i.checked_add(1))
                    .ok_or(Error {
                        op: "prog load",
                        errno: Errno::EINVAL,
                        log: Some("exception callback index out of range".into()),
                    })?,
                None => 0,
            },
            ..Default::default()
        };
        send(self.b(), Command::ProgLoad, &mut r).map_err(|errno| Error {
            op: "prog load",
            errno,
            log: Some(name_str(&log)),
        })?;
        Ok((r.handle, name_str(&log)))
    }

    /// Runs a program `repeat` times on `data`.
    pub fn prog_test_run(&self, prog: u32, data: &[u8], repeat: u32) -> Result<TestRun> {
        self.prog_test_run_with(prog, data, None, repeat)
    }

    /// Runs a program `repeat` times on `data`, with the context `ctx` (a
    /// `struct xdp_md` or `struct __sk_buff`: the fields Linux's test run
    /// lets a caller set) when given; the context comes back in
    /// [`TestRun::ctx_out`].
    pub fn prog_test_run_with(
        &self,
        prog: u32,
        data: &[u8],
        ctx: Option<&[u8]>,
        repeat: u32,
    ) -> Result<TestRun> {
        // Room for a packet that helpers grew: the device keeps at least
        // a page around it.
        let mut out = vec![0u8; (data.len() + 256).max(4096)];
        let mut ctx_out = vec![0u8; if ctx.is_some() { 256 } else { 0 }];
        let mut r = abi::TestRunReq {
            handle: prog,
            data_size_in: data.len() as u32,
            data_in: data.as_ptr() as u64,
            data_size_out: out.len() as u32,
            data_out: out.as_mut_ptr() as u64,
            repeat,
            ..Default::default()
        };
        if let Some(ctx) = ctx {
            r.ctx_size_in = ctx.len() as u32;
            r.ctx_in = ctx.as_ptr() as u64;
            r.ctx_size_out = ctx_out.len() as u32;
            r.ctx_out = ctx_out.as_mut_ptr() as u64;
        }
        send(self.b(), Command::ProgTestRun, &mut r).map_err(err("prog run"))?;
        out.truncate(r.data_size_out as usize);
        ctx_out.truncate(r.ctx_size_out as usize);
        Ok(TestRun {
            retval: r.retval,
            duration_ns: r.duration,
            data_out: out,
            ctx_out,
        })
    }

    /// Pins an object under `name`.
    pub fn pin(&self, handle: u32, name: &str) -> Result<()> {
        let mut r = abi::ObjPinReq {
            handle,
            kind: 0,
            name: name_bytes::<PIN_NAME_LEN>(name, "pin")?,
        };
        send(self.b(), Command::ObjPin, &mut r).map_err(err("pin"))
    }

    /// Opens the object pinned as `name`; returns its handle and kind.
    pub fn get_pinned(&self, name: &str) -> Result<(u32, ObjKind)> {
        let mut r = abi::ObjPinReq {
            handle: 0,
            kind: 0,
            name: name_bytes::<PIN_NAME_LEN>(name, "get pinned")?,
        };
        send(self.b(), Command::ObjGet, &mut r).map_err(err("get pinned"))?;
        let kind = match r.kind {
            k if k == ObjKind::Map as u32 => ObjKind::Map,
            k if k == ObjKind::Link as u32 => ObjKind::Link,
            _ => ObjKind::Prog,
        };
        Ok((r.handle, kind))
    }

    /// Removes the pin `name`.
    pub fn unpin(&self, name: &str) -> Result<()> {
        let mut r = abi::ObjPinReq {
            handle: 1,
            kind: 0,
            name: name_bytes::<PIN_NAME_LEN>(name, "unpin")?,
        };
        send(self.b(), Command::ObjGet, &mut r).map_err(err("unpin"))
    }

    /// Releases a handle.
    pub fn close(&self, handle: u32) -> Result<()> {
        self.sizes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&handle);
        let mut r = abi::ObjCloseReq {
            handle,
            reserved: 0,
        };
        send(self.b(), Command::ObjClose, &mut r).map_err(err("close"))
    }

    /// A map's attributes.
    pub fn map_info(&self, handle: u32) -> Result<MapInfo> {
        let mut info = MapInfo::default();
        self.info(handle, ebpf_core::abi::Plain::as_bytes_mut(&mut info))?;
        Ok(info)
    }

    /// A program's attributes and statistics.
    pub fn prog_info(&self, handle: u32) -> Result<ProgInfo> {
        let mut info = ProgInfo::default();
        self.info(handle, ebpf_core::abi::Plain::as_bytes_mut(&mut info))?;
        Ok(info)
    }

    /// A link's attachment and counters.
    pub fn link_info(&self, handle: u32) -> Result<LinkInfo> {
        let mut info = LinkInfo::default();
        self.info(handle, ebpf_core::abi::Plain::as_bytes_mut(&mut info))?;
        Ok(info)
    }

    /// Attaches the XDP program `prog` to the traffic of `interface` in
    /// `direction`; returns the link's handle. Closing the handle (unless
    /// the link is pinned) detaches it. With `replace`, the link already
    /// there hands its place over instead of the request failing with
    /// `EBUSY`.
    pub fn link_create(
        &self,
        prog: u32,
        interface: &Interface<'_>,
        direction: Direction,
        replace: bool,
    ) -> Result<u32> {
        let mut r = abi::LinkCreateReq {
            prog_handle: prog,
            direction: direction as u32,
            flags: if replace { abi::LINK_F_REPLACE } else { 0 },
            ..Default::default()
        };
        match interface {
            Interface::Index(i) => r.ifindex = *i,
            Interface::Name(n) => r.ifname = name_bytes::<{ abi::IFNAME_LEN }>(n, "attach")?,
        }
        send(self.b(), Command::LinkCreate, &mut r).map_err(|errno| Error {
            op: "attach",
            errno,
            log: attach_hint(errno, interface),
        })?;
        Ok(r.link_handle)
    }

    /// Detaches a link now, pinned or not (the link stays, detached, until
    /// its handles and pins go).
    pub fn link_detach(&self, link: u32) -> Result<()> {
        let mut r = abi::ObjCloseReq {
            handle: link,
            reserved: 0,
        };
        send(self.b(), Command::LinkDetach, &mut r).map_err(err("detach"))
    }

    /// A program's instructions as the device runs them (context accesses
    /// converted, map references resolved).
    pub fn prog_insns(&self, handle: u32) -> Result<Vec<ebpf_core::Insn>> {
        let len = self.prog_info(handle)?.xlated_len as usize;
        let mut code = vec![0u8; len];
        let mut info = ProgInfo {
            xlated_len: len as u32,
            xlated_insns: code.as_mut_ptr() as u64,
            ..Default::default()
        };
        self.info(handle, ebpf_core::abi::Plain::as_bytes_mut(&mut info))?;
        code.truncate((info.xlated_len as usize).min(len));
        Ok(code
            .chunks_exact(8)
            .map(|c| ebpf_core::Insn::from_bytes(c.try_into().unwrap_or([0; 8])))
            .collect())
    }

    fn info(&self, handle: u32, out: &mut [u8]) -> Result<()> {
        let mut r = abi::GetInfoReq {
            handle,
            info_len: out.len() as u32,
            info: out.as_mut_ptr() as u64,
        };
        send(self.b(), Command::ObjGetInfo, &mut r).map_err(err("get info"))
    }

    /// Ids of every object of `kind`, ascending.
    pub fn ids(&self, kind: ObjKind) -> Result<Vec<u32>> {
        let mut ids = Vec::new();
        let mut id = 0;
        loop {
            let mut r = abi::IdReq {
                kind: kind as u32,
                id,
                ..Default::default()
            };
            match send(self.b(), Command::GetNextId, &mut r) {
                Ok(()) => {
                    ids.push(r.next_id);
                    id = r.next_id;
                }
                Err(Errno::ENOENT) => return Ok(ids),
                Err(e) => return Err(err("get next id")(e)),
            }
        }
    }

    /// A new handle to the object with `id`.
    pub fn handle_by_id(&self, kind: ObjKind, id: u32) -> Result<u32> {
        let mut r = abi::IdReq {
            kind: kind as u32,
            id,
            ..Default::default()
        };
        send(self.b(), Command::GetHandleById, &mut r).map_err(err("get handle by id"))?;
        Ok(r.handle)
    }

    /// Up to `max` elements after key `after` (from the start when
    /// `None`), as Linux's `BPF_MAP_LOOKUP_BATCH`: returns the keys and
    /// values found and the key to continue after, or `None` once the map
    /// has been walked to its end.
    pub fn map_lookup_batch(&self, map: u32, after: Option<&[u8]>, max: u32) -> Result<Batch> {
        self.check_sizes("map lookup batch", map, after, None)?;
        let (ks, vs) = self.map_sizes(map)?;
        let mut keys = vec![0u8; ks * max as usize];
        let mut values = vec![0u8; vs * max as usize];
        let mut next = vec![0u8; ks];
        let mut r = abi::MapBatchReq {
            handle: map,
            count: max,
            in_batch: after.map_or(0, |a| a.as_ptr() as u64),
            out_batch: next.as_mut_ptr() as u64,
            keys: keys.as_mut_ptr() as u64,
            values: values.as_mut_ptr() as u64,
            ..Default::default()
        };
        let done = match send(self.b(), Command::MapLookupBatch, &mut r) {
            Ok(()) => false,
            // ENOENT: the walk reached the end (with what was found so far).
            Err(Errno::ENOENT) => true,
            Err(e) => return Err(err("map lookup batch")(e)),
        };
        let n = (r.count as usize).min(max as usize);
        Ok(Batch {
            elements: (0..n)
                .map(|i| {
                    (
                        keys[i * ks..(i + 1) * ks].to_vec(),
                        values[i * vs..(i + 1) * vs].to_vec(),
                    )
                })
                .collect(),
            next: (!done && n > 0).then_some(next),
        })
    }

    /// Creates or replaces every `(key, value)` (Linux's
    /// `BPF_MAP_UPDATE_BATCH`); on an error, the elements before the
    /// failing one have been written and the log says how many.
    pub fn map_update_batch(
        &self,
        map: u32,
        elements: &[(Vec<u8>, Vec<u8>)],
        flags: u64,
    ) -> Result<()> {
        let (ks, vs) = self.map_sizes(map)?;
        let mut keys = Vec::with_capacity(ks * elements.len());
        let mut values = Vec::with_capacity(vs * elements.len());
        for (k, v) in elements {
            self.check_sizes("map update batch", map, Some(k), Some(v.len()))?;
            keys.extend_from_slice(k);
            values.extend_from_slice(v);
        }
        let mut r = abi::MapBatchReq {
            handle: map,
            count: elements.len() as u32,
            keys: keys.as_ptr() as u64,
            values: values.as_ptr() as u64,
            elem_flags: flags,
            ..Default::default()
        };
        send(self.b(), Command::MapUpdateBatch, &mut r).map_err(|errno| Error {
            op: "map update batch",
            errno,
            log: Some(format!(
                "{} of {} elements written",
                r.count,
                elements.len()
            )),
        })
    }

    /// Deletes every key (Linux's `BPF_MAP_DELETE_BATCH`); on an error, the
    /// keys before the failing one are gone and the log says how many.
    pub fn map_delete_batch(&self, map: u32, keys: &[Vec<u8>]) -> Result<()> {
        let mut flat = Vec::new();
        for k in keys {
            self.check_sizes("map delete batch", map, Some(k), None)?;
            flat.extend_from_slice(k);
        }
        let mut r = abi::MapBatchReq {
            handle: map,
            count: keys.len() as u32,
            keys: flat.as_ptr() as u64,
            ..Default::default()
        };
        send(self.b(), Command::MapDeleteBatch, &mut r).map_err(|errno| Error {
            op: "map delete batch",
            errno,
            log: Some(format!("{} of {} keys deleted", r.count, keys.len())),
        })
    }

    /// Number of possible CPUs of the device (the length of per-CPU values).
    pub fn possible_cpus(&self) -> Result<u32> {
        let mut r = abi::VersionReq::default();
        send(self.b(), Command::Version, &mut r).map_err(err("version"))?;
        Ok(r.possible_cpus)
    }

    /// Takes the committed records of a ring buffer map.
    pub fn ringbuf_consume(&self, map: u32) -> Result<Vec<Vec<u8>>> {
        self.consume_slot(map, 0).map(|(records, _)| records)
    }

    /// Enables every slot of a perf event array, so that
    /// `bpf_perf_event_output` writes into its buffers (what opening a
    /// perf event per CPU does on Linux).
    pub fn perf_enable(&self, map: u32) -> Result<()> {
        let info = self.map_info(map)?;
        for slot in 0..info.max_entries {
            self.map_update(map, &slot.to_ne_bytes(), &0u32.to_ne_bytes(), 0)?;
        }
        Ok(())
    }

    /// Takes every record slot `index` of a perf event array holds; with
    /// how many it lost so far, its buffer being full.
    pub fn perf_consume(&self, map: u32, index: u32) -> Result<(Vec<Vec<u8>>, u64)> {
        self.consume_slot(map, index)
    }

    fn consume_slot(&self, map: u32, index: u32) -> Result<(Vec<Vec<u8>>, u64)> {
        let mut buf = vec![0u8; 1 << 16];
        let mut records = Vec::new();
        loop {
            let mut r = abi::RingbufConsumeReq {
                handle: map,
                buf_len: buf.len() as u32,
                buf: buf.as_mut_ptr() as u64,
                index,
                ..Default::default()
            };
            send(self.b(), Command::RingbufConsume, &mut r).map_err(err("ringbuf consume"))?;
            let mut at = 0usize;
            while at < r.buf_len as usize {
                let len = u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap_or([0; 8])) as usize;
                records.push(buf[at + 8..at + 8 + len].to_vec());
                at += 8 + ((len + 7) & !7);
            }
            if r.records == 0 {
                return Ok((records, r.lost));
            }
        }
    }
}

/// An object's maps and programs as loaded on a device.
#[derive(Clone, Debug, Default)]
pub struct LoadedObject {
    /// Map names and handles, in the object's order.
    pub maps: Vec<(String, u32)>,
    /// Program names, section names and handles.
    pub programs: Vec<(String, String, u32)>,
    /// Program names and the verifier's log of each.
    pub logs: Vec<(String, String)>,
}

impl LoadedObject {
    /// The handle of map `name`.
    pub fn map(&self, name: &str) -> Option<u32> {
        self.maps.iter().find(|(n, _)| n == name).map(|&(_, h)| h)
    }

    /// The handle of program `name`.
    pub fn program(&self, name: &str) -> Option<u32> {
        self.programs
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|&(_, _, h)| h)
    }
}

impl Ebpf {
    /// Creates an object's maps (reusing pinned ones for
    /// `LIBBPF_PIN_BY_NAME`, filling global data) and loads its programs.
    pub fn load_object(&self, obj: &crate::elf::BpfObject) -> Result<LoadedObject> {
        self.load_object_programs(obj, None)
    }

    /// [`load_object`](Self::load_object), loading only the program named
    /// `only` when given, with the programs it reaches by tail calls
    /// through the object's declared prog_array contents
    /// ([`programs_reached_from`](crate::elf::BpfObject::programs_reached_from)).
    /// The others are not loaded (libbpf's autoload), so one program the
    /// device cannot take does not fail its siblings; a prog_array slot
    /// naming a program not loaded stays empty. `ENOENT` when the object
    /// has no such program.
    pub fn load_object_programs(
        &self,
        obj: &crate::elf::BpfObject,
        only: Option<&str>,
    ) -> Result<LoadedObject> {
        self.load_object_with(obj, only, Admission::default())
    }

    /// [`load_object_programs`](Self::load_object_programs), admitting the
    /// programs as `how` says.
    pub fn load_object_with(
        &self,
        obj: &crate::elf::BpfObject,
        only: Option<&str>,
        how: Admission,
    ) -> Result<LoadedObject> {
        if let Some(name) = only {
            if !obj.programs.iter().any(|p| p.name == name) {
                let names: Vec<&str> = obj.programs.iter().map(|p| p.name.as_str()).collect();
                return Err(Error {
                    op: "load object",
                    errno: Errno::ENOENT,
                    log: Some(format!(
                        "no program `{name}` in the object (it has: {})",
                        names.join(", ")
                    )),
                });
            }
        }
        let wanted = only.map(|name| obj.programs_reached_from(name));
        // Without a name, every program but those of `?` sections, which
        // libbpf does not load unless asked to.
        let autoload = |name: &str| {
            obj.programs
                .iter()
                .any(|p| p.name == name && !p.section.starts_with('?'))
        };
        let loads = |name: &str| match &wanted {
            Some(w) => w.contains(&name),
            None => autoload(name),
        };
        let mut out = LoadedObject::default();
        // Each of the object's maps: its handle, or why it is not there (a
        // type holding the Linux kernel's objects: a program using it
        // fails with that, the others load without it).
        let mut created: Vec<std::result::Result<u32, Error>> = Vec::new();
        for m in &obj.maps {
            if m.pin_by_name {
                if let Ok((h, ObjKind::Map)) = self.get_pinned(&m.name) {
                    out.maps.push((m.name.clone(), h));
                    created.push(Ok(h));
                    continue;
                }
            }
            let mut spec = m.spec.clone();
            // A map of maps: its inner definition becomes a template map,
            // closed once the outer map exists (libbpf's way).
            let template = match &m.inner {
                Some(inner) => {
                    let inner = (**inner).clone();
                    let h = self.map_create(&inner).map_err(|e| Error {
                        log: Some(format!(
                            "map `{}`: its inner map: {}",
                            m.name,
                            e.log.unwrap_or_default()
                        )),
                        ..e
                    })?;
                    spec.inner_map = Some(h);
                    Some(h)
                }
                None => None,
            };
            // A perf event array without a size gets a slot per possible
            // CPU, as libbpf sizes it.
            if spec.map_type == ebpf_core::MapType::PerfEventArray as u32 && spec.max_entries == 0 {
                spec.max_entries = self.possible_cpus()?;
            }
            let made = self.map_create(&spec).map_err(|e| Error {
                log: Some(match e.log {
                    Some(why) => format!("map `{}`: {why}", m.name),
                    None => format!("map `{}`", m.name),
                }),
                ..e
            });
            if let Some(t) = template {
                let _ = self.close(t);
            }
            let h = match made {
                Err(e) if ebpf_core::MapType::linux_only(spec.map_type).is_some() => {
                    created.push(Err(e));
                    continue;
                }
                made => made?,
            };
            if let crate::elf::MapOrigin::GlobalData(init) = &m.origin {
                self.map_update(h, &0u32.to_ne_bytes(), init, 0)?;
            }
            if m.pin_by_name {
                self.pin(h, &m.name)?;
            }
            out.maps.push((m.name.clone(), h));
            created.push(Ok(h));
        }
        let handles: Vec<u32> = out.maps.iter().map(|&(_, h)| h).collect();
        // Map indexes into `handles`, past the maps not created.
        let mut index_of: Vec<Option<i32>> = Vec::new();
        let mut next = 0;
        for c in &created {
            index_of.push(c.is_ok().then_some(next));
            next += i32::from(c.is_ok());
        }
        for p in obj.programs.iter().filter(|p| loads(&p.name)) {
            if let Some(why) = &p.unsupported {
                return Err(Error {
                    op: "prog load",
                    errno: Errno::EOPNOTSUPP,
                    log: Some(format!(
                        "program `{}` (section {}): {why}",
                        p.name, p.section
                    )),
                });
            }
            let mut insns = p.insns.clone();
            for (at, map) in p.map_references() {
                match (created.get(map), index_of.get(map)) {
                    (Some(Err(e)), _) => {
                        return Err(Error {
                            op: "prog load",
                            errno: e.errno,
                            log: Some(format!(
                                "program `{}` (section {}): {}",
                                p.name,
                                p.section,
                                e.log.clone().unwrap_or_default()
                            )),
                        })
                    }
                    (_, Some(&Some(i))) => insns[at].imm = i,
                    _ => {}
                }
            }
            let code: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
            let name: String = p.name.chars().take(15).collect();
            let (h, log) = self
                .prog_load_with(
                    &ProgSpec {
                        name: &name,
                        prog_type: p.prog_type as u32,
                        bytecode: &code,
                        license: &obj.license,
                        maps: &handles,
                        obj_types: &p.obj_types,
                    },
                    Admission {
                        expected_attach_type: p.expected_attach_type,
                        exception_cb: p.exception_cb,
                        ..how
                    },
                )
                .map_err(|e| Error {
                    log: Some(format!(
                        "program `{}` (section {}): {}",
                        p.name,
                        p.section,
                        e.log.unwrap_or_default()
                    )),
                    ..e
                })?;
            out.programs.push((p.name.clone(), p.section.clone(), h));
            out.logs.push((p.name.clone(), log));
        }
        for (m, map) in obj.maps.iter().zip(&created) {
            let Ok(map) = *map else {
                continue;
            };
            for (slot, inner) in &m.initial_maps {
                let h = out.map(inner).ok_or_else(|| Error {
                    op: "load object",
                    errno: Errno::ENOENT,
                    log: Some(format!("map `{}` slot {slot}: no map `{inner}`", m.name)),
                })?;
                // The slot number as a key of the map's size.
                let mut key = vec![0u8; m.spec.key_size as usize];
                let n = key.len().min(4);
                key[..n].copy_from_slice(&slot.to_ne_bytes()[..n]);
                self.map_update(map, &key, &h.to_ne_bytes(), 0)
                    .map_err(|e| Error {
                        log: Some(format!("map `{}` slot {slot} = `{inner}`", m.name)),
                        ..e
                    })?;
            }
            for (slot, prog) in &m.initial_programs {
                if !loads(prog) && obj.programs.iter().any(|p| &p.name == prog) {
                    continue;
                }
                let h = out.program(prog).ok_or_else(|| Error {
                    op: "load object",
                    errno: Errno::ENOENT,
                    log: Some(format!(
                        "map `{}` slot {slot}: `{prog}` is not a program of the object",
                        m.name
                    )),
                })?;
                self.map_update(map, &slot.to_ne_bytes(), &h.to_ne_bytes(), 0)
                    .map_err(|e| Error {
                        log: Some(format!("map `{}` slot {slot} = `{prog}`", m.name)),
                        ..e
                    })?;
            }
        }
        Ok(out)
    }
}
