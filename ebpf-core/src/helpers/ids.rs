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
pub const TAIL_CALL: u32 = 12;
pub const GET_NUMA_NODE_ID: u32 = 42;
pub const MAP_PUSH_ELEM: u32 = 87;
pub const MAP_POP_ELEM: u32 = 88;
pub const MAP_PEEK_ELEM: u32 = 89;
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

/// Every helper the runtime provides (each has a prototype in
/// [`proto`](super::proto)).
pub const ALL: &[u32] = &[
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
    JIFFIES64,
    KTIME_GET_BOOT_NS,
    RINGBUF_OUTPUT,
    RINGBUF_RESERVE,
    RINGBUF_SUBMIT,
    RINGBUF_DISCARD,
    RINGBUF_QUERY,
    KTIME_GET_COARSE_NS,
    FOR_EACH_MAP_ELEM,
    SNPRINTF,
    LOOP,
];
