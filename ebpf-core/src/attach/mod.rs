//! Programs on live traffic: links between an XDP program and an
//! interface's ingress or egress, in the spirit of Linux's
//! `BPF_LINK_CREATE` for XDP.
//!
//! A [`Link`] is an object of the device like a map or a program: it has
//! an id, handles and pins; the last of them gone, it detaches. The OS's
//! packet hook ([`crate::platform::Platform::net_attach`]: a netfilter
//! netdev hook on Linux, software ports in the embedded backend; none yet
//! in the FreeBSD kld) calls [`run_hook`] for every
//! frame, which runs the program on the frame in place, on the current
//! CPU, inside a read-side section, and returns its [`Verdict`].
//!
//! One link per interface and direction: a second attach fails with
//! `EBUSY` unless it asks to replace the first, which then hands its hook
//! over (the program is swapped atomically: no frame goes unfiltered) and
//! is left detached, as a link whose interface went away is.

mod hook;

pub use hook::{run_hook, HookTarget, LiveFrame, Verdict, VERDICTS};

use core::ptr::NonNull;

use crate::abi;
use crate::errno::Errno;
use crate::helpers::ids;
use crate::opcode::{BPF_CALL, BPF_JMP};
use crate::platform::{Direction, LockClass, NetDevice, NetHook, PlatformRef, SleepLock};
use crate::prog_type::ProgType;
use crate::runtime::LoadedProgram;
use crate::shared::Shared;

/// A registered hook and what it calls.
struct Attached {
    hook: NetHook,
    target: Shared<HookTarget>,
}

/// What a link holds, changed under its lock.
struct State {
    attached: Option<Attached>,
    /// The program while attached (the target holds its own reference).
    program: Option<Shared<LoadedProgram>>,
    /// Counters when it was detached (they live in the target).
    final_verdicts: [u64; VERDICTS],
}

/// A program attached to the traffic of one interface in one direction.
pub struct Link {
    id: u32,
    platform: PlatformRef,
    device: NetDevice,
    direction: Direction,
    prog_id: u32,
    state: SleepLock<State>,
}

/// Whether `prog` may run in a packet hook: an XDP program that does not
/// ask for redirects, which the hooks do not offer (`EOPNOTSUPP`; any
/// other type, or an XDP program meant for devmap or cpumap entries:
/// `EINVAL`, as Linux refuses them).
pub fn check_attachable(prog: &LoadedProgram) -> Result<(), Errno> {
    if prog.prog_type() != ProgType::Xdp || prog.attach().runs_from_map_entry() {
        return Err(Errno::EINVAL);
    }
    let redirects = prog.program().insns().iter().any(|i| {
        i.opcode == BPF_JMP | BPF_CALL
            && i.src == 0
            && matches!(i.imm as u32, ids::REDIRECT | ids::REDIRECT_MAP)
    });
    if redirects {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}

impl Link {
    /// Attaches `program` to `device` in `direction` (the caller made sure
    /// no live link is there and the program passes
    /// [`check_attachable`]).
    pub(crate) fn attach(
        platform: PlatformRef,
        id: u32,
        program: Shared<LoadedProgram>,
        device: NetDevice,
        direction: Direction,
    ) -> Result<Link, Errno> {
        let link = Link::detached(platform, id, program.id(), device, direction)?;
        let target = HookTarget::new(platform, program.clone())?;
        let ptr = NonNull::from(&*target).cast();
        let hook = platform.net_attach(&device, direction, ptr)?;
        let mut state = link.state.lock();
        state.attached = Some(Attached { hook, target });
        state.program = Some(program);
        drop(state);
        Ok(link)
    }

    /// A link that takes `old`'s hook over, running `program` from now on
    /// (atomically: every frame runs either program), and its counters,
    /// which go on from where they were. `old` is left detached; its
    /// program is returned (the caller drops its use).
    pub(crate) fn replace(
        old: &Link,
        id: u32,
        program: Shared<LoadedProgram>,
    ) -> Result<(Link, Option<Shared<LoadedProgram>>), Errno> {
        let link = Link::detached(old.platform, id, program.id(), old.device, old.direction)?;
        let mut state = old.state.lock();
        let attached = state.attached.take().ok_or(Errno::ENOLINK)?;
        drop(attached.target.replace(program.clone()));
        state.final_verdicts = attached.target.verdicts();
        let old_program = state.program.take();
        drop(state);
        let mut state = link.state.lock();
        state.attached = Some(attached);
        state.program = Some(program);
        drop(state);
        Ok((link, old_program))
    }

    /// A link not attached (yet).
    fn detached(
        platform: PlatformRef,
        id: u32,
        prog_id: u32,
        device: NetDevice,
        direction: Direction,
    ) -> Result<Link, Errno> {
        let state = State {
            attached: None,
            program: None,
            final_verdicts: [0; VERDICTS],
        };
        Ok(Link {
            id,
            platform,
            device,
            direction,
            prog_id,
            state: SleepLock::new(platform, LockClass::LinkState, state)?,
        })
    }

    /// Its id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The interface it was attached to.
    pub fn device(&self) -> NetDevice {
        self.device
    }

    /// Its direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Whether its hook is still registered on a live interface.
    pub fn is_live(&self) -> bool {
        let state = self.state.lock();
        state
            .attached
            .as_ref()
            .is_some_and(|a| self.platform.net_hook_ifindex(&a.hook) != 0)
    }

    /// Removes the hook (when this returns no frame runs the program);
    /// returns the program it ran, `None` if already detached.
    pub(crate) fn detach(&self) -> Option<Shared<LoadedProgram>> {
        let mut state = self.state.lock();
        let attached = state.attached.take()?;
        // SAFETY: the hook came from net_attach and is given up here.
        unsafe { self.platform.net_detach(attached.hook) };
        state.final_verdicts = attached.target.verdicts();
        drop(attached.target);
        state.program.take()
    }

    /// What `GET_INFO` reports.
    pub fn info(&self) -> abi::LinkInfo {
        let state = self.state.lock();
        let (ifindex, verdicts) = match &state.attached {
            Some(a) => (self.platform.net_hook_ifindex(&a.hook), a.target.verdicts()),
            None => (0, state.final_verdicts),
        };
        abi::LinkInfo {
            link_type: abi::LINK_TYPE_NETDEV,
            id: self.id,
            prog_id: self.prog_id,
            ifindex,
            direction: self.direction as u32,
            attached_ifindex: self.device.ifindex,
            verdicts,
        }
    }
}

impl Drop for Link {
    /// A link dropped attached (the device going away) detaches.
    fn drop(&mut self) {
        let _ = self.detach();
    }
}
