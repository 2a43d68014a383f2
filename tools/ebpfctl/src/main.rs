//! ebpfctl: the command-line tool of ebpf-kmod.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ebpf_core::{asm, insn, Insn, LoadOptions, Program};

mod hex;
mod objrun;

#[derive(Parser)]
#[command(
    name = "ebpfctl",
    version,
    about = "Load, inspect and run eBPF programs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a raw program on the interpreter (the eBPF conformance-plugin
    /// convention): bytecode as hex on stdin, optional memory as hex in the
    /// first argument; r1 = memory, r2 = its length; prints r0 in hex.
    Exec {
        /// Initial memory, as hex.
        memory: Option<String>,
        /// Assemble the program from this text file instead of reading hex.
        #[arg(long, value_name = "FILE")]
        asm: Option<PathBuf>,
        /// Maximum instructions to execute.
        #[arg(long, default_value_t = ebpf_core::program::DEFAULT_BUDGET)]
        budget: u64,
    },
    /// Assemble a text file and print its bytecode as hex.
    Asm {
        /// Assembly source.
        file: PathBuf,
    },
    /// Disassemble bytecode given as hex on stdin.
    Disasm,
    /// Load an object file, run a program on packets, show its maps.
    Run {
        /// Object file from `clang -target bpf`.
        file: PathBuf,
        /// Program to run (default: the first).
        #[arg(long)]
        prog: Option<String>,
        /// A packet as hex; repeat for several.
        #[arg(long = "data-hex", value_name = "HEX")]
        data_hex: Vec<String>,
        /// Runs per packet.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Use the device at this path.
        #[arg(long, value_name = "PATH", conflicts_with = "embedded")]
        device: Option<PathBuf>,
        /// Use the embedded backend (default when /dev/ebpf is absent).
        #[arg(long)]
        embedded: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ebpfctl: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Run {
            file,
            prog,
            data_hex,
            repeat,
            json,
            device,
            embedded,
        } => {
            let e = objrun::open(device.as_deref(), embedded, json)?;
            objrun::run(&e, &file, prog.as_deref(), &data_hex, repeat, json)
        }
        Command::Exec {
            memory,
            asm,
            budget,
        } => {
            let insns = match asm {
                Some(path) => assemble_file(&path)?,
                None => read_hex_program()?,
            };
            let mut memory = match memory {
                Some(text) => hex::decode(&text).map_err(|e| format!("memory: {e}"))?,
                None => Vec::new(),
            };
            let prog = Program::load(&insns, &LoadOptions::default().budget(budget))
                .map_err(|e| format!("load failed: {e}"))?;
            let r0 = prog
                .run_on(&mut memory)
                .map_err(|e| format!("run failed: {e}"))?;
            println!("{r0:#x}");
            Ok(())
        }
        Command::Asm { file } => {
            let insns = assemble_file(&file)?;
            let mut bytes = Vec::new();
            insn::encode_into(&insns, &mut bytes);
            println!("{}", hex::encode(&bytes));
            Ok(())
        }
        Command::Disasm => {
            let insns = read_hex_program()?;
            for (index, line) in asm::disassemble(&insns).iter().enumerate() {
                println!("{index:4}: {line}");
            }
            Ok(())
        }
    }
}

fn assemble_file(path: &PathBuf) -> Result<Vec<Insn>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    asm::assemble(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_hex_program() -> Result<Vec<Insn>, String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    let bytes = hex::decode(&text).map_err(|e| format!("program: {e}"))?;
    let insns = insn::decode(&bytes).map_err(|e| format!("program: {e}"))?;
    Ok(insns.collect())
}
