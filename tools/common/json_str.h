/* SPDX-License-Identifier: GPL-2.0 */
/* Prints a C string as a JSON string: what the C helpers of the corpus
 * tools (tools/verifier-corpus, tools/progs-corpus) report with. */
#ifndef EBPF_KMOD_JSON_STR_H
#define EBPF_KMOD_JSON_STR_H

#include <stdio.h>

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

#endif
