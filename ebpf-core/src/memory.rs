//! The memory a program may touch: regions granted by the embedder, checked
//! on every access when a program runs in checked mode.

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;

use crate::fixed_vec::FixedVec;

/// What a region holds; reported in traces and used to find the packet for
/// the legacy `LD_ABS`/`LD_IND` loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// The program's context (the `r1` argument of most program types).
    Context,
    /// Packet data; `LD_ABS`/`LD_IND` read the first region of this kind.
    Packet,
    /// The link-layer header in front of a packet that starts at the
    /// network header (socket filters), read-only.
    LinkHeader,
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
#[derive(Clone)]
pub struct MemoryMap<'a> {
    regions: FixedVec<Region, MAX_REGIONS>,
    /// The packet granted with [`add_packet`](Self::add_packet): where
    /// programs see it now (start, length), which helpers move
    /// ([`set_packet`](Self::set_packet)) inside its room.
    packet: Cell<(u64, u64)>,
    packet_room: (u64, u64),
    _borrow: PhantomData<&'a mut [u8]>,
}

impl fmt::Debug for MemoryMap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryMap")
            .field("regions", &self.regions())
            .field("packet", &self.packet.get())
            .field("packet_room", &self.packet_room)
            .finish()
    }
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
            regions: FixedVec::new(),
            packet: Cell::new((0, 0)),
            packet_room: (0, 0),
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

    /// Grants the `len` bytes at `at` of `room` as the packet, readable and
    /// writable; helpers may later move and resize it inside `room`
    /// ([`set_packet`](Self::set_packet)). Returns the packet's address.
    pub fn add_packet(&mut self, room: &'a mut [u8], at: usize, len: usize) -> u64 {
        let base = room.as_mut_ptr() as u64;
        let at = at.min(room.len());
        let len = len.min(room.len() - at);
        self.packet_room = (base, room.len() as u64);
        self.packet.set((base + at as u64, len as u64));
        base + at as u64
    }

    /// Moves the packet to the `len` bytes at `start`: `false`, and no
    /// change, unless they lie in the room [`add_packet`](Self::add_packet)
    /// granted.
    pub fn set_packet(&self, start: u64, len: u64) -> bool {
        let (base, room) = self.packet_room;
        let inside = start >= base && start.checked_add(len).is_some_and(|end| end <= base + room);
        if inside {
            self.packet.set((start, len));
        }
        inside
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
        self.regions.push(region).map_err(|_| TooManyRegions)
    }

    /// The granted regions.
    pub fn regions(&self) -> &[Region] {
        self.regions.as_slice()
    }

    /// The packet, read by `LD_ABS`/`LD_IND`: the one
    /// [`add_packet`](Self::add_packet) granted, else the first region of
    /// that kind.
    pub fn packet(&self) -> Option<Region> {
        let (start, len) = self.packet.get();
        if self.packet_room.1 != 0 {
            return Some(Region::contiguous(start, len, true, RegionKind::Packet));
        }
        self.regions()
            .iter()
            .find(|r| r.kind == RegionKind::Packet)
            .copied()
    }

    /// Where a legacy packet load (`LD_ABS`/`LD_IND`) of `size` bytes at
    /// `k` reads: `k` bytes into the packet, or, for Linux's negative
    /// offsets, from the network header (`SKF_NET_OFF + n`) or the
    /// link-layer header (`SKF_LL_OFF + n`); `None` outside the frame. The
    /// link-layer header is the one granted in front of the packet (socket
    /// filters), else the packet's start, whose network header follows an
    /// Ethernet header.
    pub fn legacy_packet_load(&self, k: i32, size: u64) -> Option<u64> {
        const SKF_NET_OFF: i64 = -0x10_0000;
        const SKF_LL_OFF: i64 = -0x20_0000;
        const ETH_HLEN: u64 = 14;
        let p = self.packet()?;
        let end = p.start() + p.len();
        let link = self
            .regions()
            .iter()
            .find(|r| r.kind == RegionKind::LinkHeader);
        let (mac, net) = match link {
            Some(l) if l.start() + l.len() == p.start() => (l.start(), p.start()),
            _ => (p.start(), p.start().saturating_add(ETH_HLEN)),
        };
        let k = k as i64;
        let (head, at) = if k >= 0 {
            (p.start(), p.start().checked_add(k as u64)?)
        } else if k >= SKF_NET_OFF {
            (mac, net.checked_add((k - SKF_NET_OFF) as u64)?)
        } else if k >= SKF_LL_OFF {
            (mac, mac.checked_add((k - SKF_LL_OFF) as u64)?)
        } else {
            return None;
        };
        (at >= head && at.checked_add(size)? <= end).then_some(at)
    }

    /// Whether a region allows `size` bytes at `addr` to be read, or written
    /// if `write`.
    #[inline(always)]
    pub fn allows(&self, addr: u64, size: u64, write: bool) -> bool {
        self.allows_kind(addr, size, write, None)
    }

    /// Whether `size` bytes at `addr` lie in one region of `kind` (any kind
    /// if `None`), writable if `write`.
    #[inline(always)]
    pub fn allows_kind(&self, addr: u64, size: u64, write: bool, kind: Option<RegionKind>) -> bool {
        let (start, len) = self.packet.get();
        let in_packet = kind.is_none_or(|k| k == RegionKind::Packet)
            && Region::contiguous(start, len, true, RegionKind::Packet).contains(addr, size);
        in_packet
            || self.regions().iter().any(|r| {
                r.contains(addr, size) && (r.writable || !write) && kind.is_none_or(|k| r.kind == k)
            })
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
