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

extern "C" {
    // kmod-linux/ebpf_net.c: the netdevice notifier that takes packet
    // hooks off devices going away.
    fn ebpf_os_net_init() -> kernel::ffi::c_int;
    fn ebpf_os_net_exit();
}

/// The packet hooks' netdevice notifier, registered until dropped.
struct NetHooks;

impl NetHooks {
    fn new() -> Result<Self> {
        // SAFETY: plain call, once, at init.
        let ret = unsafe { ebpf_os_net_init() };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(NetHooks)
    }
}

impl Drop for NetHooks {
    fn drop(&mut self) {
        // SAFETY: registered by `new`; every hook is gone (the device,
        // dropped first, detached every link).
        unsafe { ebpf_os_net_exit() }
    }
}

struct EbpfModule {
    // Dropped in this order: the device (and with it every link), then
    // the notifier.
    _device: miscdev::Registration,
    _net: NetHooks,
}

impl kernel::Module for EbpfModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let net = NetHooks::new()?;
        let device = miscdev::Registration::new(module)?;
        pr_info!("/dev/ebpf ready\n");
        Ok(EbpfModule {
            _device: device,
            _net: net,
        })
    }
}

impl Drop for EbpfModule {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
