//! Programs as a `PROG_ARRAY` slot holds them. Maps sit below programs
//! (a program holds its maps), so this layer knows a program only through
//! its [`ProgramHeader`]: its id, and how to give a reference back. The
//! runtime places the header first in every program it creates and is the
//! only one to read a program back out of a slot.

use core::ptr::NonNull;

/// What the maps layer knows of a program.
#[repr(C)]
pub struct ProgramHeader {
    id: u32,
    /// The program's type (Linux's number): a tail call stays within one.
    prog_type: u32,
    /// Gives back one reference to the program this header starts.
    release: unsafe fn(*const ProgramHeader),
}

impl ProgramHeader {
    /// A header for a program with `id`, released through `release`.
    ///
    /// # Safety
    /// The header must be the first field of a `#[repr(C)]` program
    /// allocated by `crate::shared::Shared`, and `release` must drop one
    /// reference of such a program given its header's address.
    pub(crate) const unsafe fn new(
        id: u32,
        prog_type: u32,
        release: unsafe fn(*const ProgramHeader),
    ) -> Self {
        ProgramHeader {
            id,
            prog_type,
            release,
        }
    }

    /// The program's type, as Linux numbers it.
    pub fn prog_type(&self) -> u32 {
        self.prog_type
    }

    /// The program's id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

/// One counted reference to a program, type-erased to its header.
pub struct ProgramRef(NonNull<ProgramHeader>);

// SAFETY: a program is shared immutably between CPUs and its reference
// count is atomic (it lives in a `Shared`).
unsafe impl Send for ProgramRef {}
// SAFETY: as above.
unsafe impl Sync for ProgramRef {}

impl ProgramRef {
    /// Wraps a reference the runtime gave up.
    ///
    /// # Safety
    /// `header` heads a live program and the caller hands over one of its
    /// references.
    pub(crate) unsafe fn from_raw(header: *const ProgramHeader) -> Self {
        // SAFETY: per the contract, `header` points to a live program.
        ProgramRef(unsafe { NonNull::new_unchecked(header as *mut ProgramHeader) })
    }

    /// Gives up the reference without dropping it (a slot keeps it).
    pub(crate) fn into_raw(this: Self) -> *const ProgramHeader {
        let p = this.0.as_ptr();
        core::mem::forget(this);
        p
    }

    /// The program's id.
    pub fn id(&self) -> u32 {
        // SAFETY: the reference keeps the program alive.
        unsafe { self.0.as_ref() }.id
    }
}

impl Drop for ProgramRef {
    fn drop(&mut self) {
        let header = self.0.as_ptr() as *const ProgramHeader;
        // SAFETY: we own one reference; `release` gives it back (the
        // header's contract), after which `self` is not used again.
        unsafe {
            let release = (*header).release;
            release(header)
        }
    }
}
