//! The memory objects come from: blocks of a few size classes, carved out
//! of chunks the device allocates in process context (when a program that
//! allocates objects loads, and before each test run), handed out and
//! taken back in program context without allocating. Running out is
//! `bpf_obj_new` returning NULL, as Linux's does when memory is short.

use alloc::vec::Vec;
use core::ptr::NonNull;

use crate::errno::Errno;
use crate::platform::{AllocContext, LockClass, PlatformBuf, PlatformRef, SleepLock, SpinLock};

/// Bytes in front of each object: its type's index and its block's class.
pub const HEADER: usize = 16;
/// Block sizes (header included).
const CLASSES: [usize; 8] = [32, 64, 128, 256, 512, 1024, 2048, 4096];
/// Bytes of one chunk.
const CHUNK: usize = 64 << 10;
/// Bytes of chunks one device may hold.
pub const MAX_POOL_BYTES: usize = 16 << 20;
/// Objects the pool can ever hold (of the smallest class).
pub const MAX_OBJECTS: usize = MAX_POOL_BYTES / CLASSES[0];
/// Free blocks of a class a top-up aims for.
pub const TOP_UP: usize = 1024;

/// A class's free blocks: a list through their first word.
#[derive(Default)]
struct FreeList {
    head: usize,
    free: usize,
}

/// The pool.
pub struct Pool {
    platform: PlatformRef,
    free: Vec<SpinLock<FreeList>>,
    chunks: SleepLock<Vec<PlatformBuf>>,
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
        Ok(Pool {
            platform,
            free,
            chunks: SleepLock::new(platform, LockClass::ObjectChunks, Vec::new())?,
        })
    }

    /// Free blocks of `class`.
    pub fn free_blocks(&self, class: usize) -> usize {
        self.free.get(class).map_or(0, |f| f.lock().free)
    }

    /// Makes at least `want` blocks of `class` free, allocating chunks
    /// (process context) within [`MAX_POOL_BYTES`]; `ENOMEM` when that is
    /// reached or memory is short.
    pub fn top_up(&self, class: usize, want: usize) -> Result<(), Errno> {
        let size = *CLASSES.get(class).ok_or(Errno::EINVAL)?;
        let mut chunks = self.chunks.lock();
        while self.free_blocks(class) < want {
            if (chunks.len() + 1) * CHUNK > MAX_POOL_BYTES {
                return Err(Errno::ENOMEM);
            }
            chunks.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            let chunk = PlatformBuf::new(self.platform, CHUNK, AllocContext::MaySleep)?;
            let base = chunk.as_ptr() as usize;
            chunks.push(chunk);
            let mut list = self.free[class].lock();
            for i in 0..CHUNK / size {
                let block = base + i * size;
                // SAFETY: the block lies in the chunk just allocated, owned by
                // the pool, 8-aligned (chunks are, sizes are multiples of 8).
                unsafe { (block as *mut usize).write(list.head) };
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
            // SAFETY: a free block's first word links the next free one.
            list.head = unsafe { (block as *const usize).read() };
            list.free -= 1;
            block
        };
        // SAFETY: the block is ours now, `size` bytes of a live chunk.
        unsafe { core::ptr::write_bytes(block as *mut u8, 0, size) };
        NonNull::new(block as *mut u8)
    }

    /// Takes back a block of `class` (program context too).
    ///
    /// # Safety
    /// `block` came from [`alloc`](Self::alloc) of this pool with `class`
    /// and is not used afterwards.
    pub unsafe fn free(&self, block: NonNull<u8>, class: usize) {
        let mut list = self.free[class].lock();
        // SAFETY: per the contract the block is ours to link.
        unsafe { (block.as_ptr() as *mut usize).write(list.head) };
        list.head = block.as_ptr() as usize;
        list.free += 1;
    }
}
