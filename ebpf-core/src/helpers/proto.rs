//! Helper prototypes: what each helper takes and returns, in the terms of
//! Linux's `struct bpf_func_proto` (`enum bpf_arg_type`,
//! `enum bpf_return_type`). The load-time checks read them to decide
//! whether a call's arguments are acceptable and what `r0` holds after it;
//! the implementations in [`linux`](super::linux) rely on them.

use super::ids;

/// What an argument register must hold (Linux's `ARG_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Any initialised value (`ARG_ANYTHING`).
    Anything,
    /// A map pointer from `lddw` (`ARG_CONST_MAP_PTR`).
    ConstMapPtr,
    /// Readable memory of the map's key size (`ARG_PTR_TO_MAP_KEY`).
    MapKey,
    /// Readable memory of the map's value size (`ARG_PTR_TO_MAP_VALUE`).
    MapValue,
    /// Writable memory of the map's value size the helper fills
    /// (`ARG_PTR_TO_MAP_VALUE | MEM_UNINIT`).
    UninitMapValue,
    /// Memory whose size is the next argument (`ARG_PTR_TO_MEM`).
    Mem {
        /// Only read by the helper (`MEM_RDONLY`); else also written.
        read_only: bool,
        /// May be NULL when the size is zero (`PTR_MAYBE_NULL`).
        maybe_null: bool,
    },
    /// The size of the previous memory argument, known at load time
    /// (`ARG_CONST_SIZE`, or `ARG_CONST_SIZE_OR_ZERO` when `or_zero`).
    ConstSize {
        /// Zero is allowed.
        or_zero: bool,
    },
    /// The size of memory the helper allocates (`ARG_CONST_ALLOC_SIZE_OR_ZERO`).
    ConstAllocSize,
    /// The program's context (`ARG_PTR_TO_CTX`).
    Ctx,
    /// A ring buffer record from `bpf_ringbuf_reserve`, which the call
    /// releases (`ARG_PTR_TO_RINGBUF_MEM | OBJ_RELEASE`).
    ReleaseRingbufMem,
    /// A BPF function of the program, called back (`ARG_PTR_TO_FUNC`).
    Func,
    /// A stack pointer or NULL, passed on to the callback
    /// (`ARG_PTR_TO_STACK_OR_NULL`).
    StackOrNull,
    /// A NUL-terminated string in read-only map memory
    /// (`ARG_PTR_TO_CONST_STR`).
    ConstStr,
    /// The `struct bpf_spin_lock` of a map value (`ARG_PTR_TO_SPIN_LOCK`).
    SpinLock,
    /// The `struct bpf_timer` of a map value (`ARG_PTR_TO_TIMER`).
    Timer,
    /// Initialised memory of a fixed size the helper reads and writes
    /// (`ARG_PTR_TO_FIXED_SIZE_MEM`).
    FixedMem {
        /// Its size in bytes.
        size: u32,
    },
    /// 16 bytes of stack, at a constant 8-byte aligned offset, that the
    /// call makes a dynamic pointer of this kind (`MEM_UNINIT` dynptr);
    /// `None`: of the kind of the call's initialised dynptr argument
    /// (`bpf_dynptr_clone`).
    DynptrUninit(Option<DynptrKind>),
    /// An initialised dynamic pointer on the stack (`ARG_PTR_TO_DYNPTR`).
    Dynptr,
    /// A buffer for the call to copy into, or NULL, of the size the next
    /// argument gives, a constant (`buffer__opt`, `buffer__szk`).
    OptBuffer,
    /// Initialised memory of a fixed size the helper only reads
    /// (`ARG_PTR_TO_FIXED_SIZE_MEM`).
    FixedIn {
        /// Its size in bytes.
        size: u32,
    },
    /// Memory of a fixed size the helper writes, initialised or not
    /// (`ARG_PTR_TO_FIXED_SIZE_MEM | MEM_UNINIT`).
    OutMem {
        /// Its size in bytes.
        size: u32,
    },
    /// Writable memory of a map value whose size is the next argument, that
    /// a local dynamic pointer will stand for (`bpf_dynptr_from_mem`'s
    /// data: Linux takes map values only).
    DynptrData,
    /// The BTF id of an object type the program allocates, a known
    /// constant (`bpf_obj_new_impl`'s `local_type_id__k`).
    ObjTypeId,
    /// An object the program owns, at its start; the call releases it
    /// (`bpf_obj_drop_impl`'s `p__alloc`).
    ReleaseObject,
    /// A `struct bpf_list_head` of a map value or owned object at a
    /// constant offset, its lock held.
    ListHead,
    /// The `struct bpf_list_node` of an object the program owns, of the
    /// type the list head argument holds; the call takes the object.
    ListNode,
    /// A `struct bpf_rb_root`, as a [`ListHead`](Arg::ListHead).
    RbRoot,
    /// The `struct bpf_rb_node` of an object the program owns, as a
    /// [`ListNode`](Arg::ListNode).
    RbNode,
    /// The `struct bpf_rb_node` of an object a tree holds (a non-owning
    /// pointer), of the type the root argument holds.
    RbNodeInTree,
    /// A `struct T __kptr *` field of a map value or object, at a
    /// constant offset (`ARG_PTR_TO_KPTR`).
    Kptr,
    /// NULL, or an object the program owns, at its start, of the type
    /// the kptr argument holds; the call takes it (`bpf_kptr_xchg`'s
    /// `ptr`, `OBJ_RELEASE`).
    KptrNew,
    /// An object of a type with a `bpf_refcount`, at its start, owned or
    /// reached under its list's or tree's lock
    /// (`bpf_refcount_acquire_impl`'s `p__refcounted_kptr`).
    RefcountedObject,
    /// A socket of any kind, not NULL (`ARG_PTR_TO_BTF_ID_SOCK_COMMON`,
    /// `ARG_PTR_TO_SOCK_COMMON`); with `release`, a referenced one the call
    /// releases (`OBJ_RELEASE`).
    Socket {
        /// The call releases the socket's reference.
        release: bool,
    },
}

/// What a socket pointer points to (Linux's `PTR_TO_SOCKET`,
/// `PTR_TO_SOCK_COMMON`, `PTR_TO_TCP_SOCK`): which fields a program may
/// read through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockKind {
    /// A full socket: `struct bpf_sock`.
    Sock,
    /// The part every socket has, also request and time-wait ones:
    /// `struct bpf_sock` without `type`, `protocol`, `mark`, `priority`.
    Common,
    /// A TCP socket: `struct bpf_tcp_sock`.
    Tcp,
}

/// Where the reference of a socket a call returns comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockRef {
    /// The call takes one, to be released (`bpf_sk_lookup_tcp`).
    Acquired,
    /// The socket argument's own: a cast of it (`bpf_tcp_sock`).
    OfArgument,
    /// None: the socket lives as long as the program runs
    /// (`bpf_get_listener_sock`).
    Unreferenced,
}

/// What a dynamic pointer points into (Linux's `enum bpf_dynptr_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DynptrKind {
    /// A socket buffer (`BPF_DYNPTR_TYPE_SKB`).
    Skb,
    /// An XDP buffer (`BPF_DYNPTR_TYPE_XDP`).
    Xdp,
    /// A ring buffer record (`BPF_DYNPTR_TYPE_RINGBUF`), which must be
    /// submitted or discarded.
    Ringbuf,
    /// Memory of a map value (`BPF_DYNPTR_TYPE_LOCAL`).
    Local,
}

/// What `r0` holds after the call (Linux's `RET_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// A scalar (`RET_INTEGER`).
    Integer,
    /// Nothing to read (`RET_VOID`); `r0` is not initialised.
    Void,
    /// A pointer to a value of the map argument, or NULL
    /// (`RET_PTR_TO_MAP_VALUE_OR_NULL`).
    MapValueOrNull,
    /// A ring buffer record of the size argument, or NULL
    /// (`RET_PTR_TO_RINGBUF_MEM_OR_NULL`); it must be released.
    RingbufMemOrNull,
    /// Memory of the constant size argument in the dynamic pointer's
    /// packet, or NULL (`bpf_dynptr_slice`, `_rdwr` when `writable`); like
    /// a packet pointer, stale once the packet may have moved.
    SliceOrNull {
        /// The program may write through it.
        writable: bool,
    },
    /// Memory of the constant size argument in a ring buffer record's
    /// dynptr, or NULL (`bpf_dynptr_data`); gone with the record.
    DynptrDataOrNull,
    /// A new object of the type the `ObjTypeId` argument names, or NULL;
    /// the program owns it (a reference).
    ObjectOrNull,
    /// The node of an object the list head argument held, or NULL; the
    /// program owns the object now.
    ListNodeOrNull,
    /// The node of an object the root argument holds, or NULL; not the
    /// program's (a non-owning pointer, good until the lock goes).
    TreeNodeOrNull,
    /// The object the kptr argument held, or NULL; the program owns it
    /// now.
    KptrOrNull,
    /// The `RefcountedObject` argument, which the program now owns once
    /// more; NULL too when that argument was not owned (its count may
    /// have dropped to zero).
    AcquiredObject,
    /// A socket, or NULL (`RET_PTR_TO_SOCKET_OR_NULL`,
    /// `RET_PTR_TO_SOCK_COMMON_OR_NULL`, `RET_PTR_TO_TCP_SOCK_OR_NULL`).
    SocketOrNull {
        /// Its kind.
        kind: SockKind,
        /// Its reference.
        reference: SockRef,
    },
}

/// What a callback of a callback-taking helper receives in `r1`-`r5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackArgs {
    /// `bpf_loop`: (index, ctx).
    Loop,
    /// `bpf_for_each_map_elem`: (map, key, value, ctx).
    ForEachMapElem,
    /// `bpf_rbtree_add`'s `less`: (the node added, a node of the tree),
    /// both non-owning.
    RbtreeLess,
    /// `bpf_timer_set_callback`: (map, key, value) of the timer, later, in
    /// a run of its own (an async callback: verified as a program of its
    /// own, returning 0).
    Timer,
}

/// One helper's prototype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proto {
    /// The helper's id.
    pub id: u32,
    /// Linux's name, as logs print it.
    pub name: &'static str,
    /// The arguments in `r1`.. (the rest are not looked at).
    pub args: &'static [Arg],
    /// What the call leaves in `r0`.
    pub ret: Ret,
    /// Only programs with a GPL-compatible license may call it.
    pub gpl_only: bool,
    /// What its callback receives, for callback-taking helpers.
    pub callback: Option<CallbackArgs>,
    /// It may move or resize the packet, so packet pointers the program
    /// holds are invalid after the call (Linux's
    /// `bpf_helper_changes_pkt_data`).
    pub changes_packet: bool,
}

/// The helpers after which packet pointers are invalid. A tail call is
/// among them, as on Linux: the target may have called one.
const CHANGES_PACKET: &[u32] = &[
    ids::SKB_STORE_BYTES,
    ids::L3_CSUM_REPLACE,
    ids::L4_CSUM_REPLACE,
    ids::TAIL_CALL,
    ids::SKB_VLAN_PUSH,
    ids::SKB_VLAN_POP,
    ids::SKB_CHANGE_TAIL,
    ids::SKB_PULL_DATA,
    ids::SKB_CHANGE_HEAD,
    ids::SKB_CHANGE_PROTO,
    ids::SKB_ADJUST_ROOM,
    ids::CLONE_REDIRECT,
    ids::XDP_ADJUST_HEAD,
    ids::XDP_ADJUST_META,
    ids::XDP_ADJUST_TAIL,
];

const fn changes_packet(id: u32) -> bool {
    let mut i = 0;
    while i < CHANGES_PACKET.len() {
        if CHANGES_PACKET[i] == id {
            return true;
        }
        i += 1;
    }
    false
}

const fn proto(id: u32, name: &'static str, args: &'static [Arg], ret: Ret) -> Proto {
    Proto {
        id,
        name,
        args,
        ret,
        gpl_only: false,
        callback: None,
        changes_packet: changes_packet(id),
    }
}

const READ_MEM: Arg = Arg::Mem {
    read_only: true,
    maybe_null: false,
};

/// Memory the helper fills (`ARG_PTR_TO_UNINIT_MEM`).
const FILL_MEM: Arg = Arg::Mem {
    read_only: false,
    maybe_null: false,
};

/// Memory the helper reads, or NULL with a size of 0.
const READ_MEM_OR_NULL: Arg = Arg::Mem {
    read_only: true,
    maybe_null: true,
};

const SIZE: Arg = Arg::ConstSize { or_zero: false };
const SIZE_OR_ZERO: Arg = Arg::ConstSize { or_zero: true };
const ANY: Arg = Arg::Anything;
const SOCKET: Arg = Arg::Socket { release: false };

/// `bpf_sk_lookup_*`: (ctx, tuple, its size, netns, flags).
const SK_LOOKUP_ARGS: [Arg; 5] = [Arg::Ctx, READ_MEM, SIZE, ANY, ANY];

/// A full socket with a reference to release, or NULL.
const SOCKET_ACQUIRED: Ret = Ret::SocketOrNull {
    kind: SockKind::Sock,
    reference: SockRef::Acquired,
};

/// `bpf_strtol`/`bpf_strtoul`: (string, its size, flags, result).
const STRTOX_ARGS: [Arg; 4] = [READ_MEM, SIZE, ANY, Arg::OutMem { size: 8 }];

/// `bpf_tcp_{check,gen}_syncookie`: (listener, IP header, its size, TCP
/// header, its size).
const SYNCOOKIE_ARGS: [Arg; 5] = [SOCKET, READ_MEM, SIZE, READ_MEM, SIZE];

/// Every helper's prototype, as Linux declares it.
pub const PROTOS: &[Proto] = &[
    proto(
        ids::MAP_LOOKUP_ELEM,
        "bpf_map_lookup_elem",
        &[Arg::ConstMapPtr, Arg::MapKey],
        Ret::MapValueOrNull,
    ),
    proto(
        ids::MAP_UPDATE_ELEM,
        "bpf_map_update_elem",
        &[Arg::ConstMapPtr, Arg::MapKey, Arg::MapValue, Arg::Anything],
        Ret::Integer,
    ),
    proto(
        ids::MAP_DELETE_ELEM,
        "bpf_map_delete_elem",
        &[Arg::ConstMapPtr, Arg::MapKey],
        Ret::Integer,
    ),
    proto(ids::KTIME_GET_NS, "bpf_ktime_get_ns", &[], Ret::Integer),
    proto(ids::SPIN_LOCK, "bpf_spin_lock", &[Arg::SpinLock], Ret::Void),
    proto(
        ids::SPIN_UNLOCK,
        "bpf_spin_unlock",
        &[Arg::SpinLock],
        Ret::Void,
    ),
    // The packet helpers of socket filter, tc and XDP programs.
    proto(
        ids::SKB_STORE_BYTES,
        "bpf_skb_store_bytes",
        &[Arg::Ctx, ANY, READ_MEM, SIZE, ANY],
        Ret::Integer,
    ),
    proto(
        ids::L3_CSUM_REPLACE,
        "bpf_l3_csum_replace",
        &[Arg::Ctx, ANY, ANY, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::L4_CSUM_REPLACE,
        "bpf_l4_csum_replace",
        &[Arg::Ctx, ANY, ANY, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::GET_CGROUP_CLASSID,
        "bpf_get_cgroup_classid",
        &[Arg::Ctx],
        Ret::Integer,
    ),
    proto(
        ids::SKB_VLAN_PUSH,
        "bpf_skb_vlan_push",
        &[Arg::Ctx, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_VLAN_POP,
        "bpf_skb_vlan_pop",
        &[Arg::Ctx],
        Ret::Integer,
    ),
    proto(ids::REDIRECT, "bpf_redirect", &[ANY, ANY], Ret::Integer),
    proto(
        ids::REDIRECT_MAP,
        "bpf_redirect_map",
        &[Arg::ConstMapPtr, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_LOAD_BYTES,
        "bpf_skb_load_bytes",
        &[Arg::Ctx, ANY, FILL_MEM, SIZE],
        Ret::Integer,
    ),
    proto(
        ids::CSUM_DIFF,
        "bpf_csum_diff",
        &[
            READ_MEM_OR_NULL,
            SIZE_OR_ZERO,
            READ_MEM_OR_NULL,
            SIZE_OR_ZERO,
            ANY,
        ],
        Ret::Integer,
    ),
    proto(
        ids::GET_HASH_RECALC,
        "bpf_get_hash_recalc",
        &[Arg::Ctx],
        Ret::Integer,
    ),
    proto(
        ids::CSUM_UPDATE,
        "bpf_csum_update",
        &[Arg::Ctx, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SET_HASH_INVALID,
        "bpf_set_hash_invalid",
        &[Arg::Ctx],
        Ret::Void,
    ),
    proto(
        ids::SET_HASH,
        "bpf_set_hash",
        &[Arg::Ctx, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_LOAD_BYTES_RELATIVE,
        "bpf_skb_load_bytes_relative",
        &[Arg::Ctx, ANY, FILL_MEM, SIZE, ANY],
        Ret::Integer,
    ),
    proto(
        ids::CSUM_LEVEL,
        "bpf_csum_level",
        &[Arg::Ctx, ANY],
        Ret::Integer,
    ),
    proto(
        ids::CHECK_MTU,
        "bpf_check_mtu",
        &[Arg::Ctx, ANY, Arg::FixedMem { size: 4 }, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_CHANGE_TYPE,
        "bpf_skb_change_type",
        &[Arg::Ctx, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_CHANGE_TAIL,
        "bpf_skb_change_tail",
        &[Arg::Ctx, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_CHANGE_PROTO,
        "bpf_skb_change_proto",
        &[Arg::Ctx, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_ADJUST_ROOM,
        "bpf_skb_adjust_room",
        &[Arg::Ctx, ANY, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_SET_TSTAMP,
        "bpf_skb_set_tstamp",
        &[Arg::Ctx, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::CLONE_REDIRECT,
        "bpf_clone_redirect",
        &[Arg::Ctx, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::REDIRECT_NEIGH,
        "bpf_redirect_neigh",
        &[ANY, READ_MEM_OR_NULL, SIZE_OR_ZERO, ANY],
        Ret::Integer,
    ),
    proto(
        ids::REDIRECT_PEER,
        "bpf_redirect_peer",
        &[ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_PULL_DATA,
        "bpf_skb_pull_data",
        &[Arg::Ctx, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_CHANGE_HEAD,
        "bpf_skb_change_head",
        &[Arg::Ctx, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::XDP_ADJUST_HEAD,
        "bpf_xdp_adjust_head",
        &[Arg::Ctx, ANY],
        Ret::Integer,
    ),
    proto(
        ids::XDP_ADJUST_META,
        "bpf_xdp_adjust_meta",
        &[Arg::Ctx, ANY],
        Ret::Integer,
    ),
    proto(
        ids::XDP_ADJUST_TAIL,
        "bpf_xdp_adjust_tail",
        &[Arg::Ctx, ANY],
        Ret::Integer,
    ),
    proto(
        ids::XDP_GET_BUFF_LEN,
        "bpf_xdp_get_buff_len",
        &[Arg::Ctx],
        Ret::Integer,
    ),
    proto(
        ids::XDP_LOAD_BYTES,
        "bpf_xdp_load_bytes",
        &[Arg::Ctx, ANY, FILL_MEM, SIZE],
        Ret::Integer,
    ),
    proto(
        ids::XDP_STORE_BYTES,
        "bpf_xdp_store_bytes",
        &[Arg::Ctx, ANY, READ_MEM, SIZE],
        Ret::Integer,
    ),
    Proto {
        gpl_only: true,
        ..proto(
            ids::TRACE_PRINTK,
            "bpf_trace_printk",
            &[READ_MEM, Arg::ConstSize { or_zero: false }],
            Ret::Integer,
        )
    },
    proto(
        ids::GET_PRANDOM_U32,
        "bpf_get_prandom_u32",
        &[],
        Ret::Integer,
    ),
    proto(
        ids::GET_SMP_PROCESSOR_ID,
        "bpf_get_smp_processor_id",
        &[],
        Ret::Integer,
    ),
    proto(
        ids::TAIL_CALL,
        "bpf_tail_call",
        &[Arg::Ctx, Arg::ConstMapPtr, Arg::Anything],
        Ret::Void,
    ),
    proto(
        ids::GET_NUMA_NODE_ID,
        "bpf_get_numa_node_id",
        &[],
        Ret::Integer,
    ),
    proto(
        ids::MAP_PUSH_ELEM,
        "bpf_map_push_elem",
        &[Arg::ConstMapPtr, Arg::MapValue, Arg::Anything],
        Ret::Integer,
    ),
    proto(
        ids::MAP_POP_ELEM,
        "bpf_map_pop_elem",
        &[Arg::ConstMapPtr, Arg::UninitMapValue],
        Ret::Integer,
    ),
    proto(
        ids::MAP_PEEK_ELEM,
        "bpf_map_peek_elem",
        &[Arg::ConstMapPtr, Arg::UninitMapValue],
        Ret::Integer,
    ),
    proto(ids::JIFFIES64, "bpf_jiffies64", &[], Ret::Integer),
    proto(
        ids::KTIME_GET_BOOT_NS,
        "bpf_ktime_get_boot_ns",
        &[],
        Ret::Integer,
    ),
    proto(
        ids::RINGBUF_OUTPUT,
        "bpf_ringbuf_output",
        &[
            Arg::ConstMapPtr,
            READ_MEM,
            Arg::ConstSize { or_zero: true },
            Arg::Anything,
        ],
        Ret::Integer,
    ),
    proto(
        ids::RINGBUF_RESERVE,
        "bpf_ringbuf_reserve",
        &[Arg::ConstMapPtr, Arg::ConstAllocSize, Arg::Anything],
        Ret::RingbufMemOrNull,
    ),
    proto(
        ids::RINGBUF_SUBMIT,
        "bpf_ringbuf_submit",
        &[Arg::ReleaseRingbufMem, Arg::Anything],
        Ret::Void,
    ),
    proto(
        ids::RINGBUF_DISCARD,
        "bpf_ringbuf_discard",
        &[Arg::ReleaseRingbufMem, Arg::Anything],
        Ret::Void,
    ),
    proto(
        ids::RINGBUF_QUERY,
        "bpf_ringbuf_query",
        &[Arg::ConstMapPtr, Arg::Anything],
        Ret::Integer,
    ),
    proto(
        ids::KTIME_GET_COARSE_NS,
        "bpf_ktime_get_coarse_ns",
        &[],
        Ret::Integer,
    ),
    proto(
        ids::KTIME_GET_TAI_NS,
        "bpf_ktime_get_tai_ns",
        &[],
        Ret::Integer,
    ),
    proto(
        ids::SK_LOOKUP_TCP,
        "bpf_sk_lookup_tcp",
        &SK_LOOKUP_ARGS,
        SOCKET_ACQUIRED,
    ),
    proto(
        ids::SK_LOOKUP_UDP,
        "bpf_sk_lookup_udp",
        &SK_LOOKUP_ARGS,
        SOCKET_ACQUIRED,
    ),
    proto(
        ids::SKC_LOOKUP_TCP,
        "bpf_skc_lookup_tcp",
        &SK_LOOKUP_ARGS,
        Ret::SocketOrNull {
            kind: SockKind::Common,
            reference: SockRef::Acquired,
        },
    ),
    proto(
        ids::SK_RELEASE,
        "bpf_sk_release",
        &[Arg::Socket { release: true }],
        Ret::Integer,
    ),
    proto(
        ids::SK_FULLSOCK,
        "bpf_sk_fullsock",
        &[SOCKET],
        Ret::SocketOrNull {
            kind: SockKind::Sock,
            reference: SockRef::OfArgument,
        },
    ),
    proto(
        ids::TCP_SOCK,
        "bpf_tcp_sock",
        &[SOCKET],
        Ret::SocketOrNull {
            kind: SockKind::Tcp,
            reference: SockRef::OfArgument,
        },
    ),
    proto(
        ids::GET_LISTENER_SOCK,
        "bpf_get_listener_sock",
        &[SOCKET],
        Ret::SocketOrNull {
            kind: SockKind::Sock,
            reference: SockRef::Unreferenced,
        },
    ),
    Proto {
        gpl_only: true,
        ..proto(
            ids::TCP_CHECK_SYNCOOKIE,
            "bpf_tcp_check_syncookie",
            &SYNCOOKIE_ARGS,
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        ..proto(
            ids::TCP_GEN_SYNCOOKIE,
            "bpf_tcp_gen_syncookie",
            &SYNCOOKIE_ARGS,
            Ret::Integer,
        )
    },
    proto(
        ids::DYNPTR_FROM_MEM,
        "bpf_dynptr_from_mem",
        &[
            Arg::DynptrData,
            SIZE_OR_ZERO,
            ANY,
            Arg::DynptrUninit(Some(DynptrKind::Local)),
        ],
        Ret::Integer,
    ),
    Proto {
        gpl_only: true,
        ..proto(
            ids::TCP_RAW_GEN_SYNCOOKIE_IPV4,
            "bpf_tcp_raw_gen_syncookie_ipv4",
            &[Arg::FixedIn { size: 20 }, READ_MEM, SIZE_OR_ZERO],
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        ..proto(
            ids::TCP_RAW_GEN_SYNCOOKIE_IPV6,
            "bpf_tcp_raw_gen_syncookie_ipv6",
            &[Arg::FixedIn { size: 40 }, READ_MEM, SIZE_OR_ZERO],
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        ..proto(
            ids::TCP_RAW_CHECK_SYNCOOKIE_IPV4,
            "bpf_tcp_raw_check_syncookie_ipv4",
            &[Arg::FixedIn { size: 20 }, Arg::FixedIn { size: 20 }],
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        ..proto(
            ids::TCP_RAW_CHECK_SYNCOOKIE_IPV6,
            "bpf_tcp_raw_check_syncookie_ipv6",
            &[Arg::FixedIn { size: 40 }, Arg::FixedIn { size: 20 }],
            Ret::Integer,
        )
    },
    proto(
        ids::SK_ASSIGN,
        "bpf_sk_assign",
        &[Arg::Ctx, SOCKET, ANY],
        Ret::Integer,
    ),
    proto(
        ids::MAP_LOOKUP_PERCPU_ELEM,
        "bpf_map_lookup_percpu_elem",
        &[Arg::ConstMapPtr, Arg::MapKey, ANY],
        Ret::MapValueOrNull,
    ),
    proto(
        ids::STRNCMP,
        "bpf_strncmp",
        &[READ_MEM, SIZE, Arg::ConstStr],
        Ret::Integer,
    ),
    proto(ids::STRTOL, "bpf_strtol", &STRTOX_ARGS, Ret::Integer),
    proto(ids::STRTOUL, "bpf_strtoul", &STRTOX_ARGS, Ret::Integer),
    Proto {
        gpl_only: true,
        ..proto(
            ids::TRACE_VPRINTK,
            "bpf_trace_vprintk",
            &[READ_MEM, SIZE, READ_MEM_OR_NULL, SIZE_OR_ZERO],
            Ret::Integer,
        )
    },
    proto(
        ids::SKB_ECN_SET_CE,
        "bpf_skb_ecn_set_ce",
        &[Arg::Ctx],
        Ret::Integer,
    ),
    proto(
        ids::GET_ROUTE_REALM,
        "bpf_get_route_realm",
        &[Arg::Ctx],
        Ret::Integer,
    ),
    proto(
        ids::SKB_CGROUP_CLASSID,
        "bpf_skb_cgroup_classid",
        &[Arg::Ctx],
        Ret::Integer,
    ),
    proto(
        ids::SKB_GET_XFRM_STATE,
        "bpf_skb_get_xfrm_state",
        &[Arg::Ctx, ANY, FILL_MEM, SIZE, ANY],
        Ret::Integer,
    ),
    Proto {
        callback: Some(CallbackArgs::ForEachMapElem),
        ..proto(
            ids::FOR_EACH_MAP_ELEM,
            "bpf_for_each_map_elem",
            &[Arg::ConstMapPtr, Arg::Func, Arg::StackOrNull, Arg::Anything],
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        ..proto(
            ids::SNPRINTF,
            "bpf_snprintf",
            &[
                Arg::Mem {
                    read_only: false,
                    maybe_null: true,
                },
                Arg::ConstSize { or_zero: true },
                Arg::ConstStr,
                Arg::Mem {
                    read_only: true,
                    maybe_null: true,
                },
                Arg::ConstSize { or_zero: true },
            ],
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        ..proto(
            ids::TIMER_INIT,
            "bpf_timer_init",
            &[Arg::Timer, Arg::ConstMapPtr, Arg::Anything],
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        callback: Some(CallbackArgs::Timer),
        ..proto(
            ids::TIMER_SET_CALLBACK,
            "bpf_timer_set_callback",
            &[Arg::Timer, Arg::Func],
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        ..proto(
            ids::TIMER_START,
            "bpf_timer_start",
            &[Arg::Timer, Arg::Anything, Arg::Anything],
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        ..proto(
            ids::TIMER_CANCEL,
            "bpf_timer_cancel",
            &[Arg::Timer],
            Ret::Integer,
        )
    },
    Proto {
        callback: Some(CallbackArgs::Loop),
        ..proto(
            ids::LOOP,
            "bpf_loop",
            &[Arg::Anything, Arg::Func, Arg::StackOrNull, Arg::Anything],
            Ret::Integer,
        )
    },
    Proto {
        gpl_only: true,
        ..proto(
            ids::PERF_EVENT_OUTPUT,
            "bpf_perf_event_output",
            &[
                Arg::Ctx,
                Arg::ConstMapPtr,
                Arg::Anything,
                READ_MEM,
                Arg::ConstSize { or_zero: true },
            ],
            Ret::Integer,
        )
    },
    // Kfuncs: Linux lets only GPL-compatible programs call kernel
    // functions.
    Proto {
        gpl_only: true,
        ..proto(ids::THROW, "bpf_throw", &[Arg::Anything], Ret::Void)
    },
    Proto {
        gpl_only: true,
        ..proto(ids::PREEMPT_DISABLE, "bpf_preempt_disable", &[], Ret::Void)
    },
    Proto {
        gpl_only: true,
        ..proto(ids::PREEMPT_ENABLE, "bpf_preempt_enable", &[], Ret::Void)
    },
    proto(
        ids::SKB_GET_TUNNEL_KEY,
        "bpf_skb_get_tunnel_key",
        &[Arg::Ctx, FILL_MEM, SIZE, ANY],
        Ret::Integer,
    ),
    proto(
        ids::SKB_SET_TUNNEL_KEY,
        "bpf_skb_set_tunnel_key",
        &[Arg::Ctx, READ_MEM, SIZE, ANY],
        Ret::Integer,
    ),
    // Dynamic pointers: helpers (any license) and kfuncs.
    proto(
        ids::RINGBUF_RESERVE_DYNPTR,
        "bpf_ringbuf_reserve_dynptr",
        &[
            Arg::ConstMapPtr,
            ANY,
            ANY,
            Arg::DynptrUninit(Some(DynptrKind::Ringbuf)),
        ],
        Ret::Integer,
    ),
    proto(
        ids::RINGBUF_SUBMIT_DYNPTR,
        "bpf_ringbuf_submit_dynptr",
        &[Arg::Dynptr, ANY],
        Ret::Void,
    ),
    proto(
        ids::RINGBUF_DISCARD_DYNPTR,
        "bpf_ringbuf_discard_dynptr",
        &[Arg::Dynptr, ANY],
        Ret::Void,
    ),
    proto(
        ids::DYNPTR_DATA,
        "bpf_dynptr_data",
        &[Arg::Dynptr, ANY, Arg::ConstAllocSize],
        Ret::DynptrDataOrNull,
    ),
    proto(
        ids::DYNPTR_READ,
        "bpf_dynptr_read",
        &[FILL_MEM, SIZE_OR_ZERO, Arg::Dynptr, ANY, ANY],
        Ret::Integer,
    ),
    proto(
        ids::DYNPTR_WRITE,
        "bpf_dynptr_write",
        &[Arg::Dynptr, ANY, READ_MEM, SIZE_OR_ZERO, ANY],
        Ret::Integer,
    ),
    kfunc(
        ids::OBJ_NEW,
        "bpf_obj_new_impl",
        &[Arg::ObjTypeId, ANY],
        Ret::ObjectOrNull,
    ),
    kfunc(
        ids::OBJ_DROP,
        "bpf_obj_drop_impl",
        &[Arg::ReleaseObject, ANY],
        Ret::Void,
    ),
    kfunc(
        ids::LIST_PUSH_FRONT,
        "bpf_list_push_front_impl",
        &[Arg::ListHead, Arg::ListNode, ANY, ANY],
        Ret::Integer,
    ),
    kfunc(
        ids::LIST_PUSH_BACK,
        "bpf_list_push_back_impl",
        &[Arg::ListHead, Arg::ListNode, ANY, ANY],
        Ret::Integer,
    ),
    kfunc(
        ids::LIST_POP_FRONT,
        "bpf_list_pop_front",
        &[Arg::ListHead],
        Ret::ListNodeOrNull,
    ),
    kfunc(
        ids::LIST_POP_BACK,
        "bpf_list_pop_back",
        &[Arg::ListHead],
        Ret::ListNodeOrNull,
    ),
    Proto {
        callback: Some(CallbackArgs::RbtreeLess),
        ..kfunc(
            ids::RBTREE_ADD,
            "bpf_rbtree_add_impl",
            &[Arg::RbRoot, Arg::RbNode, Arg::Func, ANY, ANY],
            Ret::Integer,
        )
    },
    kfunc(
        ids::RBTREE_FIRST,
        "bpf_rbtree_first",
        &[Arg::RbRoot],
        Ret::TreeNodeOrNull,
    ),
    kfunc(
        ids::RBTREE_REMOVE,
        "bpf_rbtree_remove",
        &[Arg::RbRoot, Arg::RbNodeInTree],
        Ret::ListNodeOrNull,
    ),
    kfunc(
        ids::REFCOUNT_ACQUIRE,
        "bpf_refcount_acquire_impl",
        &[Arg::RefcountedObject, ANY],
        Ret::AcquiredObject,
    ),
    proto(
        ids::KPTR_XCHG,
        "bpf_kptr_xchg",
        &[Arg::Kptr, Arg::KptrNew],
        Ret::KptrOrNull,
    ),
    kfunc(
        ids::DYNPTR_FROM_SKB,
        "bpf_dynptr_from_skb",
        &[Arg::Ctx, ANY, Arg::DynptrUninit(Some(DynptrKind::Skb))],
        Ret::Integer,
    ),
    kfunc(
        ids::DYNPTR_FROM_XDP,
        "bpf_dynptr_from_xdp",
        &[Arg::Ctx, ANY, Arg::DynptrUninit(Some(DynptrKind::Xdp))],
        Ret::Integer,
    ),
    kfunc(
        ids::DYNPTR_SLICE,
        "bpf_dynptr_slice",
        &[Arg::Dynptr, ANY, Arg::OptBuffer, SIZE],
        Ret::SliceOrNull { writable: false },
    ),
    kfunc(
        ids::DYNPTR_SLICE_RDWR,
        "bpf_dynptr_slice_rdwr",
        &[Arg::Dynptr, ANY, Arg::OptBuffer, SIZE],
        Ret::SliceOrNull { writable: true },
    ),
    kfunc(
        ids::DYNPTR_ADJUST,
        "bpf_dynptr_adjust",
        &[Arg::Dynptr, ANY, ANY],
        Ret::Integer,
    ),
    kfunc(
        ids::DYNPTR_IS_NULL,
        "bpf_dynptr_is_null",
        &[Arg::Dynptr],
        Ret::Integer,
    ),
    kfunc(
        ids::DYNPTR_IS_RDONLY,
        "bpf_dynptr_is_rdonly",
        &[Arg::Dynptr],
        Ret::Integer,
    ),
    kfunc(
        ids::DYNPTR_SIZE,
        "bpf_dynptr_size",
        &[Arg::Dynptr],
        Ret::Integer,
    ),
    kfunc(
        ids::DYNPTR_CLONE,
        "bpf_dynptr_clone",
        &[Arg::Dynptr, Arg::DynptrUninit(None)],
        Ret::Integer,
    ),
];

/// A kfunc's prototype: Linux lets only GPL-compatible programs call
/// kernel functions.
const fn kfunc(id: u32, name: &'static str, args: &'static [Arg], ret: Ret) -> Proto {
    Proto {
        gpl_only: true,
        ..proto(id, name, args, ret)
    }
}

/// The prototype of helper `id`, if the runtime provides it.
pub fn proto_of(id: u32) -> Option<&'static Proto> {
    PROTOS.iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provided_helper_has_exactly_one_prototype() {
        for &id in &ids::ALL {
            assert_eq!(
                PROTOS.iter().filter(|p| p.id == id).count(),
                1,
                "helper {id}"
            );
        }
        assert_eq!(PROTOS.len(), ids::ALL.len());
    }

    #[test]
    fn sizes_follow_the_memory_they_describe() {
        for p in PROTOS {
            for (i, a) in p.args.iter().enumerate() {
                let is_mem = matches!(a, Arg::Mem { .. } | Arg::OptBuffer | Arg::DynptrData);
                let next_is_size = matches!(p.args.get(i + 1), Some(Arg::ConstSize { .. }));
                assert_eq!(is_mem, next_is_size, "{}: argument {}", p.name, i + 1);
            }
            assert!(p.args.len() <= 5, "{}", p.name);
            assert_eq!(
                p.callback.is_some(),
                p.args.contains(&Arg::Func),
                "{}",
                p.name
            );
        }
    }
}
