// SPDX-License-Identifier: GPL-2.0

//! ebpf: eBPF as a device.
//!
//! Registers `/dev/ebpf` (mode 0600, CAP_BPF or CAP_SYS_ADMIN to open) and
//! hands every ioctl to ebpf-core's dispatcher, which is linked into this
//! module as a static library (`corelib/`, see its documentation for why).
//! This crate holds only the kernel glue: the device ([`miscdev`]) and the
//! kernel services the core runs on ([`platform`]).

use kernel::prelude::*;

mod miscdev;
mod platform;

module! {
    type: EbpfModule,
    name: "ebpf",
    author: "ebpf-kmod authors",
    description: "eBPF programs and maps behind /dev/ebpf (ebpf-kmod)",
    license: "GPL",
}

struct EbpfModule {
    _device: miscdev::Registration,
}

impl kernel::Module for EbpfModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let device = miscdev::Registration::new(module)?;
        pr_info!("/dev/ebpf ready\n");
        Ok(EbpfModule { _device: device })
    }
}

impl Drop for EbpfModule {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
