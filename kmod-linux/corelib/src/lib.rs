//! ebpf-core for the Linux kernel module, as a static library.
//!
//! The 6.12 kernel offers Rust modules no `alloc` crate, and ebpf-core needs
//! one (it is the same core the userspace backend and the FreeBSD kld run).
//! So the core is built here as a `staticlib` with `-Zbuild-std=core,alloc`
//! and the kernel's own code-generation flags, and linked into `ebpf.ko`
//! next to the Rust-for-Linux module (`kmod-linux/ebpf_main.rs`). The two halves
//! meet at a small C ABI:
//!
//! - this library exports `ebpf_kcore_*`: create and free the device, open,
//!   ioctl and release a file;
//! - the module exports `ebpf_os_*` (see [`os`]): the kernel services the
//!   core's [`Platform`](ebpf_core::platform::Platform) is built on.

#![no_std]

extern crate alloc;

mod entry;
mod heap;
mod os;
mod platform;

pub use entry::*;

/// A panic in the core is a bug; report it and stop through the kernel's
/// own panic path (`BUG()`), as Rust code in the kernel does.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut buf = platform::LineBuf::default();
    let _ = core::fmt::write(&mut buf, format_args!("{info}"));
    let text = buf.as_bytes();
    // SAFETY: `text` is valid for its length; the module's panic hook does
    // not return.
    unsafe { os::ebpf_os_panic(text.as_ptr(), text.len()) }
}
