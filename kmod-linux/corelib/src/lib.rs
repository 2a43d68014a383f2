//! ebpf-core for the Linux kernel module, as a static library.
//!
//! The 6.12 kernel offers Rust modules no `alloc` crate, and ebpf-core needs
//! one (it is the same core the userspace backend and the FreeBSD kld run).
//! So the core is built here as a `staticlib` with `-Zbuild-std=core,alloc`
//! and the kernel's own code-generation flags, and linked into `ebpf.ko`
//! next to the Rust-for-Linux module (`kmod-linux/ebpf_main.rs`). The two
//! halves meet once, at the C ABI of [`ebpf_core::c_os`]: the module
//! provides the `ebpf_os_*` kernel services and calls `ebpf_kcore_*`.
//! This library only adds what a final artifact must: the allocator and
//! the panic handler.

#![no_std]

pub use ebpf_core::c_os::{
    ebpf_kcore_ioctl, ebpf_kcore_open, ebpf_kcore_release, ebpf_kcore_start, ebpf_kcore_stop,
};

#[global_allocator]
static HEAP: ebpf_core::c_os::CHeap = ebpf_core::c_os::CHeap;

/// A panic in the core is a bug: report it and stop through the kernel's
/// own panic path, as Rust code in the kernel does.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    ebpf_core::c_os::report_panic(info)
}
