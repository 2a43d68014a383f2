/work/main/kmod-freebsd/target/debug/deps/ebpf_core-856b7e675bc6761a.d: /work/main/ebpf-core/src/lib.rs /work/main/ebpf-core/src/abi.rs /work/main/ebpf-core/src/decoded.rs /work/main/ebpf-core/src/dispatch/mod.rs /work/main/ebpf-core/src/dispatch/objects.rs /work/main/ebpf-core/src/dispatch/requests.rs /work/main/ebpf-core/src/errno.rs /work/main/ebpf-core/src/error.rs /work/main/ebpf-core/src/helpers.rs /work/main/ebpf-core/src/insn.rs /work/main/ebpf-core/src/interp.rs /work/main/ebpf-core/src/maps/mod.rs /work/main/ebpf-core/src/maps/array.rs /work/main/ebpf-core/src/maps/hash.rs /work/main/ebpf-core/src/maps/lpm.rs /work/main/ebpf-core/src/maps/objects.rs /work/main/ebpf-core/src/maps/queue.rs /work/main/ebpf-core/src/maps/ringbuf.rs /work/main/ebpf-core/src/maps/slab.rs /work/main/ebpf-core/src/memory.rs /work/main/ebpf-core/src/opcode.rs /work/main/ebpf-core/src/platform.rs /work/main/ebpf-core/src/program.rs /work/main/ebpf-core/src/runtime/mod.rs /work/main/ebpf-core/src/runtime/context.rs /work/main/ebpf-core/src/runtime/ctx.rs /work/main/ebpf-core/src/runtime/format.rs /work/main/ebpf-core/src/shared.rs

/work/main/kmod-freebsd/target/debug/deps/libebpf_core-856b7e675bc6761a.rmeta: /work/main/ebpf-core/src/lib.rs /work/main/ebpf-core/src/abi.rs /work/main/ebpf-core/src/decoded.rs /work/main/ebpf-core/src/dispatch/mod.rs /work/main/ebpf-core/src/dispatch/objects.rs /work/main/ebpf-core/src/dispatch/requests.rs /work/main/ebpf-core/src/errno.rs /work/main/ebpf-core/src/error.rs /work/main/ebpf-core/src/helpers.rs /work/main/ebpf-core/src/insn.rs /work/main/ebpf-core/src/interp.rs /work/main/ebpf-core/src/maps/mod.rs /work/main/ebpf-core/src/maps/array.rs /work/main/ebpf-core/src/maps/hash.rs /work/main/ebpf-core/src/maps/lpm.rs /work/main/ebpf-core/src/maps/objects.rs /work/main/ebpf-core/src/maps/queue.rs /work/main/ebpf-core/src/maps/ringbuf.rs /work/main/ebpf-core/src/maps/slab.rs /work/main/ebpf-core/src/memory.rs /work/main/ebpf-core/src/opcode.rs /work/main/ebpf-core/src/platform.rs /work/main/ebpf-core/src/program.rs /work/main/ebpf-core/src/runtime/mod.rs /work/main/ebpf-core/src/runtime/context.rs /work/main/ebpf-core/src/runtime/ctx.rs /work/main/ebpf-core/src/runtime/format.rs /work/main/ebpf-core/src/shared.rs

/work/main/ebpf-core/src/lib.rs:
/work/main/ebpf-core/src/abi.rs:
/work/main/ebpf-core/src/decoded.rs:
/work/main/ebpf-core/src/dispatch/mod.rs:
/work/main/ebpf-core/src/dispatch/objects.rs:
/work/main/ebpf-core/src/dispatch/requests.rs:
/work/main/ebpf-core/src/errno.rs:
/work/main/ebpf-core/src/error.rs:
/work/main/ebpf-core/src/helpers.rs:
/work/main/ebpf-core/src/insn.rs:
/work/main/ebpf-core/src/interp.rs:
/work/main/ebpf-core/src/maps/mod.rs:
/work/main/ebpf-core/src/maps/array.rs:
/work/main/ebpf-core/src/maps/hash.rs:
/work/main/ebpf-core/src/maps/lpm.rs:
/work/main/ebpf-core/src/maps/objects.rs:
/work/main/ebpf-core/src/maps/queue.rs:
/work/main/ebpf-core/src/maps/ringbuf.rs:
/work/main/ebpf-core/src/maps/slab.rs:
/work/main/ebpf-core/src/memory.rs:
/work/main/ebpf-core/src/opcode.rs:
/work/main/ebpf-core/src/platform.rs:
/work/main/ebpf-core/src/program.rs:
/work/main/ebpf-core/src/runtime/mod.rs:
/work/main/ebpf-core/src/runtime/context.rs:
/work/main/ebpf-core/src/runtime/ctx.rs:
/work/main/ebpf-core/src/runtime/format.rs:
/work/main/ebpf-core/src/shared.rs:
