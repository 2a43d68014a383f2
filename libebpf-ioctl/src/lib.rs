//! libebpf-ioctl: the userspace side of ebpf-kmod.
//!
//! [`Ebpf`] talks to a device through a [`Backend`]: the kernel module's
//! `/dev/ebpf`, or the embedded backend, which runs the very same
//! dispatcher in this process on [`UserPlatform`].

pub mod backend;
pub mod client;
pub mod elf;
pub mod platform;
mod ports;
mod timers;
pub mod typed;

pub use backend::{Backend, DeviceBackend, EmbeddedBackend};
pub use client::{
    Admission, Batch, Direction, Ebpf, Error, Interface, LoadedObject, MapSpec, ProgSpec, Result,
    TestRun,
};
pub use ebpf_core as core;
pub use platform::{Caller, OwnProcess, UserPlatform};
pub use typed::{Array, HashMap, PerCpuArray, Pod, RingBuf};
