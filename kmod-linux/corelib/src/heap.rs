//! The global allocator the core's `alloc` collections use. They allocate
//! only in process context with no lock held (ioctl paths), so this is a
//! sleeping allocation; memory used where sleeping is forbidden comes from
//! the Platform with `AllocContext::Atomic` instead.

use core::alloc::{GlobalAlloc, Layout};

use crate::os;

struct KernelHeap;

// SAFETY: ebpf_os_alloc returns memory aligned to `align` (at most a page,
// which `alloc` checks) and valid for `size` bytes, or null.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() > 4096 {
            return core::ptr::null_mut();
        }
        // SAFETY: plain call; the size is non-zero for GlobalAlloc.
        unsafe { os::ebpf_os_alloc(layout.size(), layout.align(), false) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above.
        unsafe { os::ebpf_os_free(ptr) }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap;
