//! Programs on live traffic on FreeBSD: one pfil(9) hook per link on the
//! vnet's link-layer ("ethernet") head, which `ether_demux` runs for
//! every received Ethernet frame and `ether_output_frame` for every frame
//! sent, both with the frame starting at its Ethernet header.
//!
//! The head serves every Ethernet interface of the vnet, so a hook first
//! checks that the frame is on its own interface (held referenced for the
//! link's life: a destroyed interface's frames stop, its `ifnet` stays
//! until released). The frame runs in place when it is one writable,
//! mapped buffer; otherwise `m_defrag` copies it into fresh clusters
//! first (and a frame that still does not fit one cluster is dropped).
//!
//! pfil(9) and the interface lookups use vnet-scoped state, which a cdev
//! ioctl does not have selected; the module records the vnet `kldload`
//! ran in (the host's) and selects it around those calls, as
//! `CURVNET_SET` does.

use alloc::boxed::Box;
use core::ffi::{c_int, c_void, CStr};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use ebpf_core::attach::{run_hook, LiveFrame, Verdict};
use ebpf_core::platform::{Direction, NetDevice, NetHook};
use ebpf_core::Errno;

use crate::kpi::{self, Ifnet, Mbuf, Vnet};

/// The vnet the module was loaded in: where links find interfaces.
static MODULE_VNET: AtomicPtr<Vnet> = AtomicPtr::new(ptr::null_mut());

/// Numbers the hooks' rule names (`ebpf:link<n>` in `pfilctl hooks`).
static NEXT_RULE: AtomicU32 = AtomicU32::new(1);

/// Records the current thread's vnet (called at `MOD_LOAD`, which
/// `kern_kldload` runs inside `CURVNET_SET`).
pub fn remember_vnet() {
    MODULE_VNET.store(kpi::curvnet(), Ordering::Release);
}

/// The module's vnet selected on this thread while it lives.
struct CurVnet(*mut Vnet);

impl CurVnet {
    fn enter() -> CurVnet {
        // SAFETY: the vnet kldload ran in (the host's, which lives as long
        // as the kernel); restored when the guard drops.
        CurVnet(unsafe { kpi::curvnet_set(MODULE_VNET.load(Ordering::Acquire)) })
    }
}

impl Drop for CurVnet {
    fn drop(&mut self) {
        // SAFETY: what `enter` replaced.
        unsafe { kpi::curvnet_restore(self.0) };
    }
}

/// One attached hook.
struct PfilLink {
    /// pfil's handle of the hook.
    hook: *mut c_void,
    /// The interface, referenced.
    ifp: *mut Ifnet,
    ifindex: u32,
    direction: Direction,
    /// What `run_hook` runs.
    target: NonNull<c_void>,
    /// The hook's rule name, NUL-terminated.
    rulname: [u8; 24],
}

/// A referenced interface: by index, or when that is 0 by name.
fn lookup(ifindex: u32, name: &[u8]) -> Result<*mut Ifnet, Errno> {
    let ifp = if ifindex != 0 {
        kpi::ifnet_byindex_ref(ifindex)
    } else {
        let mut buf = [0u8; 17];
        if name.is_empty() || name.len() >= buf.len() || name.contains(&0) {
            return Err(Errno::ENODEV);
        }
        buf[..name.len()].copy_from_slice(name);
        let name = CStr::from_bytes_until_nul(&buf).map_err(|_| Errno::ENODEV)?;
        kpi::ifunit_ref(name)
    };
    if ifp.is_null() {
        Err(Errno::ENODEV)
    } else {
        Ok(ifp)
    }
}

/// [`ebpf_core::platform::Platform::net_device`].
pub fn device(ifindex: u32, name: &[u8]) -> Result<NetDevice, Errno> {
    let _vnet = CurVnet::enter();
    let ifp = lookup(ifindex, name)?;
    // SAFETY: referenced by `lookup`, released once here.
    let dev = unsafe {
        let dev = NetDevice {
            ifindex: kpi::if_getindex(ifp),
            key: ifp as u64,
        };
        kpi::if_rele(ifp);
        dev
    };
    Ok(dev)
}

fn rule_name(n: u32) -> [u8; 24] {
    let mut out = [0u8; 24];
    let prefix = b"link";
    out[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 10];
    let (mut v, mut len) = (n, 0);
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for (i, d) in digits[..len].iter().rev().enumerate() {
        out[prefix.len() + i] = *d;
    }
    out
}

/// [`ebpf_core::platform::Platform::net_attach`].
pub fn attach(
    device: &NetDevice,
    direction: Direction,
    target: NonNull<c_void>,
) -> Result<NetHook, Errno> {
    let _vnet = CurVnet::enter();
    let ifp = lookup(device.ifindex, &[])?;
    if ifp as u64 != device.key {
        // The index now names another interface.
        // SAFETY: referenced by `lookup`.
        unsafe { kpi::if_rele(ifp) };
        return Err(Errno::ENODEV);
    }
    let flags = match direction {
        Direction::Ingress => kpi::PFIL_IN,
        Direction::Egress => kpi::PFIL_OUT,
    };
    let link = Box::into_raw(Box::new(PfilLink {
        hook: ptr::null_mut(),
        ifp,
        ifindex: device.ifindex,
        direction,
        target,
        rulname: rule_name(NEXT_RULE.fetch_add(1, Ordering::Relaxed)),
    }));
    // SAFETY: `link` (the ruleset) and its rule name live until `detach`
    // (or the failure path below) removes the hook; the vnet is selected.
    unsafe {
        let hook = kpi::pfil_add_hook(
            flags,
            ebpf_pfil_check,
            link.cast(),
            (*link).rulname.as_ptr().cast(),
        );
        if hook.is_null() {
            kpi::if_rele(ifp);
            drop(Box::from_raw(link));
            return Err(Errno::ENOMEM);
        }
        (*link).hook = hook;
        let r = kpi::pfil_link_ethernet(hook, flags);
        if r != 0 {
            // Never linked: no frame can be in it.
            kpi::pfil_remove_hook(hook);
            kpi::if_rele(ifp);
            drop(Box::from_raw(link));
            // ENOENT: the vnet has no Ethernet head (no such hook here).
            return Err(if r == 2 {
                Errno::EOPNOTSUPP
            } else {
                Errno::from_freebsd(r)
            });
        }
        Ok(NetHook(NonNull::new_unchecked(link.cast())))
    }
}

/// [`ebpf_core::platform::Platform::net_detach`]: unlinks the hook, waits
/// until no thread is running it (pfil runs hooks inside the network
/// epoch), then releases the interface.
///
/// # Safety
/// `hook` came from [`attach`] and is not used afterwards.
pub unsafe fn detach(hook: NetHook) {
    // SAFETY: per the contract, the PfilLink `attach` leaked.
    let link = unsafe { Box::from_raw(hook.0.as_ptr().cast::<PfilLink>()) };
    {
        let _vnet = CurVnet::enter();
        // SAFETY: the hook `attach` added, removed once.
        unsafe { kpi::pfil_remove_hook(link.hook) };
    }
    kpi::net_epoch_wait();
    // SAFETY: the reference `attach` took.
    unsafe { kpi::if_rele(link.ifp) };
}

/// [`ebpf_core::platform::Platform::net_hook_ifindex`]: 0 once the
/// interface is being destroyed (its frames no longer reach the hook).
pub fn hook_ifindex(hook: &NetHook) -> u32 {
    // SAFETY: a live hook from `attach`; its interface is referenced.
    unsafe {
        let link = hook.0.cast::<PfilLink>().as_ref();
        if kpi::if_dying(link.ifp) {
            0
        } else {
            link.ifindex
        }
    }
}

/// The bytes an mbuf's data may occupy (`[start, end)`) when the program
/// can run on it in place: one mbuf, mapped, writable (not read-only and
/// not a cluster shared with another mbuf), its data inside its buffer.
///
/// # Safety
/// `m` is a live mbuf the caller owns.
unsafe fn runnable_room(m: *mut Mbuf) -> Option<(*mut u8, usize)> {
    // SAFETY: per the contract.
    let m = unsafe { &*m };
    let flags = m.m_type_flags >> 8;
    if !m.m_next.is_null() || flags & (kpi::M_RDONLY | kpi::M_EXTPG) != 0 {
        return None;
    }
    let base = m as *const Mbuf as *mut u8;
    let (start, size) = if flags & kpi::M_EXT != 0 {
        let ext = &m.m_ext;
        let refs = if (ext.ext_type_flags >> 8) & kpi::EXT_FLAG_EMBREF != 0 {
            ext.ext_cnt as u32
        } else if ext.ext_cnt == 0 {
            return None;
        } else {
            // SAFETY: a shared cluster's count, live while `m` holds it.
            unsafe { ptr::read_volatile(ext.ext_cnt as *const u32) }
        };
        if refs != 1 || ext.ext_buf.is_null() {
            return None;
        }
        (ext.ext_buf, ext.ext_size as usize)
    } else if flags & kpi::M_PKTHDR != 0 {
        // SAFETY: inside the MSIZE bytes of the mbuf.
        (
            unsafe { base.add(kpi::M_PKTDAT) },
            kpi::MSIZE - kpi::M_PKTDAT,
        )
    } else {
        // SAFETY: as above.
        (unsafe { base.add(kpi::M_DAT) }, kpi::MSIZE - kpi::M_DAT)
    };
    let offset = (m.m_data as usize).checked_sub(start as usize)?;
    let len = usize::try_from(m.m_len).ok()?;
    (offset.checked_add(len)? <= size).then_some((start, size))
}

/// Frees `*mp` and reports it dropped, as pfil(9) expects of a hook.
///
/// # Safety
/// `*mp` is the hook's live chain.
unsafe fn drop_frame(mp: *mut *mut Mbuf) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        kpi::m_freem(*mp);
        *mp = ptr::null_mut();
    }
    kpi::PFIL_DROPPED
}

/// The pfil(9) hook (`pfil_mbuf_chk_t`): runs the link's program on frames
/// of its interface and applies the verdict.
///
/// # Safety
/// Called by pfil(9) inside the network epoch with the ruleset `attach`
/// registered, which `detach` frees only after that epoch.
unsafe extern "C" fn ebpf_pfil_check(
    mp: *mut *mut Mbuf,
    ifp: *mut Ifnet,
    _flags: c_int,
    ruleset: *mut c_void,
    _inp: *mut c_void,
) -> c_int {
    // SAFETY: per the contract.
    let link = unsafe { &*ruleset.cast::<PfilLink>() };
    // SAFETY: pfil passes the chain it owns.
    if ifp != link.ifp || mp.is_null() || unsafe { (*mp).is_null() } {
        return kpi::PFIL_PASS;
    }
    let mut realloced = false;
    // SAFETY: `*mp` is the live chain the stack handed to the hook.
    let (room_start, room_len) = match unsafe { runnable_room(*mp) } {
        Some(room) => room,
        None => {
            // SAFETY: as above; m_defrag frees the old chain on success.
            let n = unsafe { kpi::m_defrag(*mp) };
            if n.is_null() {
                // SAFETY: the original chain, still ours.
                return unsafe { drop_frame(mp) };
            }
            // SAFETY: `n` replaces the chain the stack sees.
            unsafe { *mp = n };
            realloced = true;
            // SAFETY: the new chain is ours.
            match unsafe { runnable_room(n) } {
                Some(room) => room,
                // Larger than one cluster: not handed to the program.
                // SAFETY: as above.
                None => return unsafe { drop_frame(mp) },
            }
        }
    };
    // SAFETY: `*mp` is one mbuf whose data lies in `room`, writable and
    // not shared, untouched by anything else while the hook runs.
    let (m, room) = unsafe {
        (
            &mut **mp,
            core::slice::from_raw_parts_mut(room_start, room_len),
        )
    };
    let mut frame = LiveFrame {
        start: m.m_data as usize - room_start as usize,
        len: m.m_len as usize,
        room,
        ifindex: link.ifindex,
        rx_queue: 0,
    };
    // SAFETY: the target of a registered hook, on a frame nothing else
    // touches until this returns.
    let verdict = unsafe { run_hook(link.target, &mut frame) };
    let (start, len) = (frame.start, frame.len);
    // The program may have moved the packet's start and end (within room).
    // SAFETY: inside the buffer, as run_hook keeps them.
    m.m_data = unsafe { room_start.add(start) };
    m.m_len = len as i32;
    if (m.m_type_flags >> 8) & kpi::M_PKTHDR != 0 {
        m.m_pkthdr.len = len as i32;
    }
    match verdict {
        Verdict::Pass if realloced => kpi::PFIL_REALLOCED,
        Verdict::Pass => kpi::PFIL_PASS,
        Verdict::Tx if link.direction == Direction::Ingress => {
            // SAFETY: the chain is ours; if_transmit takes it, freeing it
            // on error.
            unsafe {
                let m = *mp;
                *mp = ptr::null_mut();
                kpi::if_transmit(ifp, m);
            }
            kpi::PFIL_CONSUMED
        }
        // SAFETY: the chain is ours.
        _ => unsafe { drop_frame(mp) },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rule_names_count_up() {
        assert_eq!(&super::rule_name(7)[..6], b"link7\0");
        assert_eq!(&super::rule_name(1234)[..9], b"link1234\0");
    }
}
