// SPDX-License-Identifier: GPL-2.0
/*
 * Programs on live traffic: a netfilter hook at the netdev ingress (or
 * egress) of one device per link, calling the core (ebpf_kcore_hook_run)
 * with the frame from its link-layer header, as an XDP program sees it.
 *
 * Hooks are kept on a list under RTNL. A device that goes away takes its
 * hooks with it (netdevice notifier); the link stays, detached, until the
 * core lets it go (ebpf_os_net_detach). Everything here runs in process
 * context except ebpf_nf_hook, which runs where the stack receives or
 * sends the frame (softirq, or process context with BH off).
 */
#include <linux/etherdevice.h>
#include <linux/if_arp.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/netfilter_netdev.h>
#include <linux/rtnetlink.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <net/net_namespace.h>

#include "ebpf_helpers.h"

/* Headroom a frame gets before the program runs (XDP_PACKET_HEADROOM). */
#define EBPF_HEADROOM 256

/* The core's verdicts (enum xdp_action). */
enum { EBPF_ABORTED, EBPF_DROP, EBPF_PASS, EBPF_TX, EBPF_REDIRECT };

struct ebpf_hook {
	struct nf_hook_ops ops;
	struct list_head node;	/* on ebpf_hooks while registered */
	struct net *net;
	struct net_device *dev;	/* NULL once the device went away */
	void *target;		/* the core's HookTarget */
	u32 ifindex;
	bool egress;
};

/* Registered hooks; under RTNL. */
static LIST_HEAD(ebpf_hooks);

/* Implemented by the core (ebpf-core/src/c_os.rs). */
u32 ebpf_kcore_hook_run(void *target, u8 *room, size_t room_len, u32 *start,
			u32 *len, u32 ifindex, u32 rx_queue);

/*
 * Makes @skb's data linear, private and preceded by EBPF_HEADROOM bytes,
 * as generic XDP prepares a frame; false when memory is short.
 */
static bool ebpf_skb_prepare(struct sk_buff *skb)
{
	int hroom, troom;

	if (!skb_cloned(skb) && !skb_is_nonlinear(skb) &&
	    skb_headroom(skb) >= EBPF_HEADROOM)
		return true;
	hroom = EBPF_HEADROOM - skb_headroom(skb);
	troom = skb->tail + skb->data_len - skb->end;
	if (pskb_expand_head(skb, hroom > 0 ? ALIGN(hroom, NET_SKB_PAD) : 0,
			     troom > 0 ? troom + 128 : 0, GFP_ATOMIC))
		return false;
	return !skb_linearize(skb);
}

/*
 * Runs the program on @skb, whose data starts at the link-layer header;
 * moves the data to where the program left the packet. Returns the
 * verdict.
 */
static u32 ebpf_skb_run(struct ebpf_hook *h, struct sk_buff *skb)
{
	u32 start = skb->data - skb->head;
	u32 len = skb->len;
	u32 old_start = start, old_len = len;
	u32 rx_queue = skb_rx_queue_recorded(skb) ? skb_get_rx_queue(skb) : 0;
	u32 verdict;

	verdict = ebpf_kcore_hook_run(h->target, skb->head,
				      skb_end_pointer(skb) - skb->head,
				      &start, &len, h->ifindex, rx_queue);
	/* The core keeps the packet inside the room it was given. */
	if (start > old_start)
		__skb_pull(skb, start - old_start);
	else if (start < old_start)
		__skb_push(skb, old_start - start);
	if (len > skb->len)
		__skb_put(skb, len - skb->len);
	else if (len < skb->len)
		__skb_trim(skb, len);
	if ((start != old_start || len != old_len) &&
	    skb->ip_summed == CHECKSUM_COMPLETE)
		skb->ip_summed = CHECKSUM_NONE;
	return verdict;
}

static unsigned int ebpf_nf_hook(void *priv, struct sk_buff *skb,
				 const struct nf_hook_state *state)
{
	struct ebpf_hook *h = priv;
	struct net_device *dev = skb->dev;
	struct sk_buff *copy = NULL;
	u32 mac_len = 0, start, verdict;

	if (!h->egress) {
		/* Ingress: the stack has pulled the link-layer header. */
		if (!skb_mac_header_was_set(skb))
			return NF_ACCEPT;
		mac_len = skb->data - skb_mac_header(skb);
		__skb_push(skb, mac_len);
	}
	if (unlikely(skb_shared(skb))) {
		/* Someone else holds this skb: run on a private copy (the
		 * program's rewrites are not seen by the stack). */
		copy = skb_copy_expand(skb, EBPF_HEADROOM, 0, GFP_ATOMIC);
		if (!copy)
			goto drop;
	} else if (!ebpf_skb_prepare(skb)) {
		goto drop;
	}
	start = (copy ?: skb)->data - (copy ?: skb)->head;
	verdict = ebpf_skb_run(h, copy ?: skb);
	if (copy) {
		if (verdict == EBPF_TX && !h->egress) {
			dev_queue_xmit(copy);
			return NF_DROP;
		}
		consume_skb(copy);
		copy = NULL;
		if (verdict == EBPF_PASS) {
			if (mac_len)
				__skb_pull(skb, mac_len);
			return NF_ACCEPT;
		}
		return NF_DROP;
	}
	switch (verdict) {
	case EBPF_PASS:
		if (skb->data - skb->head == start) {
			/* Headers may be rewritten, not moved. */
			__skb_pull(skb, mac_len);
			return NF_ACCEPT;
		}
		if (h->egress) {
			skb_reset_mac_header(skb);
			return NF_ACCEPT;
		}
		/* The packet moved: its link-layer header is found anew. */
		if (skb->len < ETH_HLEN)
			return NF_DROP;
		skb->protocol = eth_type_trans(skb, dev);
		skb_reset_network_header(skb);
		skb_reset_transport_header(skb);
		return NF_ACCEPT;
	case EBPF_TX:
		if (h->egress)
			return NF_DROP;
		/* Back out of the device it came in on (XDP_TX). */
		skb_reset_mac_header(skb);
		dev_queue_xmit(skb);
		return NF_STOLEN;
	default:
		return NF_DROP;
	}
drop:
	return NF_DROP;
}

int ebpf_os_net_device(u32 ifindex, const u8 *name, size_t len,
		       u32 *out_ifindex, u64 *out_key)
{
	struct net *net = current->nsproxy->net_ns;
	struct net_device *dev;
	char buf[IFNAMSIZ];

	if (!ifindex) {
		if (!len || len >= IFNAMSIZ)
			return -ENODEV;
		memcpy(buf, name, len);
		buf[len] = '\0';
	}
	rcu_read_lock();
	dev = ifindex ? dev_get_by_index_rcu(net, ifindex) :
			dev_get_by_name_rcu(net, buf);
	if (dev) {
		*out_ifindex = dev->ifindex;
		*out_key = (u64)(uintptr_t)dev;
	}
	rcu_read_unlock();
	return dev ? 0 : -ENODEV;
}

int ebpf_os_net_attach(u64 key, u32 ifindex, bool egress, void *target,
		       void **hook)
{
	struct net *net = current->nsproxy->net_ns;
	struct net_device *dev;
	struct ebpf_hook *h;
	int err;

	if (egress && !IS_ENABLED(CONFIG_NETFILTER_EGRESS))
		return -EOPNOTSUPP;
	if (!egress && !IS_ENABLED(CONFIG_NETFILTER_INGRESS))
		return -EOPNOTSUPP;
	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return -ENOMEM;
	rtnl_lock();
	dev = __dev_get_by_index(net, ifindex);
	if (!dev || (u64)(uintptr_t)dev != key) {
		err = -ENODEV;
		goto out;
	}
	/* Programs see Ethernet frames. */
	if (dev->type != ARPHRD_ETHER && dev->type != ARPHRD_LOOPBACK) {
		err = -EOPNOTSUPP;
		goto out;
	}
	h->ops.hook = ebpf_nf_hook;
	h->ops.pf = NFPROTO_NETDEV;
	h->ops.hooknum = egress ? NF_NETDEV_EGRESS : NF_NETDEV_INGRESS;
	h->ops.priority = INT_MIN;	/* before any other hook */
	h->ops.dev = dev;
	h->ops.priv = h;
	h->net = net;
	h->dev = dev;
	h->target = target;
	h->ifindex = dev->ifindex;
	h->egress = egress;
	err = nf_register_net_hook(net, &h->ops);
	if (!err)
		list_add(&h->node, &ebpf_hooks);
out:
	rtnl_unlock();
	if (err)
		kfree(h);
	else
		*hook = h;
	return err;
}

/* Unregisters @h (RTNL held); its target may still be running until the
 * next grace period. */
static void ebpf_hook_remove(struct ebpf_hook *h)
{
	nf_unregister_net_hook(h->net, &h->ops);
	list_del(&h->node);
	WRITE_ONCE(h->dev, NULL);
}

void ebpf_os_net_detach(void *hook)
{
	struct ebpf_hook *h = hook;

	rtnl_lock();
	if (h->dev)
		ebpf_hook_remove(h);
	rtnl_unlock();
	/* No CPU is in the hook after this: the core may free its target. */
	synchronize_net();
	kfree(h);
}

u32 ebpf_os_net_hook_ifindex(void *hook)
{
	struct ebpf_hook *h = hook;

	return READ_ONCE(h->dev) ? h->ifindex : 0;
}

static int ebpf_netdev_event(struct notifier_block *nb, unsigned long event,
			     void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct ebpf_hook *h, *next;

	if (event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;
	list_for_each_entry_safe(h, next, &ebpf_hooks, node)
		if (h->dev == dev)
			ebpf_hook_remove(h);
	return NOTIFY_DONE;
}

static struct notifier_block ebpf_netdev_notifier = {
	.notifier_call = ebpf_netdev_event,
};

int ebpf_os_net_init(void)
{
	return register_netdevice_notifier(&ebpf_netdev_notifier);
}

void ebpf_os_net_exit(void)
{
	unregister_netdevice_notifier(&ebpf_netdev_notifier);
}
