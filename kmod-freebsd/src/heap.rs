//! Memory from malloc(9) (`M_DEVBUF`), at any alignment up to a page: each
//! block keeps malloc's own pointer just below the aligned address. Also
//! the global allocator of the core's `alloc` collections, which grow only
//! in process context, after `try_reserve`.

#[cfg(target_os = "none")]
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use crate::kpi;

const HEADER: usize = 8;

/// Zeroed memory; `atomic` allocations do not sleep (`M_NOWAIT`).
pub fn alloc(size: usize, align: usize, atomic: bool) -> Option<NonNull<u8>> {
    if !align.is_power_of_two() || align > 4096 {
        return None;
    }
    let align = align.max(HEADER);
    let total = size.checked_add(align)?.checked_add(HEADER)?;
    let flags = kpi::M_ZERO | if atomic { kpi::M_NOWAIT } else { kpi::M_WAITOK };
    let raw = NonNull::new(kpi::malloc(total, flags))?;
    let start = raw.as_ptr() as usize + HEADER;
    let aligned = (start + align - 1) & !(align - 1);
    let user = aligned as *mut u8;
    // SAFETY: `aligned - HEADER` lies within the block (aligned >= raw +
    // HEADER) and is 8-aligned.
    unsafe { user.sub(HEADER).cast::<*mut u8>().write(raw.as_ptr()) };
    NonNull::new(user)
}

/// Frees what [`alloc`] returned.
///
/// # Safety
/// `p` came from [`alloc`] and is not used afterwards.
pub unsafe fn free(p: NonNull<u8>) {
    // SAFETY: `alloc` stored malloc's pointer just below `p`.
    let raw = unsafe { p.as_ptr().sub(HEADER).cast::<*mut u8>().read() };
    // SAFETY: `raw` came from malloc.
    unsafe { kpi::free(raw) }
}

/// The global allocator (kernel builds only; tests use the host's).
#[cfg(target_os = "none")]
pub struct KernelHeap;

// SAFETY: `alloc` returns memory aligned and sized as asked, or null.
#[cfg(target_os = "none")]
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        alloc(layout.size(), layout.align(), false).map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: from `alloc` above.
            unsafe { free(p) }
        }
    }
}
