//! libebpf-ioctl: the userspace side of ebpf-kmod.
//!
//! Today it holds [`UserPlatform`], the core's platform for userspace, on
//! which the embedded backend runs the core in-process. The `/dev/ebpf`
//! client and the ELF loader build on it.

pub mod platform;

pub use ebpf_core as core;
pub use platform::UserPlatform;
