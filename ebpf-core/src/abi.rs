//! The `/dev/ebpf` ioctl ABI, shared by both kernels and all userspace.
//!
//! Every command uses the same ioctl argument, [`IoctlArg`]: a pointer to
//! the command's request struct and that struct's size, as userspace knows
//! it. Request numbers therefore never change when a request struct grows:
//! like `bpf(2)`, the kernel accepts a shorter struct from an older binary
//! (missing fields read as zero) and a longer one from a newer binary if the
//! bytes it does not know are zero (`E2BIG` otherwise). Request structs are
//! `#[repr(C)]`, carry user pointers as `u64`, have explicit zeroed padding,
//! and their sizes and offsets are asserted below. `docs/abi.md` describes
//! each command.

/// ABI version reported by [`Command::Version`]; bumped only for
/// incompatible changes (never so far).
pub const ABI_VERSION: u32 = 1;

/// Length of map and program names, NUL included (Linux's
/// `BPF_OBJ_NAME_LEN`).
pub const OBJ_NAME_LEN: usize = 16;
/// Length of pin names, NUL included.
pub const PIN_NAME_LEN: usize = 64;

/// The ioctl type byte (`'E'`).
pub const IOC_TYPE: u8 = b'E';

/// The argument of every ioctl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoctlArg {
    /// User address of the command's request struct.
    pub request: u64,
    /// Size of that struct as the caller knows it.
    pub size: u32,
    /// Zero.
    pub reserved: u32,
}

/// Commands, numbered once and for all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Command {
    Version = 0,
    MapCreate = 1,
    MapLookupElem = 2,
    MapUpdateElem = 3,
    MapDeleteElem = 4,
    MapGetNextKey = 5,
    MapLookupAndDeleteElem = 6,
    MapLookupBatch = 7,
    MapUpdateBatch = 8,
    MapDeleteBatch = 9,
    ProgLoad = 10,
    ProgTestRun = 11,
    ObjPin = 12,
    ObjGet = 13,
    ObjClose = 14,
    ObjGetInfo = 15,
    GetNextId = 16,
    GetHandleById = 17,
    RingbufConsume = 18,
    LinkCreate = 19,
    LinkDetach = 20,
}

impl Command {
    /// All commands.
    pub const ALL: [Command; 21] = [
        Command::Version,
        Command::MapCreate,
        Command::MapLookupElem,
        Command::MapUpdateElem,
        Command::MapDeleteElem,
        Command::MapGetNextKey,
        Command::MapLookupAndDeleteElem,
        Command::MapLookupBatch,
        Command::MapUpdateBatch,
        Command::MapDeleteBatch,
        Command::ProgLoad,
        Command::ProgTestRun,
        Command::ObjPin,
        Command::ObjGet,
        Command::ObjClose,
        Command::ObjGetInfo,
        Command::GetNextId,
        Command::GetHandleById,
        Command::RingbufConsume,
        Command::LinkCreate,
        Command::LinkDetach,
    ];

    /// The command with number `nr`.
    pub fn from_nr(nr: u8) -> Option<Command> {
        Self::ALL.get(nr as usize).copied()
    }
}

impl Command {
    /// The request number: `_IOWR(IOC_TYPE, nr, IoctlArg)`. Linux
    /// (asm-generic: nr bits 0-7, type 8-15, size 16-29, read|write in
    /// 30-31) and FreeBSD (sys/ioccom.h: nr, group, length in 16-28,
    /// `IOC_INOUT`) encode it the same way for an argument this small, so
    /// one number serves both kernels.
    pub const fn request(self) -> u32 {
        let size = core::mem::size_of::<IoctlArg>() as u32;
        (self as u32) | ((IOC_TYPE as u32) << 8) | (size << 16) | (3 << 30)
    }

    /// The command a request number names, or `None` (`ENOTTY`).
    pub fn from_request(request: u32) -> Option<Command> {
        let cmd = Command::from_nr(request as u8)?;
        (cmd.request() == request).then_some(cmd)
    }
}

// FreeBSD masks the length with IOCPARM_MASK (13 bits): below it, its
// `_IOWR` and Linux's are the same number.
const _: () = assert!(core::mem::size_of::<IoctlArg>() < 0x2000);

/// `prog_flags` of PROG_LOAD: admit a program the verifier rejects as a
/// *checked* program (it runs with run-time checks and an instruction
/// budget) instead of refusing it. Not one of Linux's `BPF_F_*` bits.
pub const PROG_F_CHECKED: u32 = 1 << 31;

/// `flags` of a program's info: the verifier accepted it.
pub const PROG_INFO_VERIFIED: u32 = 1;

/// `flags` of a program's info: it runs compiled to machine code (the
/// JIT), not in the interpreter.
pub const PROG_INFO_JITED: u32 = 2;

/// `Command::Version`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionReq {
    /// Out: [`ABI_VERSION`].
    pub abi_version: u32,
    /// Out: the number of commands the device knows.
    pub commands: u32,
    /// Out: possible CPUs: per-CPU map values hold this many values.
    pub possible_cpus: u32,
    /// Zero.
    pub reserved: u32,
    /// Out: the module's version, NUL-terminated.
    pub version: [u8; 32],
}

/// `Command::MapCreate`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapCreateReq {
    /// Linux's `enum bpf_map_type`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// `BPF_F_*` map flags.
    pub map_flags: u32,
    /// Handle of the inner-map template (map-in-map), else 0.
    pub inner_map_handle: u32,
    /// Offset of a `struct bpf_spin_lock` in the value plus one, or 0.
    pub spin_lock_offset_plus_one: u32,
    /// Linux's `map_extra`: a bloom filter's number of hash functions (0
    /// for its default); 0 for other types.
    pub map_extra: u32,
    /// Name, NUL-padded.
    pub name: [u8; OBJ_NAME_LEN],
    /// Out: the new map's handle.
    pub handle: u32,
    /// Out: the new map's id.
    pub id: u32,
    /// User address of `nr_value_fields` [`ObjField`]s: the value's
    /// special fields (its spin lock, lists of objects), or 0.
    pub value_fields: u64,
    /// Number of fields at `value_fields` (at most 10).
    pub nr_value_fields: u32,
    /// Number of [`ObjTypeDesc`]s at `obj_types`.
    pub nr_obj_types: u32,
    /// User address of the object types the value's lists hold (and those
    /// theirs hold), or 0.
    pub obj_types: u64,
}

/// A special field of a map value or object type: [`FIELD_SPIN_LOCK`],
/// [`FIELD_LIST_HEAD`], [`FIELD_LIST_NODE`], [`FIELD_RB_ROOT`],
/// [`FIELD_RB_NODE`], [`FIELD_KPTR`], [`FIELD_REFCOUNT`] or
/// [`FIELD_TIMER`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjField {
    /// What it is.
    pub kind: u32,
    /// Its offset in bytes.
    pub offset: u32,
    /// A list head, tree root or kptr: the BTF id of the object type it
    /// holds (one of the request's [`ObjTypeDesc`]s).
    pub contains: u32,
    /// A list head or tree root: the offset of that type's node.
    pub node_offset: u32,
}

/// `struct bpf_spin_lock`.
pub const FIELD_SPIN_LOCK: u32 = 1;
/// `struct bpf_list_head`.
pub const FIELD_LIST_HEAD: u32 = 2;
/// `struct bpf_list_node`.
pub const FIELD_LIST_NODE: u32 = 3;
/// `struct bpf_rb_root`.
pub const FIELD_RB_ROOT: u32 = 4;
/// `struct bpf_rb_node`.
pub const FIELD_RB_NODE: u32 = 5;
/// `struct T __kptr *`: an object of a program type, kept in the value
/// (`bpf_kptr_xchg`).
pub const FIELD_KPTR: u32 = 6;
/// `struct bpf_refcount` (objects only): the object may have several
/// owners.
pub const FIELD_REFCOUNT: u32 = 7;
/// `struct bpf_timer` (map values only: arrays, hash and LRU hash maps).
pub const FIELD_TIMER: u32 = 8;
/// Special fields one layout may have.
pub const MAX_OBJ_FIELDS: usize = 10;

/// An object type of the program's BTF (a struct `bpf_obj_new` allocates,
/// or a list holds), as the loader describes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjTypeDesc {
    /// The struct's name, NUL-padded (cut to 15 bytes).
    pub name: [u8; OBJ_NAME_LEN],
    /// Its BTF id in the program's BTF (what `bpf_obj_new_impl`'s first
    /// argument names).
    pub btf_id: u32,
    /// Its size in bytes.
    pub size: u32,
    /// Number of fields used in `fields`.
    pub nr_fields: u32,
    /// Zero.
    pub reserved: u32,
    /// Its special fields.
    pub fields: [ObjField; MAX_OBJ_FIELDS],
}

/// The element commands (`MapLookupElem`, `MapUpdateElem`,
/// `MapDeleteElem`, `MapGetNextKey`, `MapLookupAndDeleteElem`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapElemReq {
    /// The map.
    pub handle: u32,
    /// Zero.
    pub reserved: u32,
    /// User address of the key (0: none, for get-next-key's first key and
    /// for queues and stacks).
    pub key: u64,
    /// User address of the value (get-next-key: of the next key).
    pub value: u64,
    /// `BPF_ANY`/`BPF_NOEXIST`/`BPF_EXIST`/`BPF_F_LOCK`.
    pub flags: u64,
}

/// The batch commands: up to `count` elements from `keys`/`values`
/// (arrays of key_size / value_size entries).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapBatchReq {
    /// The map.
    pub handle: u32,
    /// In: capacity of the arrays in elements; out: elements done.
    pub count: u32,
    /// Lookup: user address of the key to continue after (0: start).
    pub in_batch: u64,
    /// Lookup: user address receiving the key to continue after.
    pub out_batch: u64,
    /// User address of the keys.
    pub keys: u64,
    /// User address of the values.
    pub values: u64,
    /// Flags of each element operation.
    pub elem_flags: u64,
    /// Zero.
    pub flags: u64,
}

/// `Command::ProgLoad`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgLoadReq {
    /// Linux's `enum bpf_prog_type`.
    pub prog_type: u32,
    /// Number of 8-byte instructions at `insns`.
    pub insn_cnt: u32,
    /// User address of the instructions.
    pub insns: u64,
    /// User address of the NUL-terminated license.
    pub license: u64,
    /// 0: no log; 1: errors; 2: verbose.
    pub log_level: u32,
    /// Size of the log buffer.
    pub log_size: u32,
    /// User address of the log buffer.
    pub log_buf: u64,
    /// User address of `map_count` u32 map handles, for `map_idx`
    /// references (Linux's `fd_array`); 0 if none.
    pub map_handles: u64,
    /// Number of handles at `map_handles`.
    pub map_count: u32,
    /// [`PROG_F_CHECKED`] or zero.
    pub prog_flags: u32,
    /// Name, NUL-padded.
    pub name: [u8; OBJ_NAME_LEN],
    /// Out: the program's handle.
    pub handle: u32,
    /// Out: the program's id.
    pub id: u32,
    /// Out: bytes the full log needed, NUL included.
    pub log_true_size: u32,
    /// Where the program is meant to run, as Linux's
    /// `expected_attach_type`: 0 (or [`ATTACH_XDP`]) for most; an XDP
    /// program run from a devmap or cpumap entry is [`ATTACH_XDP_DEVMAP`]
    /// or [`ATTACH_XDP_CPUMAP`].
    pub expected_attach_type: u32,
    /// 1 + the index of the first instruction of the program's own
    /// exception callback (a BPF function `bpf_throw` calls with its
    /// cookie after unwinding; the program returns what it returns), or 0
    /// for the default one (the program returns the cookie).
    pub exception_cb: u32,
    /// Number of [`ObjTypeDesc`]s at `obj_types`.
    pub nr_obj_types: u32,
    /// User address of the object types the program allocates
    /// (`bpf_obj_new`) and those their lists hold, or 0.
    pub obj_types: u64,
}

/// `expected_attach_type` of an XDP program run from a devmap entry
/// (Linux's `BPF_XDP_DEVMAP`): it may read `xdp_md.egress_ifindex`; it is
/// not attached to interfaces nor test-run.
pub const ATTACH_XDP_DEVMAP: u32 = 33;
/// An XDP program run from a cpumap entry (`BPF_XDP_CPUMAP`).
pub const ATTACH_XDP_CPUMAP: u32 = 35;
/// An XDP program on an interface (`BPF_XDP`), the same as 0.
pub const ATTACH_XDP: u32 = 37;

/// `Command::ProgTestRun`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestRunReq {
    /// The program.
    pub handle: u32,
    /// Out: `r0` of the last run.
    pub retval: u32,
    /// Bytes at `data_in`.
    pub data_size_in: u32,
    /// In: capacity at `data_out` (0: no copy); out: bytes of data.
    pub data_size_out: u32,
    /// User address of the packet.
    pub data_in: u64,
    /// User address receiving the packet after the run.
    pub data_out: u64,
    /// Bytes at `ctx_in`.
    pub ctx_size_in: u32,
    /// In: capacity at `ctx_out`; out: bytes of context.
    pub ctx_size_out: u32,
    /// User address of the context (0: the default for the type).
    pub ctx_in: u64,
    /// User address receiving the context after the run.
    pub ctx_out: u64,
    /// Runs (0 counts as 1).
    pub repeat: u32,
    /// Out: mean duration of one run in ns.
    pub duration: u32,
    /// Zero.
    pub flags: u32,
    /// Zero.
    pub reserved: u32,
}

/// `Command::ObjPin` (`handle` in) and `Command::ObjGet` (`handle` out).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjPinReq {
    /// The object.
    pub handle: u32,
    /// Out (ObjGet): [`ObjKind`] of the object.
    pub kind: u32,
    /// Pin name, NUL-padded: `[A-Za-z0-9_.-]`, 1 to 63 bytes.
    pub name: [u8; PIN_NAME_LEN],
}

impl Default for ObjPinReq {
    fn default() -> Self {
        ObjPinReq {
            handle: 0,
            kind: 0,
            name: [0; PIN_NAME_LEN],
        }
    }
}

/// `Command::ObjClose`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjCloseReq {
    /// The handle to release.
    pub handle: u32,
    /// Zero.
    pub reserved: u32,
}

/// Kinds of objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ObjKind {
    /// A map.
    Map = 1,
    /// A program.
    Prog = 2,
    /// A link (a program attached to traffic).
    Link = 3,
}

/// `direction` of [`LinkCreateReq`]: frames an interface receives.
pub const LINK_INGRESS: u32 = 0;
/// `direction` of [`LinkCreateReq`]: frames sent through an interface.
pub const LINK_EGRESS: u32 = 1;
/// `flags` of [`LinkCreateReq`]: take the place of the link already on
/// the interface and direction (which is left detached) instead of
/// failing with `EBUSY`.
pub const LINK_F_REPLACE: u32 = 1;
/// `link_type` of [`LinkInfo`]: an XDP program on an interface's packet
/// hook.
pub const LINK_TYPE_NETDEV: u32 = 1;
/// Bytes of an interface name, NUL included (`IFNAMSIZ`).
pub const IFNAME_LEN: usize = 16;

/// `Command::LinkCreate`: attach an XDP program to the traffic of an
/// interface, as `BPF_LINK_CREATE` with `BPF_XDP` does.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCreateReq {
    /// Handle of the program (an XDP program).
    pub prog_handle: u32,
    /// Index of the interface, or 0 to name it in `ifname`.
    pub ifindex: u32,
    /// The interface's name, NUL-padded (when `ifindex` is 0).
    pub ifname: [u8; IFNAME_LEN],
    /// [`LINK_INGRESS`] or [`LINK_EGRESS`].
    pub direction: u32,
    /// [`LINK_F_REPLACE`] or 0.
    pub flags: u32,
    /// Out: the link's handle.
    pub link_handle: u32,
    /// Out: the interface's index.
    pub ifindex_out: u32,
}

/// What `ObjGetInfo` reports for a link.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// [`LINK_TYPE_NETDEV`].
    pub link_type: u32,
    /// Id.
    pub id: u32,
    /// Id of the program it runs.
    pub prog_id: u32,
    /// Index of the interface it is attached to; 0 once detached (by
    /// `LinkDetach`, a replacing link, or the interface going away).
    pub ifindex: u32,
    /// [`LINK_INGRESS`] or [`LINK_EGRESS`].
    pub direction: u32,
    /// The interface it was attached to, detached or not.
    pub attached_ifindex: u32,
    /// Frames per verdict: aborted, drop, pass, tx, redirect.
    pub verdicts: [u64; 5],
}

/// `Command::ObjGetInfo`: `info_len` bytes of a [`MapInfo`] or
/// [`ProgInfo`] copied to `info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetInfoReq {
    /// The object.
    pub handle: u32,
    /// In: capacity at `info`; out: bytes written.
    pub info_len: u32,
    /// User address of the info struct.
    pub info: u64,
}

/// What `ObjGetInfo` reports for a map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapInfo {
    /// Linux's map type number.
    pub map_type: u32,
    /// Id.
    pub id: u32,
    /// Key size.
    pub key_size: u32,
    /// Value size.
    pub value_size: u32,
    /// Capacity.
    pub max_entries: u32,
    /// Flags.
    pub map_flags: u32,
    /// Name.
    pub name: [u8; OBJ_NAME_LEN],
    /// Bytes of storage.
    pub memory_bytes: u64,
}

/// What `ObjGetInfo` reports for a program.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgInfo {
    /// Linux's program type number.
    pub prog_type: u32,
    /// Id.
    pub id: u32,
    /// Instruction slots.
    pub insn_cnt: u32,
    /// Maps used.
    pub map_count: u32,
    /// Name.
    pub name: [u8; OBJ_NAME_LEN],
    /// Load time, platform monotonic ns.
    pub load_time_ns: u64,
    /// Runs counted (while stats are enabled).
    pub run_cnt: u64,
    /// Time in those runs, ns.
    pub run_time_ns: u64,
    /// In: capacity in bytes at `xlated_insns` (0: do not copy). Out: the
    /// size of the program as the device runs it (after context-access
    /// conversion), in bytes.
    pub xlated_len: u32,
    /// Out: [`PROG_INFO_VERIFIED`] when the verifier accepted the program
    /// (it runs without run-time checks), [`PROG_INFO_JITED`] when it runs
    /// compiled.
    pub flags: u32,
    /// In: user address receiving up to `xlated_len` bytes of instructions.
    pub xlated_insns: u64,
    /// Out: the size of the program's machine code in bytes when it runs
    /// compiled ([`PROG_INFO_JITED`]), else 0 (Linux's `jited_prog_len`).
    pub jited_len: u32,
    /// Zero.
    pub reserved: u32,
}

/// `Command::GetNextId` (`next_id` out) and `Command::GetHandleById`
/// (`handle` out).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdReq {
    /// [`ObjKind`].
    pub kind: u32,
    /// GetNextId: list ids after this one; GetHandleById: the id.
    pub id: u32,
    /// Out (GetNextId): the next id.
    pub next_id: u32,
    /// Out (GetHandleById): a new handle to the object.
    pub handle: u32,
}

/// `Command::RingbufConsume`: copies whole records, each preceded by its
/// length as a native-endian u64 and padded to 8 bytes, into `buf`; a record
/// that does not fit stays in the ring. Of a ring buffer, or of one slot
/// of a perf event array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingbufConsumeReq {
    /// The ring buffer or perf event array map.
    pub handle: u32,
    /// In: capacity at `buf`; out: bytes written.
    pub buf_len: u32,
    /// User address of the buffer.
    pub buf: u64,
    /// Out: records copied.
    pub records: u32,
    /// The slot of a perf event array (0 for a ring buffer).
    pub index: u32,
    /// Out: records lost on that slot so far, its buffer being full (perf
    /// event arrays; 0 for a ring buffer).
    pub lost: u64,
}

/// Byte views of the request structs, for copying them across the user
/// boundary.
///
/// # Safety
/// Implementors are `#[repr(C)]` plain integers and byte arrays with no
/// implicit padding (asserted below), so every byte pattern is a valid
/// value and every value is fully initialised.
pub unsafe trait Plain: Copy + Default + 'static {
    /// The struct's bytes.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: per the trait's contract, all bytes are initialised.
        unsafe { core::slice::from_raw_parts(self as *const Self as *const u8, size_of::<Self>()) }
    }

    /// The struct's bytes, writable.
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: per the trait's contract, any byte pattern is valid.
        unsafe { core::slice::from_raw_parts_mut(self as *mut Self as *mut u8, size_of::<Self>()) }
    }
}

macro_rules! plain {
    ($($t:ty = $size:expr;)*) => {$(
        // SAFETY: see the assertion: the size equals the sum of the fields,
        // all integers or byte arrays.
        unsafe impl Plain for $t {}
        const _: () = assert!(size_of::<$t>() == $size);
    )*};
}

plain! {
    IoctlArg = 16;
    VersionReq = 48;
    MapCreateReq = 80;
    ObjField = 16;
    ObjTypeDesc = 192;
    MapElemReq = 32;
    MapBatchReq = 56;
    ProgLoadReq = 104;
    TestRunReq = 72;
    ObjPinReq = 72;
    ObjCloseReq = 8;
    GetInfoReq = 16;
    MapInfo = 48;
    ProgInfo = 80;
    IdReq = 16;
    RingbufConsumeReq = 32;
    LinkCreateReq = 40;
    LinkInfo = 64;
}

// Offsets that userspace in other languages relies on.
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(MapCreateReq, name) == 32);
    assert!(offset_of!(MapCreateReq, handle) == 48);
    assert!(offset_of!(MapElemReq, key) == 8);
    assert!(offset_of!(MapElemReq, flags) == 24);
    assert!(offset_of!(ProgLoadReq, insns) == 8);
    assert!(offset_of!(ProgLoadReq, log_buf) == 32);
    assert!(offset_of!(ProgLoadReq, map_handles) == 40);
    assert!(offset_of!(ProgLoadReq, name) == 56);
    assert!(offset_of!(ProgLoadReq, handle) == 72);
    assert!(offset_of!(TestRunReq, data_in) == 16);
    assert!(offset_of!(TestRunReq, ctx_in) == 40);
    assert!(offset_of!(TestRunReq, repeat) == 56);
    assert!(offset_of!(ObjPinReq, name) == 8);
    assert!(offset_of!(ProgInfo, load_time_ns) == 32);
    assert!(offset_of!(ProgInfo, xlated_len) == 56);
    assert!(offset_of!(ProgInfo, xlated_insns) == 64);
    assert!(offset_of!(ProgInfo, jited_len) == 72);
    assert!(offset_of!(MapInfo, memory_bytes) == 40);
};

// The request numbers, fixed forever.
const _: () = {
    assert!(Command::Version.request() == 0xc010_4500);
    assert!(Command::ProgLoad.request() == 0xc010_450a);
    assert!(Command::RingbufConsume.request() == 0xc010_4512);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_decode_to_their_command_only() {
        for cmd in Command::ALL {
            assert_eq!(Command::from_request(cmd.request()), Some(cmd));
        }
        let unknown = 0xc010_4500 | Command::ALL.len() as u32;
        assert_eq!(Command::from_request(unknown), None, "unknown command");
        assert_eq!(Command::from_request(0xc008_4501), None, "wrong size");
        assert_eq!(Command::from_request(0x4010_4501), None, "wrong direction");
        assert_eq!(Command::from_request(0xc010_4601), None, "wrong type");
    }
}
