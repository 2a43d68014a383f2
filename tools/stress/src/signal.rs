//! A signal ends a long `PROG_TEST_RUN`; see `ebpf-stress signal --help`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ebpf_core::Errno;

use crate::workload::load;

/// When the signal arrived (CLOCK_MONOTONIC ns), set by the handler.
static SIGNALLED_NS: AtomicU64 = AtomicU64::new(0);

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer; async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

extern "C" fn on_alarm(_: libc::c_int) {
    SIGNALLED_NS.store(monotonic_ns(), Ordering::SeqCst);
}

/// Runs a program ten million times, is interrupted by SIGALRM after 300 ms
/// and checks the request returned EINTR within `max_latency_ms`; then
/// reports how long one run of a whole instruction budget keeps the CPU.
pub fn run(device: Option<&PathBuf>, max_latency_ms: u64) -> Result<(), String> {
    if device.is_none() {
        return Err("signal needs --device: embedded requests are not interrupted".into());
    }
    let e = crate::open(device)?;
    // About 3 000 instructions a run.
    let prog = load(
        &e,
        "mov %r0, 1000\nagain:\nsub %r0, 1\njne %r0, 0, again\nexit",
        &[],
    )
    .map_err(|e| e.to_string())?;
    // SAFETY: a handler that only stores to an atomic and reads the clock,
    // installed without SA_RESTART so the ioctl returns.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_alarm as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGALRM, &sa, std::ptr::null_mut()) != 0 {
            return Err("sigaction".into());
        }
    }
    // The signal comes from another thread, aimed at this one (the test
    // kernel has no POSIX timers, so no setitimer or alarm).
    // SAFETY: plain call.
    let me = unsafe { libc::pthread_self() } as usize;
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        // SAFETY: the main thread outlives this request.
        unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGALRM) };
    });
    let started = monotonic_ns();
    let r = e.prog_test_run(prog, &[], 10_000_000);
    let returned = monotonic_ns();
    let signalled = SIGNALLED_NS.load(Ordering::SeqCst);
    match r {
        Err(err) if err.errno == Errno::EINTR => {}
        Err(err) => {
            return Err(format!(
                "a test run interrupted by a signal: {err}, want EINTR"
            ))
        }
        Ok(run) => {
            return Err(format!(
                "10 million runs finished ({} ns each) instead of stopping at the signal",
                run.duration_ns
            ))
        }
    }
    if signalled == 0 {
        return Err("the request ended before the signal".into());
    }
    let latency_us = returned.saturating_sub(signalled) / 1000;
    println!(
        "signal: EINTR {latency_us} us after the signal (the request had run {} ms)",
        (signalled - started) / 1_000_000
    );
    if latency_us > max_latency_ms * 1000 {
        return Err(format!(
            "EINTR came {latency_us} us after the signal, over {max_latency_ms} ms"
        ));
    }
    // The longest any single run keeps its CPU: the whole budget.
    let spin = load(&e, "again:\nja again\nexit", &[]).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let r = e.prog_test_run(spin, &[], 1);
    if r.as_ref().map_err(|e| e.errno) != Err(Errno::EFAULT) {
        return Err(format!(
            "an endless loop: {r:?}, want EFAULT (budget exhausted)"
        ));
    }
    println!(
        "signal: a run of a whole instruction budget held its CPU {} ms here",
        t.elapsed().as_millis()
    );
    println!("signal: PASS");
    Ok(())
}
