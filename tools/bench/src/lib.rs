//! Benchmarks live in `benches/`; shared programs are here.
