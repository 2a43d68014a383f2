// SPDX-License-Identifier: GPL-2.0
/* Test object: __kconfig externs, resolved on the machine that loads the
 * object; one that no configuration sets, weak, reads as 0. */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_NO_SUCH_OPTION __kconfig __weak;

SEC("xdp")
int kconfig(struct xdp_md *ctx)
{
	if (CONFIG_NO_SUCH_OPTION)
		return 0;
	return LINUX_KERNEL_VERSION;
}

char LICENSE[] SEC("license") = "GPL";

extern int CONFIG_SURELY_NOT_SET_ANYWHERE __kconfig;

SEC("xdp")
int strict(struct xdp_md *ctx)
{
	return CONFIG_SURELY_NOT_SET_ANYWHERE;
}
