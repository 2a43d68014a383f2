// SPDX-License-Identifier: GPL-2.0
/* Test object: timers in map values (struct bpf_timer): their rules as a
 * run sees them, callbacks of array and hash elements (the callback's key,
 * a callback deleting its own element, one re-arming its timer, one
 * cancelling its own timer), and an update freeing a timer. Each program
 * returns what the host kernel returns. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define CLOCK_MONOTONIC 1
#define CLOCK_BOOTTIME 7
#define SECOND 1000000000ull

struct elem {
	__u64 fired;
	__u64 last_key;
	struct bpf_timer t;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct elem);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct elem);
} by_key SEC(".maps");

/* What callbacks saw: their own cancel, a deleted element's key. */
long self_cancel;
__u64 hash_fired_key;

/* A helper's result as one octal digit, without a branch (so that the
 * verifier sees one path): 0 gives 1, 1 gives 2, -EINVAL 0, -EBUSY 6. */
static __u32 code(long r)
{
	return (__u64)(r + 64) % 7;
}

static int count(void *map, __u32 *key, struct elem *e)
{
	e->fired++;
	e->last_key = *key;
	self_cancel = bpf_timer_cancel(&e->t);
	return 0;
}

static int again(void *map, __u32 *key, struct elem *e)
{
	if (++e->fired < 3)
		bpf_timer_start(&e->t, 1000, 0);
	return 0;
}

static int forget(void *map, __u32 *key, struct elem *e)
{
	hash_fired_key = *key;
	bpf_map_delete_elem(map, key);
	return 0;
}

static int tick(void *map, __u32 *key, struct elem *e)
{
	e->fired++;
	bpf_timer_start(&e->t, 0, 0);
	return 0;
}

static long nothing(__u64 i, void *ctx)
{
	return 0;
}

/* A callback that takes a while (2^18 loop steps), then re-arms. */
static int slow_tick(void *map, __u32 *key, struct elem *e)
{
	bpf_loop(1 << 18, nothing, 0, 0);
	e->fired++;
	bpf_timer_start(&e->t, 0, 0);
	return 0;
}

static struct elem *slot(__u32 k)
{
	return bpf_map_lookup_elem(&slots, &k);
}

/* The rules, without waiting for anything: ten results, an octal digit
 * each (the first run initialises the timer, later runs find it so). */
SEC("tc")
int rules(struct __sk_buff *skb)
{
	struct elem *e = slot(1);
	__u32 r = 0;

	if (!e)
		return -1;
	r = r * 8 + code(bpf_timer_start(&e->t, 0, 0));
	r = r * 8 + code(bpf_timer_init(&e->t, &slots, CLOCK_MONOTONIC));
	r = r * 8 + code(bpf_timer_init(&e->t, &slots, CLOCK_MONOTONIC));
	r = r * 8 + code(bpf_timer_init(&e->t, &slots, 3));
	r = r * 8 + code(bpf_timer_start(&e->t, SECOND, 0));
	r = r * 8 + code(bpf_timer_set_callback(&e->t, count));
	r = r * 8 + code(bpf_timer_start(&e->t, 10 * SECOND, 4));
	r = r * 8 + code(bpf_timer_start(&e->t, 10 * SECOND, 0));
	r = r * 8 + code(bpf_timer_cancel(&e->t));
	r = r * 8 + code(bpf_timer_cancel(&e->t));
	return r;
}

/* Slot 0 fires in a microsecond: the callback counts, notes its key and
 * tries to cancel its own timer. */
SEC("tc")
int arm(struct __sk_buff *skb)
{
	struct elem *e = slot(0);

	if (!e)
		return -1;
	bpf_timer_init(&e->t, &slots, CLOCK_BOOTTIME);
	bpf_timer_set_callback(&e->t, count);
	return bpf_timer_start(&e->t, 1000, 0);
}

/* Slot 2's callback re-arms its timer until it has fired three times. */
SEC("tc")
int periodic(struct __sk_buff *skb)
{
	struct elem *e = slot(2);

	if (!e)
		return -1;
	bpf_timer_init(&e->t, &slots, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, again);
	return bpf_timer_start(&e->t, 1000, 0);
}

/* Slot 3 would fire in ten seconds. */
SEC("tc")
int arm_late(struct __sk_buff *skb)
{
	struct elem *e = slot(3);

	if (!e)
		return -1;
	bpf_timer_init(&e->t, &slots, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, count);
	return bpf_timer_start(&e->t, 10 * SECOND, 0);
}

/* 1 while slot 3's timer is armed (and cancels it), -EINVAL once an update
 * freed it. */
SEC("tc")
int cancel_late(struct __sk_buff *skb)
{
	struct elem *e = slot(3);

	if (!e)
		return -1;
	return bpf_timer_cancel(&e->t);
}

/* Slot 1's callback re-arms its timer at once, for ever. */
SEC("tc")
int forever(struct __sk_buff *skb)
{
	struct elem *e = slot(1);

	if (!e)
		return -1;
	bpf_timer_init(&e->t, &slots, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, tick);
	return bpf_timer_start(&e->t, 0, 0);
}

/* Slot 1's timer with the slow callback. */
SEC("tc")
int forever_slow(struct __sk_buff *skb)
{
	struct elem *e = slot(1);

	if (!e)
		return -1;
	bpf_timer_init(&e->t, &slots, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, slow_tick);
	return bpf_timer_start(&e->t, 0, 0);
}

/* Cancels slot 1's timer. */
SEC("tc")
int stop(struct __sk_buff *skb)
{
	struct elem *e = slot(1);

	if (!e)
		return -1;
	return bpf_timer_cancel(&e->t);
}

/* Initialises slot 3's timer: -EBUSY once it is, -EPERM once the map's
 * last user reference (handle or pin) is gone. */
SEC("tc")
int init_late(struct __sk_buff *skb)
{
	struct elem *e = slot(3);

	if (!e)
		return -1;
	return bpf_timer_init(&e->t, &slots, CLOCK_MONOTONIC);
}

/* Element 7 of the hash map fires in a microsecond and deletes itself. */
SEC("tc")
int arm_hash(struct __sk_buff *skb)
{
	struct elem zero = {}, *e;
	__u32 k = 7;

	bpf_map_update_elem(&by_key, &k, &zero, BPF_ANY);
	e = bpf_map_lookup_elem(&by_key, &k);
	if (!e)
		return -1;
	bpf_timer_init(&e->t, &by_key, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&e->t, forget);
	return bpf_timer_start(&e->t, 1000, 0);
}

char _license[] SEC("license") = "GPL";
