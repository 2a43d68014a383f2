// SPDX-License-Identifier: GPL-2.0
/*
 * host-run OBJ HEXFRAME...: the host kernel's verdict on each socket
 * filter, tc and XDP program of a BPF object, loaded alone with libbpf (the
 * object's other programs not loaded, as libbpf's autoload does it), and
 * the return value of BPF_PROG_TEST_RUN on each frame. One JSON object per
 * program on stdout:
 *
 *   {"program":"name","section":"xdp","type":6,"loaded":true,
 *    "error":null,"retvals":[2,2,1]}
 *
 * A retval is the program's r0, or a negative errno when the run fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* libbpf's last warning: why a load failed, when it was not the verifier
 * (an extern it could not resolve, a map it could not create). */
static char last_warning[512];

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	va_list copy;

	va_copy(copy, ap);
	if (level == LIBBPF_WARN && !strstr(fmt, "token") && !strstr(fmt, "failed to load object"))
		vsnprintf(last_warning, sizeof(last_warning), fmt, copy);
	va_end(copy);
	/* HOST_RUN_LOG=1: libbpf's messages, the verifier's log among them. */
	if (getenv("HOST_RUN_LOG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static int wanted(enum bpf_prog_type t)
{
	return t == BPF_PROG_TYPE_SOCKET_FILTER || t == BPF_PROG_TYPE_SCHED_CLS ||
	       t == BPF_PROG_TYPE_SCHED_ACT || t == BPF_PROG_TYPE_XDP;
}

#include "json_str.h"

static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = 0;

	for (; hex[0] && hex[1] && n < cap; hex += 2) {
		unsigned int b;

		if (sscanf(hex, "%2x", &b) != 1)
			break;
		out[n++] = b;
	}
	return n;
}

static void run_one(const char *path, const char *name, int nframes, char **frames)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *prog, *p;
	int err, i;

	if (!obj)
		return;
	prog = bpf_object__find_program_by_name(obj, name);
	bpf_object__for_each_program(p, obj)
		bpf_program__set_autoload(p, p == prog);
	printf("{\"program\":");
	json_str(name);
	printf(",\"section\":");
	json_str(bpf_program__section_name(prog));
	printf(",\"type\":%d", bpf_program__type(prog));
	last_warning[0] = 0;
	err = bpf_object__load(obj);
	if (err) {
		printf(",\"loaded\":false,\"error\":");
		json_str(strerror(-err));
		printf(",\"why\":");
		json_str(last_warning);
		printf(",\"retvals\":null}\n");
		bpf_object__close(obj);
		return;
	}
	printf(",\"loaded\":true,\"error\":null,\"retvals\":[");
	for (i = 0; i < nframes; i++) {
		unsigned char in[4096], out[8192];
		LIBBPF_OPTS(bpf_test_run_opts, opts);
		long long r;

		opts.data_in = in;
		opts.data_size_in = unhex(frames[i], in, sizeof(in));
		opts.data_out = out;
		opts.data_size_out = sizeof(out);
		opts.repeat = 1;
		err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
		r = err ? -errno : (long long)opts.retval;
		printf("%s%lld", i ? "," : "", r);
	}
	printf("]}\n");
	bpf_object__close(obj);
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *p;
	char names[512][128];
	int n = 0, i;

	if (argc < 2) {
		fprintf(stderr, "usage: host-run OBJ [HEXFRAME...]\n");
		return 2;
	}
	libbpf_set_print(quiet);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		printf("{\"open_error\":");
		json_str(strerror(errno));
		printf("}\n");
		return 0;
	}
	bpf_object__for_each_program(p, obj) {
		if (wanted(bpf_program__type(p)) && n < 512)
			snprintf(names[n++], sizeof(names[0]), "%s", bpf_program__name(p));
	}
	bpf_object__close(obj);
	for (i = 0; i < n; i++)
		run_one(argv[1], names[i], argc - 2, argv + 2);
	return 0;
}
