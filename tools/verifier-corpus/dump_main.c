/*
 * Appended to the part of Linux's test_verifier.c that defines its test
 * table (struct bpf_test tests[]), this prints every test as one JSON
 * object per line: name, program type, expected verdict and message,
 * instructions (filled by the test's generator when it has one), map
 * fixups and flags. Nothing of the kernel tree is kept: the table is read
 * where the kernel build left it (tools/verifier-corpus/extract.sh).
 */

#include "json_str.h"

static void json_fixups(const char *name, const int *fix)
{
	printf(",\"%s\":[", name);
	for (int i = 0; i < MAX_FIXUPS && fix[i]; i++)
		printf("%s%d", i ? "," : "", fix[i]);
	putchar(']');
}

static int program_length(const struct bpf_insn *fp)
{
	int len;

	for (len = MAX_INSNS - 1; len > 0; --len)
		if (fp[len].code != 0 || fp[len].imm != 0)
			break;
	return len + 1;
}

int main(void)
{
	for (unsigned int t = 0; t < ARRAY_SIZE(tests); t++) {
		struct bpf_test *test = &tests[t];
		struct bpf_insn *insns = test->insns;
		int len;

		if (test->fill_helper) {
			test->fill_insns = calloc(MAX_TEST_INSNS, sizeof(struct bpf_insn));
			test->fill_helper(test);
			insns = test->fill_insns;
			len = test->prog_len;
		} else {
			len = test->prog_len ? test->prog_len : program_length(insns);
		}
		printf("{\"name\":");
		json_str(test->descr);
		printf(",\"prog_type\":%d,\"result\":%d,\"errstr\":", test->prog_type, test->result);
		json_str(test->errstr);
		printf(",\"result_unpriv\":%d,\"errstr_unpriv\":", test->result_unpriv);
		json_str(test->errstr_unpriv);
		printf(",\"flags\":%d,\"retval\":%u,\"runs\":%d,\"kfunc\":%s", test->flags,
		       test->retval, test->runs, test->kfunc ? "true" : "false");
		json_fixups("hash_8b", test->fixup_map_hash_8b);
		json_fixups("hash_48b", test->fixup_map_hash_48b);
		json_fixups("hash_16b", test->fixup_map_hash_16b);
		json_fixups("array_48b", test->fixup_map_array_48b);
		json_fixups("prog1", test->fixup_prog1);
		json_fixups("prog2", test->fixup_prog2);
		json_fixups("map_in_map", test->fixup_map_in_map);
		json_fixups("array_ro", test->fixup_map_array_ro);
		json_fixups("array_wo", test->fixup_map_array_wo);
		json_fixups("array_small", test->fixup_map_array_small);
		json_fixups("ringbuf", test->fixup_map_ringbuf);
		json_fixups("other", test->fixup_map_sockmap);
		json_fixups("other2", test->fixup_map_sockhash);
		json_fixups("other3", test->fixup_map_xskmap);
		json_fixups("other4", test->fixup_map_stacktrace);
		json_fixups("other5", test->fixup_cgroup_storage);
		json_fixups("other6", test->fixup_percpu_cgroup_storage);
		json_fixups("spin_lock", test->fixup_map_spin_lock);
		json_fixups("other7", test->fixup_sk_storage_map);
		json_fixups("other8", test->fixup_map_event_output);
		json_fixups("other9", test->fixup_map_reuseport_array);
		json_fixups("timer", test->fixup_map_timer);
		json_fixups("kptr", test->fixup_map_kptr);
		printf(",\"btf\":%s", test->btf_types[0] ? "true" : "false");
		printf(",\"insns\":\"");
		for (int i = 0; i < len; i++) {
			const unsigned char *b = (const unsigned char *)&insns[i];

			for (int k = 0; k < 8; k++)
				printf("%02x", b[k]);
		}
		printf("\"}\n");
		free(test->fill_insns);
		test->fill_insns = NULL;
	}
	return 0;
}
