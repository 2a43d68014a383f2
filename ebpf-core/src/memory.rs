//! The memory a program may touch: regions granted by the embedder, checked
//! on every access when a program runs in checked mode.

use core::cell::Cell;
use core::marker::PhantomData;

use crate::error::{HelperError, RunError};
use crate::helpers::Helpers;
use crate::program::Program;

/// What a region holds; reported in traces and used to find the packet for
/// the legacy `LD_ABS`/`LD_IND` loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// The program's context (the `r1` argument of most program types).
    Context,
    /// Packet data; `LD_ABS`/`LD_IND` read the first region of this kind.
    Packet,
    /// Values of a map; handed out by `map_lookup_elem`.
    MapValue,
    /// Any other memory the embedder grants.
    Memory,
}

/// A range of addresses a program may access.
///
/// A region is either contiguous, or strided: `count` elements every
/// `stride` bytes of which only `elem_len` bytes at `elem_offset` are
/// accessible (the values of a map whose keys or headers sit between them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    start: u64,
    len: u64,
    stride: u64,
    elem_offset: u64,
    elem_len: u64,
    writable: bool,
    kind: RegionKind,
}

impl Region {
    const EMPTY: Region = Region {
        start: 0,
        len: 0,
        stride: 0,
        elem_offset: 0,
        elem_len: 0,
        writable: false,
        kind: RegionKind::Memory,
    };

    /// A contiguous region of `len` bytes at `start`.
    pub const fn contiguous(start: u64, len: u64, writable: bool, kind: RegionKind) -> Self {
        Region {
            start,
            len,
            stride: 0,
            elem_offset: 0,
            elem_len: 0,
            writable,
            kind,
        }
    }

    /// `count` elements of `stride` bytes at `start`, of which the
    /// `elem_len` bytes at `elem_offset` of each are accessible.
    ///
    /// Returns `None` when the element does not fit its stride or the
    /// region's size overflows.
    pub fn strided(
        start: u64,
        count: u64,
        stride: u64,
        elem_offset: u64,
        elem_len: u64,
        writable: bool,
        kind: RegionKind,
    ) -> Option<Self> {
        if stride == 0 || elem_offset.checked_add(elem_len)? > stride {
            return None;
        }
        let len = count.checked_mul(stride)?;
        start.checked_add(len)?;
        Some(Region {
            start,
            len,
            stride,
            elem_offset,
            elem_len,
            writable,
            kind,
        })
    }

    /// First address of the region.
    pub const fn start(&self) -> u64 {
        self.start
    }

    /// Length of the region in bytes (all elements, for a strided region).
    pub const fn len(&self) -> u64 {
        self.len
    }

    /// Whether the region has no bytes.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What the region holds.
    pub const fn kind(&self) -> RegionKind {
        self.kind
    }

    /// Whether `size` bytes at `addr` lie inside one accessible span.
    #[inline(always)]
    pub fn contains(&self, addr: u64, size: u64) -> bool {
        let rel = addr.wrapping_sub(self.start);
        if rel >= self.len || size > self.len - rel {
            return false;
        }
        if self.stride == 0 {
            return true;
        }
        let within = rel % self.stride;
        within >= self.elem_offset && within - self.elem_offset + size <= self.elem_len
    }
}

/// Maximum number of regions one run can be granted besides its stack.
pub const MAX_REGIONS: usize = 16;

/// Error adding a region to a full [`MemoryMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyRegions;

/// The regions granted to one run of a program. Fixed capacity, so that
/// setting up a run never allocates.
///
/// The lifetime ties the map to the buffers it was built from: they stay
/// borrowed while the map exists.
#[derive(Clone, Debug)]
pub struct MemoryMap<'a> {
    regions: [Region; MAX_REGIONS],
    count: usize,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl Default for MemoryMap<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> MemoryMap<'a> {
    /// An empty map: the program may only touch its stack.
    pub const fn new() -> Self {
        MemoryMap {
            regions: [Region::EMPTY; MAX_REGIONS],
            count: 0,
            _borrow: PhantomData,
        }
    }

    /// Grants read and write access to `buf`.
    pub fn add_mut(&mut self, buf: &'a mut [u8], kind: RegionKind) -> Result<u64, TooManyRegions> {
        let start = buf.as_mut_ptr() as u64;
        // SAFETY: `buf` is exclusively borrowed for 'a, as long as the map.
        unsafe { self.add_raw(Region::contiguous(start, buf.len() as u64, true, kind)) }?;
        Ok(start)
    }

    /// Grants read-only access to `buf`.
    pub fn add_ref(&mut self, buf: &'a [u8], kind: RegionKind) -> Result<u64, TooManyRegions> {
        let start = buf.as_ptr() as u64;
        // SAFETY: `buf` is borrowed for 'a and the region is read-only.
        unsafe { self.add_raw(Region::contiguous(start, buf.len() as u64, false, kind)) }?;
        Ok(start)
    }

    /// Grants access to a region described by raw addresses.
    ///
    /// # Safety
    /// Every accessible byte of `region` must stay valid for reads (and for
    /// writes, if writable) for as long as programs run with this map, and
    /// must not be accessed through a Rust reference that forbids aliasing
    /// meanwhile (programs on other CPUs may use it concurrently only where
    /// the owner, such as a map, allows racy access).
    pub unsafe fn add_raw(&mut self, region: Region) -> Result<(), TooManyRegions> {
        let slot = self.regions.get_mut(self.count).ok_or(TooManyRegions)?;
        *slot = region;
        self.count += 1;
        Ok(())
    }

    /// The granted regions.
    pub fn regions(&self) -> &[Region] {
        &self.regions[..self.count]
    }

    /// The first packet region, read by `LD_ABS`/`LD_IND`.
    pub fn packet(&self) -> Option<&Region> {
        self.regions().iter().find(|r| r.kind == RegionKind::Packet)
    }

    /// Whether a region allows `size` bytes at `addr` to be read, or written
    /// if `write`.
    #[inline(always)]
    pub fn allows(&self, addr: u64, size: u64, write: bool) -> bool {
        self.regions()
            .iter()
            .any(|r| r.contains(addr, size) && (r.writable || !write))
    }
}

/// The memory of a running program as a helper sees it: granted regions
/// plus the live part of the stack. Helpers move bytes through it instead of
/// dereferencing program pointers themselves, and call the program's BPF
/// functions back through it (`bpf_loop`, `bpf_for_each_map_elem`).
pub struct ProgramMemory<'r, 'a> {
    pub(crate) map: &'r MemoryMap<'a>,
    pub(crate) stack_lo: u64,
    pub(crate) stack_hi: u64,
    pub(crate) stack_base: u64,
    pub(crate) depth: usize,
    pub(crate) budget: &'r Cell<u64>,
    pub(crate) program: Option<&'r Program>,
    pub(crate) failure: &'r Cell<Option<RunError>>,
}

impl<'r, 'a> ProgramMemory<'r, 'a> {
    /// A view of `map` alone, with no stack and no program to call back:
    /// for tests of helpers and for embedders calling helpers directly.
    pub fn detached(
        map: &'r MemoryMap<'a>,
        budget: &'r Cell<u64>,
        failure: &'r Cell<Option<RunError>>,
    ) -> Self {
        ProgramMemory {
            map,
            stack_lo: 0,
            stack_hi: 0,
            stack_base: 0,
            depth: 0,
            budget,
            program: None,
            failure,
        }
    }

    /// Charges `units` of work a helper does for the program to the run's
    /// instruction budget; the run ends when the budget is spent.
    pub fn charge(&self, units: u64) -> Result<(), HelperError> {
        match self.budget.get().checked_sub(units) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => {
                self.budget.set(0);
                Err(HelperError::BudgetExhausted)
            }
        }
    }

    /// Whether `len` bytes at `addr` are accessible (writable if `write`),
    /// counting also the memory `extra` grants (map values handed out
    /// during the run).
    pub fn allows_with(&self, addr: u64, len: usize, write: bool, extra: &dyn Helpers) -> bool {
        self.allows(addr, len, write) || extra.allows(addr, len as u64, write)
    }

    /// Calls the program's BPF function whose address (as `lddw rX, func`
    /// produces it) is `func`, with `args` in `r1`-`r5`, on a new stack
    /// frame; returns its `r0`. `helpers` serves the callee's own calls.
    ///
    /// When the callee fails, the helper should return the
    /// [`HelperError::Callback`] this returns: the run then ends with the
    /// callee's own error.
    pub fn call_function(
        &self,
        helpers: &mut dyn Helpers,
        func: u64,
        args: [u64; 5],
    ) -> Result<u64, HelperError> {
        let program = self.program.ok_or(HelperError::NotAvailable)?;
        let index = program
            .function_index(func)
            .ok_or(HelperError::BadCallback(func))?;
        program.call_back(self, index, args, helpers).map_err(|e| {
            self.failure.set(Some(e));
            HelperError::Callback
        })
    }

    /// Copies from `addr` like [`read`](Self::read), also accepting memory
    /// that `extra` grants.
    pub fn read_with(
        &self,
        addr: u64,
        out: &mut [u8],
        extra: &dyn Helpers,
    ) -> Result<(), HelperError> {
        if !self.allows_with(addr, out.len(), false, extra) {
            return Err(HelperError::BadPointer {
                addr,
                len: out.len(),
            });
        }
        // SAFETY: the range lies in a granted region, the live stack or
        // memory the embedder vouches for (`Helpers::allows`), all valid for
        // reads for the whole run.
        unsafe { core::ptr::copy(addr as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies to `addr` like [`write`](Self::write), also accepting memory
    /// that `extra` grants.
    pub fn write_with(
        &self,
        addr: u64,
        data: &[u8],
        extra: &dyn Helpers,
    ) -> Result<(), HelperError> {
        if !self.allows_with(addr, data.len(), true, extra) {
            return Err(HelperError::BadPointer {
                addr,
                len: data.len(),
            });
        }
        // SAFETY: as for `read_with`, for writable memory.
        unsafe { core::ptr::copy(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }

    /// Whether `len` bytes at `addr` are accessible (writable if `write`).
    pub fn allows(&self, addr: u64, len: usize, write: bool) -> bool {
        let len = len as u64;
        let in_stack = addr >= self.stack_lo
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= self.stack_hi);
        in_stack || self.map.allows(addr, len, write)
    }

    /// Copies `out.len()` bytes from program address `addr` into `out`.
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), HelperError> {
        if !self.allows(addr, out.len(), false) {
            return Err(HelperError::BadPointer {
                addr,
                len: out.len(),
            });
        }
        // SAFETY: the range lies in a granted region or the live stack, both
        // valid for reads for the whole run (MemoryMap::add_raw's contract).
        unsafe { core::ptr::copy(addr as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    /// Copies `data` to program address `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), HelperError> {
        if !self.allows(addr, data.len(), true) {
            return Err(HelperError::BadPointer {
                addr,
                len: data.len(),
            });
        }
        // SAFETY: the range lies in a writable granted region or the live
        // stack, both valid for writes for the whole run.
        unsafe { core::ptr::copy(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_region_bounds_are_exact() {
        let r = Region::contiguous(100, 10, true, RegionKind::Memory);
        assert!(r.contains(100, 10));
        assert!(r.contains(109, 1));
        assert!(!r.contains(99, 1));
        assert!(!r.contains(110, 1));
        assert!(!r.contains(105, 6));
        assert!(!r.contains(u64::MAX, 2), "wrapping address must not pass");
    }

    #[test]
    fn strided_region_allows_only_element_spans() {
        // 3 elements of 16 bytes, value of 4 bytes at offset 8.
        let r = Region::strided(1000, 3, 16, 8, 4, true, RegionKind::MapValue).unwrap();
        assert!(r.contains(1008, 4));
        assert!(r.contains(1040, 4));
        assert!(!r.contains(1000, 4), "key bytes are not accessible");
        assert!(!r.contains(1010, 4), "access crossing the value end");
        assert!(!r.contains(1056, 4), "past the last element");
        assert!(Region::strided(0, 1, 8, 4, 8, true, RegionKind::MapValue).is_none());
    }

    #[test]
    fn read_only_regions_refuse_writes() {
        let data = [0u8; 8];
        let mut map = MemoryMap::new();
        let a = map.add_ref(&data, RegionKind::Context).unwrap();
        assert!(map.allows(a, 8, false));
        assert!(!map.allows(a, 8, true));
    }

    #[test]
    fn map_capacity_is_bounded() {
        let mut map = MemoryMap::new();
        for _ in 0..MAX_REGIONS {
            // SAFETY: the region is never accessed.
            unsafe { map.add_raw(Region::contiguous(8, 8, false, RegionKind::Memory)) }.unwrap();
        }
        // SAFETY: as above.
        let r = unsafe { map.add_raw(Region::contiguous(8, 8, false, RegionKind::Memory)) };
        assert_eq!(r, Err(TooManyRegions));
    }
}
