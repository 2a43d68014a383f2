/work/main/kmod-freebsd/target/debug/deps/ebpf_kld-616a1bfc215bc498.d: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/module.rs src/platform.rs

/work/main/kmod-freebsd/target/debug/deps/libebpf_kld-616a1bfc215bc498.rlib: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/module.rs src/platform.rs

/work/main/kmod-freebsd/target/debug/deps/libebpf_kld-616a1bfc215bc498.rmeta: src/lib.rs src/cdev.rs src/heap.rs src/kpi.rs src/module.rs src/platform.rs

src/lib.rs:
src/cdev.rs:
src/heap.rs:
src/kpi.rs:
src/module.rs:
src/platform.rs:

# env-dep:CARGO_PKG_VERSION=0.1.0
