//! The memory objects come from: blocks of a few size classes, carved out
//! of chunks the device allocates in process context (when a program that
//! allocates objects loads, and before each test run), handed out and
//! taken back in program context without allocating. Running out is
//! `bpf_obj_new` returning NULL, as Linux's does when memory is short.

use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::errno::Errno;
use crate::platform::{AllocContext, LockClass, PlatformBuf, PlatformRef, SleepLock, SpinLock};

/// Bytes in front of each object: its type's index, its block's class and
/// where its reference count is (the graph's `Header`), then the link word.
pub const HEADER: usize = 16;
/// Where a free or retired block links the next one: the header's second
/// word, which no object uses, so that a retired block keeps what its
/// header says (a run that loaded its address before it was freed still
/// finds its type and its count, now zero).
const LINK: usize = 8;

/// The link word of the block at `block`.
fn link(block: usize) -> *mut usize {
    (block + LINK) as *mut usize
}
/// Block sizes (header included).
const CLASSES: [usize; 8] = [32, 64, 128, 256, 512, 1024, 2048, 4096];
/// Bytes of one chunk.
const CHUNK: usize = 64 << 10;
/// Bytes of chunks one device may hold.
pub const MAX_POOL_BYTES: usize = 16 << 20;
/// Chunks one device may hold.
const MAX_CHUNKS: usize = MAX_POOL_BYTES / CHUNK;
/// Objects the pool can ever hold (of the smallest class).
pub const MAX_OBJECTS: usize = MAX_POOL_BYTES / CLASSES[0];
/// Free blocks of a class a top-up aims for.
pub const TOP_UP: usize = 1024;

/// A class's free blocks: a list through their first word; and its
/// retired ones, freed but not to be handed out again before every run
/// that may still read them has ended ([`Pool::retire`]).
#[derive(Default)]
struct FreeList {
    head: usize,
    free: usize,
    retired: usize,
    nr_retired: usize,
}

/// The pool.
pub struct Pool {
    platform: PlatformRef,
    free: Vec<SpinLock<FreeList>>,
    chunks: SleepLock<Vec<PlatformBuf>>,
    /// Each chunk's address with its class in the low bits (chunks are
    /// 8-aligned, classes fewer than 8), the first `nr_spans` written
    /// once, before any of the chunk's blocks is handed out: where
    /// [`block_of`](Pool::block_of) finds a block from any of its bytes in
    /// program context, without a lock.
    spans: Vec<AtomicUsize>,
    nr_spans: AtomicUsize,
}

/// The class of blocks that hold `size` bytes of object.
pub fn class_of(size: usize) -> Option<usize> {
    let need = size.checked_add(HEADER)?;
    CLASSES.iter().position(|&c| c >= need)
}

impl Pool {
    /// An empty pool.
    pub fn new(platform: PlatformRef) -> Result<Pool, Errno> {
        let mut free = Vec::new();
        free.try_reserve_exact(CLASSES.len())
            .map_err(|_| Errno::ENOMEM)?;
        for _ in CLASSES {
            free.push(SpinLock::new(
                platform,
                LockClass::ObjectPool,
                FreeList::default(),
            )?);
        }
        let mut spans = Vec::new();
        spans
            .try_reserve_exact(MAX_CHUNKS)
            .map_err(|_| Errno::ENOMEM)?;
        spans.resize_with(MAX_CHUNKS, || AtomicUsize::new(0));
        Ok(Pool {
            platform,
            free,
            chunks: SleepLock::new(platform, LockClass::ObjectChunks, Vec::new())?,
            spans,
            nr_spans: AtomicUsize::new(0),
        })
    }

    /// Free blocks of `class`.
    pub fn free_blocks(&self, class: usize) -> usize {
        self.free.get(class).map_or(0, |f| f.lock().free)
    }

    /// Blocks of `class` not in use: free, or retired and awaiting a grace
    /// period.
    pub fn idle_blocks(&self, class: usize) -> usize {
        self.free.get(class).map_or(0, |f| {
            let list = f.lock();
            list.free + list.nr_retired
        })
    }

    /// Keeps blocks of `class` free for runs (process context): when fewer
    /// than half of `want` are, makes the retired ones free again (one
    /// grace period for all of them) and allocates chunks until `want`
    /// are, within [`MAX_POOL_BYTES`]; `ENOMEM` when that is reached or
    /// memory is short. (The half keeps grace periods rare: a program
    /// that frees a counted object each run waits for one every few
    /// hundred runs, not every run.)
    pub fn top_up(&self, class: usize, want: usize) -> Result<(), Errno> {
        let size = *CLASSES.get(class).ok_or(Errno::EINVAL)?;
        if self.free_blocks(class) >= want / 2 && self.free_blocks(class) > 0 {
            return Ok(());
        }
        let mut chunks = self.chunks.lock();
        self.recycle(class);
        while self.free_blocks(class) < want {
            if (chunks.len() + 1) * CHUNK > MAX_POOL_BYTES {
                return Err(Errno::ENOMEM);
            }
            chunks.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            let chunk = PlatformBuf::new(self.platform, CHUNK, AllocContext::MaySleep)?;
            let base = chunk.as_ptr() as usize;
            if base % 8 != 0 {
                return Err(Errno::ENOMEM);
            }
            chunks.push(chunk);
            // Published before its blocks: whoever gets one (through the
            // free list's lock) sees the span.
            let n = self.nr_spans.load(Ordering::Relaxed);
            self.spans[n].store(base | class, Ordering::Relaxed);
            self.nr_spans.store(n + 1, Ordering::Release);
            let mut list = self.free[class].lock();
            for i in 0..CHUNK / size {
                let block = base + i * size;
                // SAFETY: the block lies in the chunk just allocated, owned by
                // the pool, 8-aligned (chunks are, sizes are multiples of 8).
                unsafe { link(block).write(list.head) };
                list.head = block;
                list.free += 1;
            }
        }
        Ok(())
    }

    /// A zeroed block of `class`, if one is free (program context).
    pub fn alloc(&self, class: usize) -> Option<NonNull<u8>> {
        let size = *CLASSES.get(class)?;
        let block = {
            let mut list = self.free[class].lock();
            let block = list.head;
            if block == 0 {
                return None;
            }
            // SAFETY: a free block's link word links the next free one.
            list.head = unsafe { link(block).read() };
            list.free -= 1;
            block
        };
        // SAFETY: the block is ours now, `size` bytes of a live chunk.
        unsafe { core::ptr::write_bytes(block as *mut u8, 0, size) };
        NonNull::new(block as *mut u8)
    }

    /// The block (and its class) holding address `addr` of a live object,
    /// found among the chunks (program context too).
    pub fn block_of(&self, addr: usize) -> Option<(NonNull<u8>, usize)> {
        let n = self.nr_spans.load(Ordering::Acquire);
        self.spans[..n].iter().find_map(|span| {
            let span = span.load(Ordering::Relaxed);
            let (base, class) = (span & !7, span & 7);
            let at = addr.checked_sub(base).filter(|&at| at < CHUNK)?;
            let size = CLASSES[class];
            NonNull::new((base + at / size * size) as *mut u8).map(|b| (b, class))
        })
    }

    /// Makes the retired blocks of `class` free again, once every run
    /// that may still read them has ended (process context: waits for a
    /// grace period).
    fn recycle(&self, class: usize) {
        let retired = {
            let mut list = self.free[class].lock();
            list.nr_retired = 0;
            core::mem::take(&mut list.retired)
        };
        if retired == 0 {
            return;
        }
        self.platform.synchronize();
        let mut list = self.free[class].lock();
        let mut block = retired;
        // Bounded: a chain of blocks this class's chunks hold.
        for _ in 0..MAX_OBJECTS {
            if block == 0 {
                break;
            }
            // SAFETY: a retired block's link word links the next one.
            let next = unsafe { link(block).read() };
            // SAFETY: the block is the pool's; no run reads it any more.
            unsafe { link(block).write(list.head) };
            list.head = block;
            list.free += 1;
            block = next;
        }
    }

    /// Takes back a block of `class` that runs may still read through a
    /// pointer they loaded before it was freed (an object a kptr held,
    /// Linux's RCU-freed objects): handed out again only after a grace
    /// period (program context too).
    ///
    /// # Safety
    /// As for [`free`](Self::free).
    pub unsafe fn retire(&self, block: NonNull<u8>, class: usize) {
        let mut list = self.free[class].lock();
        // SAFETY: per the contract the block is ours to link.
        unsafe { link(block.as_ptr() as usize).write(list.retired) };
        list.retired = block.as_ptr() as usize;
        list.nr_retired += 1;
    }

    /// Takes back a block of `class` (program context too).
    ///
    /// # Safety
    /// `block` came from [`alloc`](Self::alloc) of this pool with `class`
    /// and is not used afterwards.
    pub unsafe fn free(&self, block: NonNull<u8>, class: usize) {
        let mut list = self.free[class].lock();
        // SAFETY: per the contract the block is ours to link.
        unsafe { link(block.as_ptr() as usize).write(list.head) };
        list.head = block.as_ptr() as usize;
        list.free += 1;
    }
}
