//! `ebpf-stress`: hostile and concurrent use of `/dev/ebpf` (or of the
//! embedded dispatcher), as the VM test loop and `make stress` run it.
//!
//! * `churn`: several workers (processes on the device, threads on the
//!   embedded backend) create, use, pin and destroy every map type and
//!   programs at once, programs running while map-in-map slots change;
//!   every error must be one the operation may legitimately return, and
//!   nothing may be left alive afterwards.
//! * `faults`: every command again with the kernel's per-task fault
//!   injection (`/proc/thread-self/fail-nth`) failing its first, second, …
//!   allocation in turn: each must fail cleanly with `ENOMEM` (or recover)
//!   and leave the device working.
//! * `signal`: a long `PROG_TEST_RUN` ends with `EINTR` within a few
//!   milliseconds of a signal.

mod churn;
mod faults;
mod signal;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use libebpf_ioctl::Ebpf;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The device (default: the embedded dispatcher).
    #[arg(long, global = true)]
    device: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Workers churning every map type, programs and pins at once.
    Churn {
        /// Number of workers.
        #[arg(long, default_value_t = 4)]
        workers: u32,
        /// How long each works.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// One churn worker (what `churn` runs in each child process).
    #[command(hide = true)]
    Worker {
        /// The worker's number.
        id: u32,
        /// How long it works.
        #[arg(long)]
        seconds: u64,
    },
    /// Every command under allocation-failure injection (device only).
    Faults,
    /// A signal ends a long test run within a few milliseconds.
    Signal {
        /// Longest accepted delay between the signal and the return, ms.
        #[arg(long, default_value_t = 50)]
        max_latency_ms: u64,
    },
}

/// A client of the device, or of a fresh embedded dispatcher.
pub fn open(device: Option<&PathBuf>) -> Result<Ebpf, String> {
    match device {
        Some(path) => Ebpf::device(path).map_err(|e| format!("{}: {e}", path.display())),
        None => Ebpf::embedded().map_err(|e| e.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Churn { workers, seconds } => churn::run(cli.device.as_ref(), workers, seconds),
        Cmd::Worker { id, seconds } => churn::worker_process(cli.device.as_ref(), id, seconds),
        Cmd::Faults => match &cli.device {
            Some(d) => faults::run(d),
            None => Err("faults needs --device (it uses the kernel's fault injection)".into()),
        },
        Cmd::Signal { max_latency_ms } => signal::run(cli.device.as_ref(), max_latency_ms),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ebpf-stress: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
