//! ebpf.ko for FreeBSD 14 (amd64): `/dev/ebpf` over ebpf-core.
//!
//! The same core and dispatcher as the Linux module and the userspace
//! backend; this crate adds only the kld's glue: module metadata and
//! registration ([`module`]), the character device ([`cdev`]), the core's
//! Platform on FreeBSD's KPI ([`platform`]) and the hand-written KPI
//! declarations ([`kpi`]). Built as a static library and linked with
//! `ld -r` into an ET_REL object, as kmod.mk does (see the Makefile).

#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod cdev;
mod heap;
pub mod kpi;
#[cfg(test)]
mod mock;
pub mod module;
pub mod net;
pub mod platform;
#[cfg(test)]
mod tests;

#[cfg(target_os = "none")]
#[global_allocator]
static HEAP: heap::KernelHeap = heap::KernelHeap;

/// A panic in the core is a bug: report it through the kernel's panic(9).
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = platform::LineBuf::default();
    let _ = core::fmt::write(&mut line, format_args!("{info}"));
    kpi::panic(line.as_bytes())
}
