//! Prints what the ELF loader reads from an object: `objdump FILE.o`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: objdump FILE.o");
    let bytes = std::fs::read(&path).expect("read");
    match libebpf_ioctl::elf::BpfObject::parse(&bytes) {
        Ok(o) => {
            println!("license {:?}", o.license);
            for m in &o.maps {
                println!(
                    "map {} type {} key {} value {} max {} flags {:#x}",
                    m.name,
                    m.spec.map_type,
                    m.spec.key_size,
                    m.spec.value_size,
                    m.spec.max_entries,
                    m.spec.flags
                );
            }
            for p in &o.programs {
                println!(
                    "prog {} ({}) type {}",
                    p.name,
                    p.section,
                    p.prog_type.name()
                );
                for (i, insn) in p.insns.iter().enumerate() {
                    println!(
                        "  {i:3}: {}",
                        ebpf_core::asm::disassemble_one(*insn, p.insns.get(i + 1).copied()).0
                    );
                }
            }
        }
        Err(e) => eprintln!("error: {e}"),
    }
}
