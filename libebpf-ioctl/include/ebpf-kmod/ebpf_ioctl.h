/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * The /dev/ebpf ioctl ABI of ebpf-kmod, for C programs (docs/abi.md says
 * what each command does). The same structs as ebpf-core/src/abi.rs;
 * libebpf-ioctl/tests/c_header.rs compiles this header and checks every
 * size, offset and request number against them.
 *
 *   int fd = open("/dev/ebpf", O_RDWR);
 *   struct ebpf_version_req v = {0};
 *   struct ebpf_ioctl_arg arg = { .request = (__u64)(uintptr_t)&v, .size = sizeof(v) };
 *   ioctl(fd, EBPF_IOC_VERSION, &arg);
 */
#ifndef EBPF_KMOD_EBPF_IOCTL_H
#define EBPF_KMOD_EBPF_IOCTL_H

#include <stdint.h>
#include <sys/ioctl.h>

#define EBPF_ABI_VERSION 1
#define EBPF_OBJ_NAME_LEN 16
#define EBPF_PIN_NAME_LEN 64
/* prog_flags: admit a program the verifier rejects, with run-time checks. */
#define EBPF_F_CHECKED (1u << 31)
/* prog_info.flags: the verifier accepted the program. */
#define EBPF_PROG_INFO_VERIFIED 1u
#define EBPF_PROG_INFO_JITED 2u
/* expected_attach_type of PROG_LOAD (Linux's numbers) */
#define EBPF_ATTACH_XDP_DEVMAP 33u
#define EBPF_ATTACH_XDP_CPUMAP 35u
#define EBPF_ATTACH_XDP 37u
/* kfunc ids: imm of calls with src_reg BPF_PSEUDO_KFUNC_CALL (2) */
#define EBPF_KFUNC_THROW 1
#define EBPF_KFUNC_PREEMPT_DISABLE 2
#define EBPF_KFUNC_PREEMPT_ENABLE 3
#define EBPF_KFUNC_DYNPTR_FROM_SKB 4
#define EBPF_KFUNC_DYNPTR_FROM_XDP 5
#define EBPF_KFUNC_DYNPTR_SLICE 6
#define EBPF_KFUNC_DYNPTR_SLICE_RDWR 7
#define EBPF_KFUNC_DYNPTR_ADJUST 8
#define EBPF_KFUNC_DYNPTR_IS_NULL 9
#define EBPF_KFUNC_DYNPTR_IS_RDONLY 10
#define EBPF_KFUNC_DYNPTR_SIZE 11
#define EBPF_KFUNC_DYNPTR_CLONE 12
#define EBPF_KFUNC_OBJ_NEW_IMPL 13
#define EBPF_KFUNC_OBJ_DROP_IMPL 14
#define EBPF_KFUNC_LIST_PUSH_FRONT_IMPL 15
#define EBPF_KFUNC_LIST_PUSH_BACK_IMPL 16
#define EBPF_KFUNC_LIST_POP_FRONT 17
#define EBPF_KFUNC_LIST_POP_BACK 18
#define EBPF_KFUNC_RBTREE_ADD_IMPL 19
#define EBPF_KFUNC_RBTREE_FIRST 20
#define EBPF_KFUNC_RBTREE_REMOVE 21
#define EBPF_KFUNC_REFCOUNT_ACQUIRE_IMPL 22

/* The one ioctl argument: where the command's request struct is. */
struct ebpf_ioctl_arg {
	uint64_t request;	/* user address of the request struct */
	uint32_t size;		/* its size as the caller knows it */
	uint32_t reserved;	/* 0 */
};

/* Command numbers; the request is _IOWR('E', nr, struct ebpf_ioctl_arg). */
enum ebpf_cmd {
	EBPF_VERSION = 0,
	EBPF_MAP_CREATE = 1,
	EBPF_MAP_LOOKUP_ELEM = 2,
	EBPF_MAP_UPDATE_ELEM = 3,
	EBPF_MAP_DELETE_ELEM = 4,
	EBPF_MAP_GET_NEXT_KEY = 5,
	EBPF_MAP_LOOKUP_AND_DELETE_ELEM = 6,
	EBPF_MAP_LOOKUP_BATCH = 7,
	EBPF_MAP_UPDATE_BATCH = 8,
	EBPF_MAP_DELETE_BATCH = 9,
	EBPF_PROG_LOAD = 10,
	EBPF_PROG_TEST_RUN = 11,
	EBPF_OBJ_PIN = 12,
	EBPF_OBJ_GET = 13,
	EBPF_OBJ_CLOSE = 14,
	EBPF_OBJ_GET_INFO = 15,
	EBPF_GET_NEXT_ID = 16,
	EBPF_GET_HANDLE_BY_ID = 17,
	EBPF_RINGBUF_CONSUME = 18,
	EBPF_LINK_CREATE = 19,
	EBPF_LINK_DETACH = 20,	/* struct ebpf_obj_close_req: the link */
};

#define EBPF_IOC(nr) _IOWR('E', (nr), struct ebpf_ioctl_arg)
#define EBPF_IOC_VERSION EBPF_IOC(EBPF_VERSION)
#define EBPF_IOC_MAP_CREATE EBPF_IOC(EBPF_MAP_CREATE)
#define EBPF_IOC_MAP_LOOKUP_ELEM EBPF_IOC(EBPF_MAP_LOOKUP_ELEM)
#define EBPF_IOC_MAP_UPDATE_ELEM EBPF_IOC(EBPF_MAP_UPDATE_ELEM)
#define EBPF_IOC_MAP_DELETE_ELEM EBPF_IOC(EBPF_MAP_DELETE_ELEM)
#define EBPF_IOC_MAP_GET_NEXT_KEY EBPF_IOC(EBPF_MAP_GET_NEXT_KEY)
#define EBPF_IOC_MAP_LOOKUP_AND_DELETE_ELEM EBPF_IOC(EBPF_MAP_LOOKUP_AND_DELETE_ELEM)
#define EBPF_IOC_MAP_LOOKUP_BATCH EBPF_IOC(EBPF_MAP_LOOKUP_BATCH)
#define EBPF_IOC_MAP_UPDATE_BATCH EBPF_IOC(EBPF_MAP_UPDATE_BATCH)
#define EBPF_IOC_MAP_DELETE_BATCH EBPF_IOC(EBPF_MAP_DELETE_BATCH)
#define EBPF_IOC_PROG_LOAD EBPF_IOC(EBPF_PROG_LOAD)
#define EBPF_IOC_PROG_TEST_RUN EBPF_IOC(EBPF_PROG_TEST_RUN)
#define EBPF_IOC_OBJ_PIN EBPF_IOC(EBPF_OBJ_PIN)
#define EBPF_IOC_OBJ_GET EBPF_IOC(EBPF_OBJ_GET)
#define EBPF_IOC_OBJ_CLOSE EBPF_IOC(EBPF_OBJ_CLOSE)
#define EBPF_IOC_OBJ_GET_INFO EBPF_IOC(EBPF_OBJ_GET_INFO)
#define EBPF_IOC_GET_NEXT_ID EBPF_IOC(EBPF_GET_NEXT_ID)
#define EBPF_IOC_GET_HANDLE_BY_ID EBPF_IOC(EBPF_GET_HANDLE_BY_ID)
#define EBPF_IOC_RINGBUF_CONSUME EBPF_IOC(EBPF_RINGBUF_CONSUME)
#define EBPF_IOC_LINK_CREATE EBPF_IOC(EBPF_LINK_CREATE)
#define EBPF_IOC_LINK_DETACH EBPF_IOC(EBPF_LINK_DETACH)

struct ebpf_version_req {
	uint32_t abi_version, commands, possible_cpus, reserved;
	char version[32];
};

struct ebpf_map_create_req {
	uint32_t map_type, key_size, value_size, max_entries, map_flags;
	uint32_t inner_map_handle;		/* map-in-map template, else 0 */
	uint32_t spin_lock_offset_plus_one;	/* bpf_spin_lock offset + 1, else 0 */
	uint32_t map_extra;			/* bloom filter: hash functions (0: 5) */
	char name[EBPF_OBJ_NAME_LEN];
	uint32_t handle, id;			/* out */
	uint64_t value_fields;			/* struct ebpf_obj_field[nr_value_fields], or 0 */
	uint32_t nr_value_fields, nr_obj_types;
	uint64_t obj_types;			/* struct ebpf_obj_type[nr_obj_types], or 0 */
};

/* A special field of a map value or object type (bpf_spin_lock, lists,
 * trees, kptrs, reference counts). */
#define EBPF_FIELD_SPIN_LOCK 1u
#define EBPF_FIELD_LIST_HEAD 2u
#define EBPF_FIELD_LIST_NODE 3u
#define EBPF_FIELD_RB_ROOT 4u
#define EBPF_FIELD_RB_NODE 5u
#define EBPF_FIELD_KPTR 6u
#define EBPF_FIELD_REFCOUNT 7u
#define EBPF_FIELD_TIMER 8u
#define EBPF_MAX_OBJ_FIELDS 10
struct ebpf_obj_field {
	uint32_t kind, offset;
	uint32_t contains;			/* list head, tree root, kptr: BTF id of the type held */
	uint32_t node_offset;			/* list head, tree root: its node's offset */
};

/* An object type of the program's BTF (bpf_obj_new, lists). */
struct ebpf_obj_type {
	char name[EBPF_OBJ_NAME_LEN];
	uint32_t btf_id, size, nr_fields, reserved;
	struct ebpf_obj_field fields[EBPF_MAX_OBJ_FIELDS];
};

struct ebpf_map_elem_req {
	uint32_t handle, reserved;
	uint64_t key, value, flags;
};

struct ebpf_map_batch_req {
	uint32_t handle, count;
	uint64_t in_batch, out_batch;
	uint64_t keys, values;
	uint64_t elem_flags, flags;
};

struct ebpf_prog_load_req {
	uint32_t prog_type, insn_cnt;
	uint64_t insns, license;
	uint32_t log_level, log_size;
	uint64_t log_buf;
	uint64_t map_handles;
	uint32_t map_count, prog_flags;
	char name[EBPF_OBJ_NAME_LEN];
	uint32_t handle, id, log_true_size;
	uint32_t expected_attach_type;		/* EBPF_ATTACH_XDP_DEVMAP, ... or 0 */
	uint32_t exception_cb;			/* 1 + first insn of its exception callback, or 0 */
	uint32_t nr_obj_types;
	uint64_t obj_types;			/* struct ebpf_obj_type[nr_obj_types], or 0 */
};

struct ebpf_test_run_req {
	uint32_t handle, retval;
	uint32_t data_size_in, data_size_out;
	uint64_t data_in, data_out;
	uint32_t ctx_size_in, ctx_size_out;
	uint64_t ctx_in, ctx_out;
	uint32_t repeat, duration;
	uint32_t flags, reserved;
};

struct ebpf_obj_pin_req {
	uint32_t handle, kind;			/* kind out (OBJ_GET): 1 map, 2 program, 3 link */
	char name[EBPF_PIN_NAME_LEN];
};

struct ebpf_obj_close_req {
	uint32_t handle, reserved;
};

struct ebpf_get_info_req {
	uint32_t handle, info_len;
	uint64_t info;
};

struct ebpf_map_info {
	uint32_t map_type, id, key_size, value_size, max_entries, map_flags;
	char name[EBPF_OBJ_NAME_LEN];
	uint64_t memory_bytes;
};

struct ebpf_prog_info {
	uint32_t prog_type, id, insn_cnt, map_count;
	char name[EBPF_OBJ_NAME_LEN];
	uint64_t load_time_ns, run_cnt, run_time_ns;
	uint32_t xlated_len, flags;	/* flags out: EBPF_PROG_INFO_VERIFIED, _JITED */
	uint64_t xlated_insns;
	uint32_t jited_len, reserved;
};

struct ebpf_id_req {
	uint32_t kind, id, next_id, handle;
};

struct ebpf_ringbuf_consume_req {
	uint32_t handle, buf_len;
	uint64_t buf;
	uint32_t records;
	uint32_t index;				/* slot of a perf event array */
	uint64_t lost;				/* out: records the slot lost */
};

/* Links: an XDP program on an interface's traffic. */
#define EBPF_OBJ_LINK 3		/* kind of ebpf_id_req and ebpf_obj_pin_req */
#define EBPF_LINK_INGRESS 0
#define EBPF_LINK_EGRESS 1
#define EBPF_LINK_F_REPLACE 1u	/* take the place of the link already there */
#define EBPF_LINK_TYPE_NETDEV 1
#define EBPF_IFNAME_LEN 16

struct ebpf_link_create_req {
	uint32_t prog_handle;
	uint32_t ifindex;		/* or 0, and the name in ifname */
	char ifname[EBPF_IFNAME_LEN];
	uint32_t direction;		/* EBPF_LINK_INGRESS or _EGRESS */
	uint32_t flags;			/* EBPF_LINK_F_REPLACE or 0 */
	uint32_t link_handle;		/* out */
	uint32_t ifindex_out;		/* out */
};

struct ebpf_link_info {
	uint32_t link_type, id, prog_id;
	uint32_t ifindex;		/* 0 once detached */
	uint32_t direction, attached_ifindex;
	uint64_t verdicts[5];		/* frames: aborted, drop, pass, tx, redirect */
};

#endif
