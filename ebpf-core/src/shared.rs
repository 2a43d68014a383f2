//! [`Shared`]: a reference-counted pointer whose allocation can fail.
//!
//! `alloc::sync::Arc::new` aborts when memory is short, which a kernel must
//! not do; this is the small subset of `Arc` the core needs, allocated with
//! `try`-semantics.

use alloc::alloc::{alloc, dealloc, Layout};
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicUsize, Ordering};

use crate::errno::Errno;

struct Inner<T> {
    count: AtomicUsize,
    value: T,
}

/// A shared, immutable, reference-counted `T` (a map or a program).
///
/// The last reference frees the value. The core makes sure that never
/// happens in program context: running programs borrow objects inside a
/// read-side section and take no references (docs/maps.md).
pub struct Shared<T> {
    ptr: NonNull<Inner<T>>,
}

// SAFETY: like Arc: the count is atomic and T is shared immutably.
unsafe impl<T: Send + Sync> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// Moves `value` to a new allocation; `ENOMEM` when memory is short.
    pub fn try_new(value: T) -> Result<Self, Errno> {
        let layout = Layout::new::<Inner<T>>();
        // SAFETY: Inner<T> holds an AtomicUsize, so its size is not zero.
        let raw = unsafe { alloc(layout) } as *mut Inner<T>;
        let ptr = NonNull::new(raw).ok_or(Errno::ENOMEM)?;
        // SAFETY: freshly allocated for Inner<T>, properly aligned.
        unsafe {
            ptr.as_ptr().write(Inner {
                count: AtomicUsize::new(1),
                value,
            })
        };
        Ok(Shared { ptr })
    }

    /// The address of the value: stable for its lifetime, and what programs
    /// see as a map pointer.
    pub fn as_ptr(this: &Self) -> *const T {
        // SAFETY: the allocation is live while `this` exists.
        unsafe { &raw const (*this.ptr.as_ptr()).value }
    }

    /// Whether two references point to the same value.
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// The number of references.
    pub fn count(this: &Self) -> usize {
        this.inner().count.load(Ordering::Acquire)
    }

    /// Gives up the reference without dropping it; see
    /// [`from_raw`](Self::from_raw).
    pub fn into_raw(this: Self) -> *const T {
        let ptr = Self::as_ptr(&this);
        core::mem::forget(this);
        ptr
    }

    /// Takes back a reference given up with [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    /// `ptr` came from `into_raw` and its reference is taken back once.
    pub unsafe fn from_raw(ptr: *const T) -> Self {
        let offset = core::mem::offset_of!(Inner<T>, value);
        // SAFETY: `ptr` points at the `value` field of a live Inner<T>.
        let inner = unsafe { (ptr as *const u8).sub(offset) } as *mut Inner<T>;
        Shared {
            // SAFETY: derived from a non-null allocation.
            ptr: unsafe { NonNull::new_unchecked(inner) },
        }
    }

    /// A new reference to the value at `ptr`, which a live reference (for
    /// example one held by a map slot) keeps alive.
    ///
    /// # Safety
    /// `ptr` came from `as_ptr`/`into_raw` of a value still referenced.
    pub unsafe fn clone_from_ptr(ptr: *const T) -> Self {
        // SAFETY: per the contract, a reference exists; we take another.
        let borrowed = core::mem::ManuallyDrop::new(unsafe { Self::from_raw(ptr) });
        (*borrowed).clone()
    }

    /// Gives up the reference without freeing the value when it was the
    /// last one: then returns the value's address, for
    /// [`free_last`](Self::free_last) to free later (in another context).
    pub fn release_keeping_last(this: Self) -> Option<*const T> {
        let this = core::mem::ManuallyDrop::new(this);
        if this.inner().count.fetch_sub(1, Ordering::Release) != 1 {
            return None;
        }
        fence(Ordering::Acquire);
        Some(Self::as_ptr(&this))
    }

    /// Frees a value whose last reference
    /// [`release_keeping_last`](Self::release_keeping_last) gave up.
    ///
    /// # Safety
    /// `ptr` came from `release_keeping_last` and is freed once.
    pub unsafe fn free_last(ptr: *const T) {
        // SAFETY: per the contract the allocation is live and nobody else
        // references it; a count of one makes `drop` free it.
        let last = unsafe { Self::from_raw(ptr) };
        last.inner().count.store(1, Ordering::Relaxed);
        drop(last);
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: the allocation is live while a reference exists.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        self.inner().count.fetch_add(1, Ordering::Relaxed);
        Shared { ptr: self.ptr }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().value
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        if self.inner().count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        // SAFETY: this was the last reference: nobody else can reach the
        // allocation, which was made in `try_new` with this layout.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            dealloc(self.ptr.as_ptr() as *mut u8, Layout::new::<Inner<T>>());
        }
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}
