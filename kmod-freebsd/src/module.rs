//! What `DEV_MODULE(ebpf, ...)` and `MODULE_VERSION(ebpf, 1)` produce in C:
//! the module's metadata in the `set_modmetadata_set` linker set and its
//! registration in `set_sysinit_set`, as Rust statics in those sections.

use core::ffi::c_void;

use crate::cdev::ebpf_modevent;
use crate::kpi::{
    ModDepend, ModMetadata, ModVersion, ModuleData, Sysinit, MDT_DEPEND, MDT_MODULE,
    MDT_STRUCT_VERSION, MDT_VERSION, SI_ORDER_MIDDLE, SI_SUB_DRIVERS,
};

/// Read-only data that holds pointers (shared, never written).
#[repr(transparent)]
pub struct Shared<T>(pub T);

// SAFETY: the wrapped values are constant after link time.
unsafe impl<T> Sync for Shared<T> {}

/// The oldest and newest kernel this kld is for: FreeBSD 14.x
/// (`MODULE_KERNEL_MAXVER` = roundup(version, 100000) - 1).
pub const KERNEL_MIN: i32 = 1_400_000;
/// See [`KERNEL_MIN`].
pub const KERNEL_MAX: i32 = 1_499_999;

/// `moduledata_t ebpf_mod = { "ebpf", ebpf_modevent, NULL }`.
pub static MODULE_DATA: Shared<ModuleData> = Shared(ModuleData {
    name: c"ebpf".as_ptr(),
    evhand: Some(ebpf_modevent),
    priv_: core::ptr::null_mut(),
});

static DEPEND_KERNEL: ModDepend = ModDepend {
    md_ver_minimum: KERNEL_MIN,
    md_ver_preferred: KERNEL_MIN,
    md_ver_maximum: KERNEL_MAX,
};

static VERSION: ModVersion = ModVersion { mv_version: 1 };

static MD_DEPEND: Shared<ModMetadata> = Shared(ModMetadata {
    md_version: MDT_STRUCT_VERSION,
    md_type: MDT_DEPEND,
    md_data: &DEPEND_KERNEL as *const ModDepend as *const c_void,
    md_cval: c"kernel".as_ptr(),
});

static MD_MODULE: Shared<ModMetadata> = Shared(ModMetadata {
    md_version: MDT_STRUCT_VERSION,
    md_type: MDT_MODULE,
    md_data: &MODULE_DATA as *const Shared<ModuleData> as *const c_void,
    md_cval: c"ebpf".as_ptr(),
});

static MD_VERSION: Shared<ModMetadata> = Shared(ModMetadata {
    md_version: MDT_STRUCT_VERSION,
    md_type: MDT_VERSION,
    md_data: &VERSION as *const ModVersion as *const c_void,
    md_cval: c"ebpf".as_ptr(),
});

/// The metadata linker set: one pointer per entry.
#[used]
#[link_section = "set_modmetadata_set"]
static MODMETADATA_SET: Shared<[*const ModMetadata; 3]> = Shared([
    &MD_DEPEND.0 as *const ModMetadata,
    &MD_MODULE.0 as *const ModMetadata,
    &MD_VERSION.0 as *const ModMetadata,
]);

#[cfg(not(test))]
extern "C" {
    fn module_register_init(data: *const c_void);
}

#[cfg(test)]
use crate::mock::module_register_init;

/// `SYSINIT(ebpfmodule, SI_SUB_DRIVERS, SI_ORDER_MIDDLE,
/// module_register_init, &ebpf_mod)`. The kernel links sysinits into a
/// list through `next`, so it is writable.
pub static mut SYSINIT: Sysinit = Sysinit {
    subsystem: SI_SUB_DRIVERS,
    order: SI_ORDER_MIDDLE,
    next: core::ptr::null_mut(),
    func: Some(module_register_init),
    udata: &MODULE_DATA as *const Shared<ModuleData> as *const c_void,
};

/// The sysinit linker set (writable, as the kernel's DATA_WSET).
#[used]
#[link_section = "set_sysinit_set"]
static mut SYSINIT_SET: [*const Sysinit; 1] = [core::ptr::addr_of!(SYSINIT)];
