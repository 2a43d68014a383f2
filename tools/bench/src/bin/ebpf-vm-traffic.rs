//! Live traffic for the VM test: TCP SYNs sent to 10.0.0.2 (a raw IPv4
//! socket: the packets take the route, hence the veth pair, and leave as
//! Ethernet frames), and the port filter on the receiving end of the pair
//! measured side by side, attached through `/dev/ebpf` and as Linux's own
//! generic XDP.
//!
//! ```text
//! ebpf-vm-traffic send PORT COUNT
//!     COUNT SYNs from 10.0.0.1 to 10.0.0.2:PORT.
//! ebpf-vm-traffic compare NETNS SERVER_IF OBJECT DEVICE SECONDS ROUNDS
//!     Frames per second through SERVER_IF (in the network namespace at
//!     path NETNS) for SECONDS: with no program, and with a drop-everything
//!     program and OBJECT's first program (the port filter), each attached
//!     through DEVICE and as generic XDP through bpf(2); ROUNDS rounds,
//!     medians.
//! ```

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use ebpf_bench::median;
use libebpf_ioctl::elf::BpfObject;
use libebpf_ioctl::{Direction, Ebpf, Interface};

/// Where the frames come from and go to.
const SRC_IP: [u8; 4] = [10, 0, 0, 1];
const DST_IP: [u8; 4] = [10, 0, 0, 2];
/// The port the flood goes to: dropped and counted by the port filter.
const FLOOD_PORT: u16 = 80;

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet with a TCP SYN from SRC_IP:`sport` to DST_IP:`port`,
/// valid checksums.
fn syn(sport: u16, port: u16) -> Vec<u8> {
    let mut f = vec![0u8; 20 + 20];
    let ip = &mut f[0..20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&SRC_IP);
    ip[16..20].copy_from_slice(&DST_IP);
    let c = checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut f[20..40];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&port.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    tcp[14..16].copy_from_slice(&1024u16.to_be_bytes());
    let mut pseudo = Vec::with_capacity(12 + 20);
    pseudo.extend_from_slice(&SRC_IP);
    pseudo.extend_from_slice(&DST_IP);
    pseudo.extend_from_slice(&[0, 6, 0, 20]);
    pseudo.extend_from_slice(tcp);
    let c = checksum(&pseudo);
    f[20 + 16..20 + 18].copy_from_slice(&c.to_be_bytes());
    f
}

fn ifindex(name: &str) -> Result<u32, String> {
    let c = CString::new(name).map_err(|_| format!("`{name}`: bad name"))?;
    // SAFETY: a NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(format!("no interface {name}")),
        i => Ok(i),
    }
}

/// A raw IPv4 socket sending our packets (the kernel fills in the IP
/// checksum and routes them).
struct Sender {
    fd: OwnedFd,
    to: libc::sockaddr_in,
}

impl Sender {
    fn new() -> Result<Self, String> {
        // SAFETY: plain call; IPPROTO_RAW: we give the IP header.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: a fresh fd we own.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        // SAFETY: all-zero is a valid sockaddr_in.
        let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        to.sin_family = libc::AF_INET as u16;
        to.sin_addr.s_addr = u32::from_ne_bytes(DST_IP);
        Ok(Sender { fd, to })
    }

    fn send(&self, packet: &[u8]) -> Result<(), String> {
        // SAFETY: `packet` is valid for its length, `to` is a sockaddr_in
        // of the size passed.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&self.to as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as u32,
            )
        };
        if r < 0 {
            return Err(format!("send: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Sends SYNs to FLOOD_PORT for `time`; returns how many and how long
    /// it took.
    fn flood(&self, time: Duration) -> Result<(u64, Duration), String> {
        let packets: Vec<Vec<u8>> = (0..64).map(|i| syn(40000 + i, FLOOD_PORT)).collect();
        let start = Instant::now();
        let mut sent = 0u64;
        loop {
            for p in &packets {
                self.send(p)?;
            }
            sent += packets.len() as u64;
            if start.elapsed() >= time {
                return Ok((sent, start.elapsed()));
            }
        }
    }
}

/// Enters the network namespace `ns` (this thread).
fn enter(ns: &File) -> Result<(), String> {
    // SAFETY: a namespace fd; affects this (only) thread.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
        return Err(format!("setns: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn send(args: &[String]) -> Result<(), String> {
    let [port, count] = args else {
        return Err("usage: ebpf-vm-traffic send PORT COUNT".into());
    };
    let port: u16 = port.parse().map_err(|_| format!("`{port}`: not a port"))?;
    let count: u32 = count.parse().map_err(|_| format!("`{count}`: bad count"))?;
    let s = Sender::new()?;
    for i in 0..count {
        s.send(&syn(30000 + (i % 30000) as u16, port))?;
    }
    println!("sent {count} SYNs to port {port}");
    Ok(())
}

/// The drop count of port FLOOD_PORT in the port filter's map.
fn ours_count(e: &Ebpf, map: u32) -> u64 {
    let mut v = [0u8; 8];
    e.map_lookup(map, &FLOOD_PORT.to_ne_bytes(), &mut v, 0)
        .map_or(0, |()| u64::from_ne_bytes(v))
}

fn linux_count(map: &host_bpf::Map) -> u64 {
    let mut v = [0u8; 8];
    map.lookup(&FLOOD_PORT.to_ne_bytes(), &mut v)
        .map_or(0, |()| u64::from_ne_bytes(v))
}

/// A drop-everything XDP program (`r0 = XDP_DROP`), as 8-byte slots.
const DROP_ALL: [u8; 16] = [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];

fn compare(args: &[String]) -> Result<(), String> {
    let [netns, server_if, object, device, seconds, rounds] = args else {
        return Err(
            "usage: ebpf-vm-traffic compare NETNS SERVER_IF OBJECT DEVICE SECONDS ROUNDS".into(),
        );
    };
    let time = Duration::from_secs_f64(seconds.parse().map_err(|_| "bad SECONDS")?);
    let rounds: usize = rounds.parse().map_err(|_| "bad ROUNDS")?;
    let home = File::open("/proc/self/ns/net").map_err(|e| format!("own netns: {e}"))?;
    let server = File::open(netns).map_err(|e| format!("{netns}: {e}"))?;
    let bytes = std::fs::read(object).map_err(|e| format!("{object}: {e}"))?;
    let obj = BpfObject::parse(&bytes).map_err(|e| e.to_string())?;
    let e = Ebpf::device(Path::new(device)).map_err(|e| format!("{device}: {e}"))?;
    let (filter, maps) = ebpf_bench::load_first_with_maps(&e, &obj);
    let map = maps[0];
    let drop_all = e
        .prog_load(&libebpf_ioctl::ProgSpec {
            name: "drop_all",
            prog_type: ebpf_core::ProgType::Xdp as u32,
            bytecode: &DROP_ALL,
            license: "GPL",
            maps: &[],
            obj_types: &[],
        })
        .map_err(|e| e.to_string())?;
    let host_maps = ebpf_bench::host_maps(&obj)?;
    let linux_filter = ebpf_bench::host_program(&obj.programs[0], &host_maps, 0)?;
    let linux_drop_all = host_bpf::Program::load(host_bpf::PROG_TYPE_XDP, &DROP_ALL, 0)
        .map_err(|e| e.to_string())?;
    let sender = Sender::new()?;

    // Frames per second: with no program; the drop-everything program and
    // the port filter through our hook and as generic XDP. Every frame is
    // dropped by the program and counted (the filter's map, our link's
    // drop count) but Linux's drop-everything program's.
    let mut rates: [Vec<f64>; 5] = Default::default();
    let rate = |sent: u64, took: Duration| sent as f64 / took.as_secs_f64();
    for _ in 0..rounds {
        let (sent, took) = sender.flood(time)?;
        rates[0].push(rate(sent, took));
        for (at, prog) in [(1, drop_all), (2, filter)] {
            enter(&server)?;
            let link = e
                .link_create(prog, &Interface::Name(server_if), Direction::Ingress, false)
                .map_err(|e| e.to_string())?;
            enter(&home)?;
            let drops = |e: &Ebpf| e.link_info(link).map_or(0, |i| i.verdicts[1]);
            let (before, in_map) = (drops(&e), ours_count(&e, map));
            let (sent, took) = sender.flood(time)?;
            let seen = drops(&e) - before;
            let counted = ours_count(&e, map) - in_map;
            e.close(link).map_err(|e| e.to_string())?;
            // Stray frames the kernel sends meanwhile (IPv6 neighbour
            // discovery) reach the hook too: the drop-everything program
            // drops them as well, the filter passes them.
            if seen < sent || (prog == filter && (counted != sent || seen != sent)) {
                return Err(format!(
                    "/dev/ebpf: sent {sent} frames, the hook dropped {seen}, the map counted {counted}"
                ));
            }
            rates[at].push(rate(sent, took));
        }
        for (at, prog) in [(3, &linux_drop_all), (4, &linux_filter)] {
            enter(&server)?;
            let index = ifindex(server_if)?;
            let xdp = prog
                .attach_xdp(index, host_bpf::XDP_FLAGS_SKB_MODE)
                .map_err(|e| format!("bpf(2) XDP attach: {e}"))?;
            enter(&home)?;
            let before = linux_count(&host_maps[0]);
            let (sent, took) = sender.flood(time)?;
            let counted = linux_count(&host_maps[0]) - before;
            drop(xdp);
            if at == 4 && counted != sent {
                return Err(format!(
                    "generic XDP: sent {sent} frames, the filter counted {counted}"
                ));
            }
            rates[at].push(rate(sent, took));
        }
    }
    let [none, ours_drop, ours_filter, linux_drop, linux_filter] = rates.map(median);
    let ns = |r: f64| 1e9 / r;
    println!(
        "frames per second through {server_if} (SYNs to port {FLOOD_PORT}), median of {rounds} rounds of {seconds} s:"
    );
    println!("  no program: {none:.0}/s ({:.0} ns per frame)", ns(none));
    for (what, ours, linux) in [
        ("drop everything", ours_drop, linux_drop),
        ("port filter", ours_filter, linux_filter),
    ] {
        println!(
            "  {what}: /dev/ebpf hook {ours:.0}/s ({:.0} ns per frame), generic XDP {linux:.0}/s ({:.0} ns); time per frame /dev/ebpf / generic XDP = {:.2}",
            ns(ours),
            ns(linux),
            linux / ours
        );
    }
    println!(
        "  the port filter's own cost (port filter - drop everything): /dev/ebpf {:.0} ns, generic XDP {:.0} ns per frame",
        ns(ours_filter) - ns(ours_drop),
        ns(linux_filter) - ns(linux_drop)
    );
    Ok(())
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("send") => send(&args[2..]),
        Some("compare") => compare(&args[2..]),
        _ => Err("usage: ebpf-vm-traffic send|compare ... (see the source's header)".into()),
    }
}
