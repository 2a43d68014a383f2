//! ebpfctl: the command-line tool of ebpf-kmod.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ebpf_core::{asm, insn, Insn, LoadOptions, Program};
use libebpf_ioctl::Ebpf;

mod hex;
mod objects;
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
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Use the device at this path.
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "embedded")]
    device: Option<PathBuf>,
    /// Use the embedded backend (the default when /dev/ebpf is absent).
    #[arg(long, global = true)]
    embedded: bool,
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
    },
    /// Programs on the device: load, run, list, show, dump, unload.
    Prog {
        #[command(subcommand)]
        command: objects::ProgCmd,
    },
    /// Maps on the device: list, show, dump, lookup, update, delete, pin.
    Map {
        #[command(subcommand)]
        command: objects::MapCmd,
    },
    /// Run commands from a file (`-` for stdin), one per line, in one
    /// process and on one device connection (so the embedded backend keeps
    /// its objects between them). Blank lines and `#` comments are skipped.
    Batch {
        /// The command file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`ebpfctl ... | head`), like other tools.
    // SAFETY: setting a signal disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    let mut device = None;
    match run(&cli, &mut device) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ebpfctl: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The device connection, opened on first use.
fn connect<'a>(cli: &Cli, device: &'a mut Option<Ebpf>) -> Result<&'a Ebpf, String> {
    if device.is_none() {
        *device = Some(objrun::open(cli.device.as_deref(), cli.embedded, cli.json)?);
    }
    device.as_ref().ok_or_else(|| "no device".to_string())
}

fn batch(cli: &Cli, file: &Path, device: &mut Option<Ebpf>) -> Result<(), String> {
    let text = if file == Path::new("-") {
        let mut t = String::new();
        std::io::stdin()
            .read_to_string(&mut t)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        t
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?
    };
    connect(cli, device)?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = std::iter::once("ebpfctl").chain(line.split_whitespace());
        let mut inner = Cli::try_parse_from(words).map_err(|e| {
            let text = e.to_string();
            format!("line {}: {}", n + 1, text.lines().next().unwrap_or(""))
        })?;
        if matches!(inner.command, Command::Batch { .. }) {
            return Err(format!("line {}: batch files do not nest", n + 1));
        }
        inner.device = None;
        inner.embedded = false;
        inner.json |= cli.json;
        run(&inner, device).map_err(|e| format!("line {}: {e}", n + 1))?;
    }
    Ok(())
}

fn run(cli: &Cli, device: &mut Option<Ebpf>) -> Result<(), String> {
    match &cli.command {
        Command::Run {
            file,
            prog,
            data_hex,
            repeat,
        } => {
            let e = connect(cli, device)?;
            objrun::run(e, file, prog.as_deref(), data_hex, *repeat, cli.json)
        }
        Command::Prog { command } => {
            let e = connect(cli, device)?;
            objects::prog(e, command.clone(), cli.json)
        }
        Command::Map { command } => {
            let e = connect(cli, device)?;
            objects::map(e, command.clone(), cli.json)
        }
        Command::Batch { file } => batch(cli, file, device),
        Command::Exec {
            memory,
            asm,
            budget,
        } => {
            let insns = match asm {
                Some(path) => assemble_file(path)?,
                None => read_hex_program()?,
            };
            let mut memory = match memory {
                Some(text) => hex::decode(text).map_err(|e| format!("memory: {e}"))?,
                None => Vec::new(),
            };
            let prog = Program::load(&insns, &LoadOptions::default().budget(*budget))
                .map_err(|e| format!("load failed: {e}"))?;
            let r0 = prog
                .run_on(&mut memory)
                .map_err(|e| format!("run failed: {e}"))?;
            println!("{r0:#x}");
            Ok(())
        }
        Command::Asm { file } => {
            let insns = assemble_file(file)?;
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

fn assemble_file(path: &Path) -> Result<Vec<Insn>, String> {
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
