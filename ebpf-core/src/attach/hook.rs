//! The hot path of an attached program: a frame of live traffic, handed
//! over by the OS's packet hook, run through the program in place.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use crate::errno::Errno;
use crate::interp::Stack;
use crate::memory::MemoryMap;
use crate::platform::{PlatformRef, ReadGuard};
use crate::prog_type::XdpContext;
use crate::runtime::LoadedProgram;
use crate::shared::Shared;

/// What an XDP program's return value asks of the hook (Linux's
/// `enum xdp_action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Verdict {
    /// `XDP_ABORTED`: the program failed; the frame is dropped.
    Aborted = 0,
    /// `XDP_DROP`.
    Drop = 1,
    /// `XDP_PASS`: on to the network stack (or the interface).
    Pass = 2,
    /// `XDP_TX`: back out of the interface it arrived on.
    Tx = 3,
    /// `XDP_REDIRECT`: not offered by the hooks (programs that call the
    /// redirect helpers are refused at attach); dropped.
    Redirect = 4,
}

impl Verdict {
    /// The verdict a program's `r0` names; anything else is
    /// [`Verdict::Aborted`], as Linux treats an unknown action.
    pub fn from_return(r0: u64) -> Verdict {
        match r0 {
            1 => Verdict::Drop,
            2 => Verdict::Pass,
            3 => Verdict::Tx,
            4 => Verdict::Redirect,
            _ => Verdict::Aborted,
        }
    }
}

/// Number of [`Verdict`]s.
pub const VERDICTS: usize = 5;

/// A frame of live traffic: the buffer the OS keeps it in and where the
/// packet lies in it. The hook's program may rewrite the packet in place
/// and move its start and end inside `room`; [`run_hook`] updates `start`
/// and `len` accordingly.
pub struct LiveFrame<'a> {
    /// The bytes the packet may occupy: headroom, the packet, tailroom.
    pub room: &'a mut [u8],
    /// Offset of the packet's first byte (the link-layer header) in `room`.
    pub start: usize,
    /// Its length.
    pub len: usize,
    /// Index of the interface the frame arrived on (or leaves by).
    pub ifindex: u32,
    /// Receive queue (0 where the OS does not say).
    pub rx_queue: u32,
}

/// Counters of one CPU, on their own cache line.
#[repr(align(64))]
#[derive(Default)]
struct CpuCounters {
    verdicts: [AtomicU64; VERDICTS],
}

/// What one CPU runs the program with.
struct CpuSlot {
    /// A run is using the slot.
    busy: AtomicBool,
    stack: UnsafeCell<Box<Stack>>,
    counters: CpuCounters,
}

// SAFETY: the stack is used only by the run that set `busy` (see
// `HookTarget::run`); the rest is atomic.
unsafe impl Sync for CpuSlot {}

/// What an OS hook calls: the attached program and one run slot per CPU.
/// Lives at a fixed address (inside a [`Shared`]) for as long as the hook
/// is registered.
pub struct HookTarget {
    platform: PlatformRef,
    /// Owns one reference (`Shared::into_raw`); swapped by
    /// [`replace`](Self::replace), freed a grace period later.
    program: AtomicPtr<LoadedProgram>,
    cpus: Vec<CpuSlot>,
    /// Frames that found every slot busy.
    nested: AtomicU64,
}

impl HookTarget {
    /// A target running `program` on up to `platform.possible_cpus()` CPUs.
    pub(crate) fn new(
        platform: PlatformRef,
        program: Shared<LoadedProgram>,
    ) -> Result<Shared<HookTarget>, Errno> {
        let n = platform.possible_cpus().max(1) as usize;
        let mut cpus = Vec::new();
        cpus.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
        for _ in 0..n {
            cpus.push(CpuSlot {
                busy: AtomicBool::new(false),
                stack: UnsafeCell::new(Stack::try_new_boxed().ok_or(Errno::ENOMEM)?),
                counters: CpuCounters::default(),
            });
        }
        Shared::try_new(HookTarget {
            platform,
            program: AtomicPtr::new(Shared::into_raw(program).cast_mut()),
            cpus,
            nested: AtomicU64::new(0),
        })
    }

    /// Runs `program` from now on; the previous program is released once
    /// no frame can be running it. Called in process context.
    pub(crate) fn replace(&self, program: Shared<LoadedProgram>) -> Shared<LoadedProgram> {
        let new = Shared::into_raw(program).cast_mut();
        let old = self.program.swap(new, Ordering::AcqRel);
        self.platform.synchronize();
        // SAFETY: `old` was the reference the pointer owned (`new` or a
        // previous `replace`); after the grace period no run borrows it.
        unsafe { Shared::from_raw(old) }
    }

    /// Frames counted per [`Verdict`] (summed over CPUs; nested frames
    /// count as aborted).
    pub fn verdicts(&self) -> [u64; VERDICTS] {
        let mut sum = [0u64; VERDICTS];
        for slot in &self.cpus {
            for (s, c) in sum.iter_mut().zip(&slot.counters.verdicts) {
                *s = s.wrapping_add(c.load(Ordering::Relaxed));
            }
        }
        sum[Verdict::Aborted as usize] =
            sum[Verdict::Aborted as usize].wrapping_add(self.nested.load(Ordering::Relaxed));
        sum
    }

    /// Runs the program on `frame` (on the current CPU, inside a read-side
    /// section) and counts the verdict.
    fn run(&self, frame: &mut LiveFrame<'_>) -> Verdict {
        let section = ReadGuard::new(self.platform);
        // This CPU's slot; taken (a frame nested in a run on this CPU, or,
        // in userspace, a thread preempted mid-run): the next free one.
        let n = self.cpus.len();
        let cpu = self.platform.cpu_id() as usize % n;
        let Some(slot) = (0..n)
            .map(|i| &self.cpus[(cpu + i) % n])
            .find(|s| !s.busy.swap(true, Ordering::Acquire))
        else {
            self.nested.fetch_add(1, Ordering::Relaxed);
            return Verdict::Aborted;
        };
        // SAFETY: `busy` gives this run the slot's stack alone until it
        // is released below.
        let stack = unsafe { &mut **slot.stack.get() };
        // SAFETY: the pointer holds a reference (see `program`) that
        // `replace` drops only a grace period after swapping it out, and
        // this run is inside a read-side section.
        let program = unsafe { &*self.program.load(Ordering::Acquire) };
        let verdict = run_frame(program, &section, stack, frame);
        slot.busy.store(false, Ordering::Release);
        slot.counters.verdicts[verdict as usize].fetch_add(1, Ordering::Relaxed);
        verdict
    }
}

impl Drop for HookTarget {
    fn drop(&mut self) {
        // SAFETY: the pointer owns one reference (see `program`); the
        // target is dropped only after its hook is gone.
        drop(unsafe { Shared::from_raw(*self.program.get_mut()) });
    }
}

/// Runs `prog` (an XDP program) on `frame` inside `section`.
fn run_frame(
    prog: &LoadedProgram,
    section: &ReadGuard,
    stack: &mut Stack,
    frame: &mut LiveFrame<'_>,
) -> Verdict {
    let mut input = XdpContext::live_input(frame.ifindex, frame.rx_queue);
    let base = frame.room.as_ptr() as u64;
    let room_len = frame.room.len();
    let r0 = {
        let mut mem = MemoryMap::new();
        let Ok(args) = input.args_in(&mut mem, frame.room, frame.start, frame.len, 0) else {
            return Verdict::Aborted;
        };
        prog.run_in(section, stack, &mem, args)
    };
    let Ok(r0) = r0 else {
        return Verdict::Aborted;
    };
    if let Some((_, data, end)) = input.packet_after(base, room_len) {
        frame.start = data;
        frame.len = end - data;
    }
    Verdict::from_return(r0)
}

/// The entry an OS packet hook calls for every frame: runs the program of
/// the link whose target is `target` on `frame` and returns its verdict,
/// which the hook applies (drop, pass, or send back). `frame.start` and
/// `frame.len` are updated where the program moved the packet.
///
/// # Safety
/// `target` is the pointer given to [`crate::platform::Platform::net_attach`]
/// for a hook that is still registered (so the target is alive), and the
/// call is made in the hook, with the frame's buffer not touched by
/// anything else until it returns.
pub unsafe fn run_hook(target: NonNull<c_void>, frame: &mut LiveFrame<'_>) -> Verdict {
    // SAFETY: per the contract, a live HookTarget.
    let target = unsafe { target.cast::<HookTarget>().as_ref() };
    target.run(frame)
}
