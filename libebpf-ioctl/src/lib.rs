//! libebpf-ioctl: the userspace side of ebpf-kmod.
//!
//! This crate will hold the `/dev/ebpf` client, the in-process embedded
//! backend and the ELF loader. Today it re-exports the core, so that tools
//! build against one crate from the start.

pub use ebpf_core as core;
