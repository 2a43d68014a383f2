//! The port filter per packet inside a Linux kernel with the module
//! loaded: through `/dev/ebpf` (the module: verified, compiled by the
//! kernel's JIT) against the same kernel's own `bpf(2)` on the same object
//! and packets, side by side. Run by `make vm-test` in the guest.
//!
//! usage: ebpf-vm-bench DEVICE OBJECT [REPEAT]
//!        ebpf-vm-bench --no-bpf-syscall   (succeeds when bpf(2) is ENOSYS)

use std::path::Path;

use ebpf_bench::{median, tcp_frame, PORT_FILTER_CASES};
use libebpf_ioctl::elf::BpfObject;
use libebpf_ioctl::Ebpf;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--no-bpf-syscall") {
        // mov r0, 0; exit
        let probe = [0xb7u8, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
        return match host_bpf::Program::load(host_bpf::PROG_TYPE_SOCKET_FILTER, &probe, 1) {
            Err(r) if r.error.raw_os_error() == Some(38) => {
                println!("bpf(2): ENOSYS: this kernel has no eBPF system call");
                Ok(())
            }
            Err(r) => Err(format!("bpf(2) failed, but not with ENOSYS: {}", r.error)),
            Ok(_) => Err("bpf(2) loaded a program: this kernel has the system call".into()),
        };
    }
    let [_, device, object, rest @ ..] = &args[..] else {
        return Err("usage: ebpf-vm-bench DEVICE OBJECT [REPEAT]".into());
    };
    let repeat: u32 = rest
        .first()
        .map_or(Ok(20_000), |r| r.parse())
        .map_err(|e| format!("{e}"))?;
    let bytes = std::fs::read(object).map_err(|e| format!("{object}: {e}"))?;
    let obj = BpfObject::parse(&bytes).map_err(|e| e.to_string())?;
    let e = Ebpf::device(Path::new(device)).map_err(|e| format!("{device}: {e}"))?;
    let ours = ebpf_bench::load_first(&e, &obj);
    let info = e.prog_info(ours).map_err(|e| e.to_string())?;
    // A kernel without networking has no XDP program type in bpf(2).
    let linux = ebpf_bench::host_maps(&obj).and_then(|maps| {
        let prog = ebpf_bench::host_program(&obj.programs[0], &maps, 1)?;
        Ok((prog, maps))
    });
    if let Err(why) = &linux {
        println!("no bpf(2) column: this kernel refuses the program: {why}");
    }
    println!(
        "port filter per packet, {repeat} runs per sample, median of 5 (ebpf JIT code {} bytes)",
        info.jited_len
    );
    for (name, port, verdict) in PORT_FILTER_CASES {
        let frame = tcp_frame(port);
        let mut a = Vec::new();
        let mut b = Vec::new();
        for _ in 0..5 {
            let r = e
                .prog_test_run(ours, &frame, repeat)
                .map_err(|e| e.to_string())?;
            if r.retval != verdict {
                return Err(format!(
                    "{name}: /dev/ebpf says {}, want {verdict}",
                    r.retval
                ));
            }
            a.push(f64::from(r.duration_ns));
            if let Ok((prog, _)) = &linux {
                let mut data = frame.clone();
                let r = prog
                    .test_run(&mut data, repeat)
                    .map_err(|e| e.to_string())?;
                if r.retval != verdict {
                    return Err(format!("{name}: bpf(2) says {}, want {verdict}", r.retval));
                }
                b.push(f64::from(r.duration_ns));
            }
        }
        let a = median(a);
        if b.is_empty() {
            println!("  {name}: /dev/ebpf {a:.0} ns");
        } else {
            let b = median(b);
            println!(
                "  {name}: /dev/ebpf {a:.0} ns, bpf(2) {b:.0} ns, ratio /dev/ebpf / bpf(2) = {:.2}",
                a / b
            );
        }
    }
    Ok(())
}
