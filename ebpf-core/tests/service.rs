//! The device lifecycle every host shares (`dispatch::Service`): a device
//! from start to stop, open files counted, unload refused while one is
//! open, and nothing leaked.

mod common;

use common::platform::TestPlatform;
use ebpf_core::abi::{Command, IoctlArg, Plain, VersionReq};
use ebpf_core::dispatch::{Host, Limits, Privileges, Service};
use ebpf_core::Errno;

#[test]
fn the_device_lives_from_start_to_stop_and_stays_while_a_file_is_open() {
    let p = TestPlatform::new(2);
    let s = Service::new();
    assert_eq!(
        s.open(Privileges::default()).err(),
        Some(Errno::ENXIO),
        "no device yet"
    );
    s.start(p, Limits::default(), Host::Linux).unwrap();
    assert_eq!(
        s.start(p, Limits::default(), Host::Linux),
        Err(Errno::EBUSY),
        "one device per service"
    );
    let f = s.open(Privileges::default()).unwrap();
    let g = s.open(Privileges::default()).unwrap();
    assert!(s.busy());
    assert_eq!(s.stop(), Err(Errno::EBUSY), "unload refused while open");
    let mut version = VersionReq::default();
    let arg = IoctlArg {
        request: version.as_bytes_mut().as_mut_ptr() as u64,
        size: size_of::<VersionReq>() as u32,
        ..Default::default()
    };
    // SAFETY: `f` is open; `arg` points to a live request.
    unsafe { s.ioctl_arg(f, Command::Version.request(), &arg) }.unwrap();
    let text = String::from_utf8_lossy(&version.version);
    assert!(
        text.starts_with("ebpf-kmod ") && text.contains("(linux)"),
        "{text}"
    );
    // SAFETY: as above.
    assert_eq!(unsafe { s.ioctl_arg(f, 0x1234, &arg) }, Err(Errno::ENOTTY));
    // SAFETY: each file is released once and not used again.
    unsafe {
        s.release(f);
        assert!(s.busy(), "one file is still open");
        s.release(g);
    }
    assert!(!s.busy());
    s.stop().unwrap();
    assert!(s.get().is_none());
    p.assert_no_leaks();
}
