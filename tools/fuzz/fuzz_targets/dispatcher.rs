//! Arbitrary ioctl sequences on the embedded dispatcher (the code both
//! kernels run), with user memory that faults outside an arena.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ebpf_fuzz::play_ioctls(data));
