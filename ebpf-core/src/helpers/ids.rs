//! Linux's helper ids, as `enum bpf_func_id` numbers them, for the helpers
//! this runtime provides.
#![allow(missing_docs)]

pub const MAP_LOOKUP_ELEM: u32 = 1;
pub const MAP_UPDATE_ELEM: u32 = 2;
pub const MAP_DELETE_ELEM: u32 = 3;
pub const KTIME_GET_NS: u32 = 5;
pub const TRACE_PRINTK: u32 = 6;
pub const GET_PRANDOM_U32: u32 = 7;
pub const GET_SMP_PROCESSOR_ID: u32 = 8;
pub const SKB_STORE_BYTES: u32 = 9;
pub const L3_CSUM_REPLACE: u32 = 10;
pub const L4_CSUM_REPLACE: u32 = 11;
pub const TAIL_CALL: u32 = 12;
pub const CLONE_REDIRECT: u32 = 13;
pub const GET_CGROUP_CLASSID: u32 = 17;
pub const SKB_VLAN_PUSH: u32 = 18;
pub const SKB_VLAN_POP: u32 = 19;
pub const REDIRECT: u32 = 23;
pub const PERF_EVENT_OUTPUT: u32 = 25;
pub const SKB_LOAD_BYTES: u32 = 26;
pub const SKB_CHANGE_PROTO: u32 = 31;
pub const SKB_CHANGE_TYPE: u32 = 32;
pub const SKB_CHANGE_TAIL: u32 = 38;
pub const SKB_PULL_DATA: u32 = 39;
pub const SKB_CHANGE_HEAD: u32 = 43;
pub const XDP_ADJUST_HEAD: u32 = 44;
pub const XDP_ADJUST_META: u32 = 54;
pub const XDP_ADJUST_TAIL: u32 = 65;
pub const CSUM_DIFF: u32 = 28;
pub const GET_HASH_RECALC: u32 = 34;
pub const CSUM_UPDATE: u32 = 40;
pub const SET_HASH_INVALID: u32 = 41;
pub const SET_HASH: u32 = 48;
pub const SKB_ADJUST_ROOM: u32 = 50;
pub const REDIRECT_MAP: u32 = 51;
pub const SKB_LOAD_BYTES_RELATIVE: u32 = 68;
pub const CSUM_LEVEL: u32 = 135;
pub const REDIRECT_NEIGH: u32 = 152;
pub const REDIRECT_PEER: u32 = 155;
pub const CHECK_MTU: u32 = 163;
pub const XDP_GET_BUFF_LEN: u32 = 188;
pub const XDP_LOAD_BYTES: u32 = 189;
pub const XDP_STORE_BYTES: u32 = 190;
pub const SKB_SET_TSTAMP: u32 = 192;
pub const GET_NUMA_NODE_ID: u32 = 42;
pub const MAP_PUSH_ELEM: u32 = 87;
pub const MAP_POP_ELEM: u32 = 88;
pub const MAP_PEEK_ELEM: u32 = 89;
pub const SPIN_LOCK: u32 = 93;
pub const SPIN_UNLOCK: u32 = 94;
pub const JIFFIES64: u32 = 118;
pub const KTIME_GET_BOOT_NS: u32 = 125;
pub const RINGBUF_OUTPUT: u32 = 130;
pub const RINGBUF_RESERVE: u32 = 131;
pub const RINGBUF_SUBMIT: u32 = 132;
pub const RINGBUF_DISCARD: u32 = 133;
pub const RINGBUF_QUERY: u32 = 134;
pub const KTIME_GET_COARSE_NS: u32 = 160;
pub const FOR_EACH_MAP_ELEM: u32 = 164;
pub const SNPRINTF: u32 = 165;
pub const LOOP: u32 = 181;
pub const SKB_GET_TUNNEL_KEY: u32 = 20;
pub const SKB_SET_TUNNEL_KEY: u32 = 21;
pub const RINGBUF_RESERVE_DYNPTR: u32 = 198;
pub const RINGBUF_SUBMIT_DYNPTR: u32 = 199;
pub const RINGBUF_DISCARD_DYNPTR: u32 = 200;
pub const DYNPTR_READ: u32 = 201;
pub const DYNPTR_WRITE: u32 = 202;
pub const DYNPTR_DATA: u32 = 203;
pub const KTIME_GET_TAI_NS: u32 = 208;
pub const SK_LOOKUP_TCP: u32 = 84;
pub const SK_LOOKUP_UDP: u32 = 85;
pub const SK_RELEASE: u32 = 86;
pub const SK_FULLSOCK: u32 = 95;
pub const TCP_SOCK: u32 = 96;
pub const GET_LISTENER_SOCK: u32 = 98;
pub const SKC_LOOKUP_TCP: u32 = 99;
pub const TCP_CHECK_SYNCOOKIE: u32 = 100;
pub const TCP_GEN_SYNCOOKIE: u32 = 110;
pub const SK_ASSIGN: u32 = 124;
pub const GET_ROUTE_REALM: u32 = 24;
pub const SKB_GET_XFRM_STATE: u32 = 66;
pub const SKB_ECN_SET_CE: u32 = 97;
pub const STRTOL: u32 = 105;
pub const STRTOUL: u32 = 106;
pub const SKB_CGROUP_CLASSID: u32 = 151;
pub const TIMER_INIT: u32 = 169;
pub const TIMER_SET_CALLBACK: u32 = 170;
pub const TIMER_START: u32 = 171;
pub const TIMER_CANCEL: u32 = 172;
pub const TRACE_VPRINTK: u32 = 177;
pub const STRNCMP: u32 = 182;
pub const MAP_LOOKUP_PERCPU_ELEM: u32 = 195;
pub const KPTR_XCHG: u32 = 194;
pub const DYNPTR_FROM_MEM: u32 = 197;
pub const TCP_RAW_GEN_SYNCOOKIE_IPV4: u32 = 204;
pub const TCP_RAW_GEN_SYNCOOKIE_IPV6: u32 = 205;
pub const TCP_RAW_CHECK_SYNCOOKIE_IPV4: u32 = 206;
pub const TCP_RAW_CHECK_SYNCOOKIE_IPV6: u32 = 207;

/// Where the helper table serves kfuncs: `KFUNC_BASE` plus the kfunc's id
/// (see [`kfunc`](super::kfunc)). Programs name kfuncs by `BPF_PSEUDO_KFUNC_CALL`
/// only; a helper call with one of these ids is refused at load.
pub const KFUNC_BASE: u32 = 0x4000_0000;
pub const THROW: u32 = KFUNC_BASE + super::kfunc::THROW;
pub const PREEMPT_DISABLE: u32 = KFUNC_BASE + super::kfunc::PREEMPT_DISABLE;
pub const PREEMPT_ENABLE: u32 = KFUNC_BASE + super::kfunc::PREEMPT_ENABLE;
pub const DYNPTR_FROM_SKB: u32 = KFUNC_BASE + super::kfunc::DYNPTR_FROM_SKB;
pub const DYNPTR_FROM_XDP: u32 = KFUNC_BASE + super::kfunc::DYNPTR_FROM_XDP;
pub const DYNPTR_SLICE: u32 = KFUNC_BASE + super::kfunc::DYNPTR_SLICE;
pub const DYNPTR_SLICE_RDWR: u32 = KFUNC_BASE + super::kfunc::DYNPTR_SLICE_RDWR;
pub const DYNPTR_ADJUST: u32 = KFUNC_BASE + super::kfunc::DYNPTR_ADJUST;
pub const DYNPTR_IS_NULL: u32 = KFUNC_BASE + super::kfunc::DYNPTR_IS_NULL;
pub const DYNPTR_IS_RDONLY: u32 = KFUNC_BASE + super::kfunc::DYNPTR_IS_RDONLY;
pub const DYNPTR_SIZE: u32 = KFUNC_BASE + super::kfunc::DYNPTR_SIZE;
pub const DYNPTR_CLONE: u32 = KFUNC_BASE + super::kfunc::DYNPTR_CLONE;
pub const OBJ_NEW: u32 = KFUNC_BASE + super::kfunc::OBJ_NEW;
pub const OBJ_DROP: u32 = KFUNC_BASE + super::kfunc::OBJ_DROP;
pub const LIST_PUSH_FRONT: u32 = KFUNC_BASE + super::kfunc::LIST_PUSH_FRONT;
pub const LIST_PUSH_BACK: u32 = KFUNC_BASE + super::kfunc::LIST_PUSH_BACK;
pub const LIST_POP_FRONT: u32 = KFUNC_BASE + super::kfunc::LIST_POP_FRONT;
pub const LIST_POP_BACK: u32 = KFUNC_BASE + super::kfunc::LIST_POP_BACK;
pub const RBTREE_ADD: u32 = KFUNC_BASE + super::kfunc::RBTREE_ADD;
pub const RBTREE_FIRST: u32 = KFUNC_BASE + super::kfunc::RBTREE_FIRST;
pub const RBTREE_REMOVE: u32 = KFUNC_BASE + super::kfunc::RBTREE_REMOVE;
pub const REFCOUNT_ACQUIRE: u32 = KFUNC_BASE + super::kfunc::REFCOUNT_ACQUIRE;

/// The object graph's kfuncs and helpers: for verified programs only.
pub const GRAPH: &[u32] = &[
    KPTR_XCHG,
    REFCOUNT_ACQUIRE,
    OBJ_NEW,
    OBJ_DROP,
    LIST_PUSH_FRONT,
    LIST_PUSH_BACK,
    LIST_POP_FRONT,
    LIST_POP_BACK,
    RBTREE_ADD,
    RBTREE_FIRST,
    RBTREE_REMOVE,
];

/// Every helper the runtime provides (each has a prototype in
/// [`proto`](super::proto)).
/// What every program type may call: maps, time, randomness, printing,
/// ring buffers, loops, tail calls, and the kfuncs.
pub const BASE: &[u32] = &[
    MAP_LOOKUP_ELEM,
    MAP_UPDATE_ELEM,
    MAP_DELETE_ELEM,
    KTIME_GET_NS,
    TRACE_PRINTK,
    GET_PRANDOM_U32,
    GET_SMP_PROCESSOR_ID,
    TAIL_CALL,
    GET_NUMA_NODE_ID,
    MAP_PUSH_ELEM,
    MAP_POP_ELEM,
    MAP_PEEK_ELEM,
    SPIN_LOCK,
    SPIN_UNLOCK,
    JIFFIES64,
    KTIME_GET_BOOT_NS,
    RINGBUF_OUTPUT,
    RINGBUF_RESERVE,
    RINGBUF_SUBMIT,
    RINGBUF_DISCARD,
    RINGBUF_QUERY,
    KTIME_GET_COARSE_NS,
    KTIME_GET_TAI_NS,
    FOR_EACH_MAP_ELEM,
    SNPRINTF,
    LOOP,
    MAP_LOOKUP_PERCPU_ELEM,
    STRNCMP,
    STRTOL,
    STRTOUL,
    TRACE_VPRINTK,
    THROW,
    PREEMPT_DISABLE,
    PREEMPT_ENABLE,
    // Timers in map values.
    TIMER_INIT,
    TIMER_SET_CALLBACK,
    TIMER_START,
    TIMER_CANCEL,
    // Dynamic pointers: ring buffer records, and what any dynptr takes.
    DYNPTR_FROM_MEM,
    RINGBUF_RESERVE_DYNPTR,
    RINGBUF_SUBMIT_DYNPTR,
    RINGBUF_DISCARD_DYNPTR,
    DYNPTR_DATA,
    DYNPTR_READ,
    DYNPTR_WRITE,
    DYNPTR_SLICE,
    DYNPTR_ADJUST,
    DYNPTR_IS_NULL,
    DYNPTR_IS_RDONLY,
    DYNPTR_SIZE,
    DYNPTR_CLONE,
    // Objects and lists of them.
    OBJ_NEW,
    OBJ_DROP,
    LIST_PUSH_FRONT,
    LIST_PUSH_BACK,
    LIST_POP_FRONT,
    LIST_POP_BACK,
    RBTREE_ADD,
    RBTREE_FIRST,
    RBTREE_REMOVE,
    REFCOUNT_ACQUIRE,
    KPTR_XCHG,
];

/// The timer helpers: for verified programs only (they trust the timer
/// pointer, and a timer's callback runs outside any caller's checks).
pub const TIMERS: &[u32] = &[TIMER_INIT, TIMER_SET_CALLBACK, TIMER_START, TIMER_CANCEL];

/// What socket filters add: reading the packet (also through a dynamic
/// pointer, read-only for them).
pub const SOCKET_FILTER: &[u32] = &[
    SKB_LOAD_BYTES,
    SKB_LOAD_BYTES_RELATIVE,
    PERF_EVENT_OUTPUT,
    DYNPTR_FROM_SKB,
];

/// What tc programs add: reading and writing the packet, resizing it
/// (head, tail, room, protocol), checksums, the flow hash, VLAN tags, the
/// timestamp, redirects, the MTU, tunnel metadata, dynamic pointers,
/// socket lookups, SYN cookies.
pub const SCHED_CLS: &[u32] =
    &union::<{ SCHED_CLS_OWN.len() + SOCKETS.len() }>(SCHED_CLS_OWN, SOCKETS);

/// What tc programs add besides the socket helpers.
const SCHED_CLS_OWN: &[u32] = &[
    SKB_STORE_BYTES,
    PERF_EVENT_OUTPUT,
    L3_CSUM_REPLACE,
    L4_CSUM_REPLACE,
    GET_CGROUP_CLASSID,
    SKB_VLAN_PUSH,
    SKB_VLAN_POP,
    REDIRECT,
    SKB_LOAD_BYTES,
    CSUM_DIFF,
    GET_HASH_RECALC,
    CSUM_UPDATE,
    SET_HASH_INVALID,
    SET_HASH,
    SKB_LOAD_BYTES_RELATIVE,
    CSUM_LEVEL,
    CHECK_MTU,
    SKB_CHANGE_TYPE,
    SKB_CHANGE_TAIL,
    SKB_PULL_DATA,
    SKB_CHANGE_HEAD,
    SKB_CHANGE_PROTO,
    SKB_ADJUST_ROOM,
    SKB_SET_TSTAMP,
    CLONE_REDIRECT,
    REDIRECT_NEIGH,
    REDIRECT_PEER,
    SKB_GET_TUNNEL_KEY,
    SKB_SET_TUNNEL_KEY,
    DYNPTR_FROM_SKB,
    DYNPTR_SLICE_RDWR,
    SKB_ECN_SET_CE,
    GET_ROUTE_REALM,
    SKB_CGROUP_CLASSID,
    SKB_GET_XFRM_STATE,
    TCP_RAW_GEN_SYNCOOKIE_IPV4,
    TCP_RAW_GEN_SYNCOOKIE_IPV6,
    TCP_RAW_CHECK_SYNCOOKIE_IPV4,
    TCP_RAW_CHECK_SYNCOOKIE_IPV6,
];

/// What XDP programs add: the packet through helpers, checksums,
/// redirects, the MTU, dynamic pointers, socket lookups, SYN cookies.
pub const XDP: &[u32] = &[
    REDIRECT,
    PERF_EVENT_OUTPUT,
    REDIRECT_MAP,
    CSUM_DIFF,
    CHECK_MTU,
    XDP_GET_BUFF_LEN,
    XDP_LOAD_BYTES,
    XDP_STORE_BYTES,
    XDP_ADJUST_HEAD,
    XDP_ADJUST_META,
    XDP_ADJUST_TAIL,
    DYNPTR_FROM_XDP,
    DYNPTR_SLICE_RDWR,
    SK_LOOKUP_TCP,
    SK_LOOKUP_UDP,
    SKC_LOOKUP_TCP,
    SK_RELEASE,
    TCP_CHECK_SYNCOOKIE,
    TCP_GEN_SYNCOOKIE,
    TCP_RAW_GEN_SYNCOOKIE_IPV4,
    TCP_RAW_GEN_SYNCOOKIE_IPV6,
    TCP_RAW_CHECK_SYNCOOKIE_IPV4,
    TCP_RAW_CHECK_SYNCOOKIE_IPV6,
];

/// The helpers that look sockets up or take one: a platform provides them
/// only where its programs' network is one whose sockets the runtime sees
/// ([`Platform::socket_lookups`](crate::platform::Platform::socket_lookups)).
pub const SOCKETS: &[u32] = &[
    SK_LOOKUP_TCP,
    SK_LOOKUP_UDP,
    SKC_LOOKUP_TCP,
    SK_RELEASE,
    SK_FULLSOCK,
    TCP_SOCK,
    GET_LISTENER_SOCK,
    TCP_CHECK_SYNCOOKIE,
    TCP_GEN_SYNCOOKIE,
    SK_ASSIGN,
];

/// `BASE` followed by `extra`, for a program type's list.
pub const fn with_base<const N: usize>(extra: &[u32]) -> [u32; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < BASE.len() {
        out[i] = BASE[i];
        i += 1;
    }
    while i < N {
        out[i] = extra[i - BASE.len()];
        i += 1;
    }
    out
}

/// Every helper the runtime provides, to some program type: the base,
/// tc's, and XDP's that tc does not have.
pub const ALL: [u32; BASE.len() + SCHED_CLS.len() + XDP_ONLY] =
    with_base(&union::<{ SCHED_CLS.len() + XDP_ONLY }>(SCHED_CLS, XDP));

/// How many of XDP's helpers tc does not have.
const XDP_ONLY: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < XDP.len() {
        if !contains(SCHED_CLS, XDP[i]) {
            n += 1;
        }
        i += 1;
    }
    n
};

const fn contains(list: &[u32], id: u32) -> bool {
    let mut i = 0;
    while i < list.len() {
        if list[i] == id {
            return true;
        }
        i += 1;
    }
    false
}

/// `a`, then what `b` has that `a` does not.
const fn union<const N: usize>(a: &[u32], b: &[u32]) -> [u32; N] {
    let mut out = [0; N];
    let mut n = 0;
    while n < a.len() {
        out[n] = a[n];
        n += 1;
    }
    let mut i = 0;
    while i < b.len() {
        if !contains(a, b[i]) {
            out[n] = b[i];
            n += 1;
        }
        i += 1;
    }
    out
}

/// Linux helpers this runtime does not provide because they reach into
/// the Linux kernel itself: (id, name, what they need).
pub const LINUX_ONLY: &[(u32, &str, &str)] = &[
    (4, "bpf_probe_read", "kernel memory"),
    (14, "bpf_get_current_pid_tgid", "tasks"),
    (15, "bpf_get_current_uid_gid", "tasks"),
    (16, "bpf_get_current_comm", "tasks"),
    (22, "bpf_perf_event_read", "perf events"),
    (27, "bpf_get_stackid", "stack traces"),
    (29, "bpf_skb_get_tunnel_opt", "tunnel devices"),
    (30, "bpf_skb_set_tunnel_opt", "tunnel devices"),
    (35, "bpf_get_current_task", "tasks"),
    (46, "bpf_get_socket_cookie", "sockets"),
    (47, "bpf_get_socket_uid", "sockets"),
    (52, "bpf_sk_redirect_map", "sockets"),
    (53, "bpf_sock_map_update", "sockets"),
    (67, "bpf_get_stack", "stack traces"),
    (69, "bpf_fib_lookup", "routing tables"),
    (70, "bpf_sock_hash_update", "sockets"),
    (112, "bpf_probe_read_kernel", "kernel memory"),
    (113, "bpf_probe_read_kernel_str", "kernel memory"),
];
