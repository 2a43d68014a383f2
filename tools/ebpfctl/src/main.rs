//! ebpfctl: the command-line tool of ebpf-kmod.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use ebpf_core::{asm, insn, Insn, LoadOptions, Program};
use libebpf_ioctl::Ebpf;

mod hex;
mod net;
mod objects;
mod objrun;
mod verify;

#[derive(Parser)]
#[command(
    name = "ebpfctl",
    version,
    disable_version_flag = true,
    arg_required_else_help = true,
    about = "Load, inspect and run eBPF programs",
    long_about = "Load, inspect and run eBPF programs through /dev/ebpf (the ebpf-kmod \
                  kernel module: insmod ebpf.ko on Linux, kldload ebpf.ko on FreeBSD), or \
                  in-process on the embedded backend when there is no device."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Print the versions of ebpfctl and of the device (as `version`).
    #[arg(short = 'V', long = "version")]
    version: bool,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Use the device at this path.
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "embedded")]
    device: Option<PathBuf>,
    /// Use the embedded backend (the default when /dev/ebpf is absent).
    #[arg(long, global = true)]
    embedded: bool,
    /// Load an object's programs as this type whatever their sections say
    /// (as bpftool's `type`, or tc and ip loading any section): xdp, tc
    /// (sched_cls, classifier), action (sched_act), socket (socket_filter),
    /// generic.
    #[arg(long = "type", global = true, value_name = "TYPE", value_parser = objrun::parse_prog_type)]
    prog_type: Option<ebpf_core::ProgType>,
}

#[derive(Subcommand)]
enum Command {
    /// Load the programs and maps of an object file (as `prog load`).
    Load(objects::LoadArgs),
    /// Remove a program's pin (as `prog unload`).
    Unload {
        /// Pinned name.
        name: String,
    },
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
    /// XDP programs on interfaces' traffic: attach, detach, list.
    Net {
        #[command(subcommand)]
        command: net::NetCmd,
    },
    /// Links (programs attached to interfaces): list, show, pin, detach.
    Link {
        #[command(subcommand)]
        command: net::LinkCmd,
    },
    /// Run the loader and the verifier on each program of an object file,
    /// keeping nothing: one line per program, accepted or rejected with
    /// the first error. Exit status 0 when every program was accepted.
    Verify {
        /// Object file from `clang -target bpf`.
        file: PathBuf,
        /// Only this program.
        #[arg(long, value_name = "NAME")]
        prog: Option<String>,
        /// Print the verifier's log, with the state at every instruction.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Print the versions of ebpfctl, of the module (or the embedded
    /// runtime), its ABI and platform.
    Version,
    /// Run a raw program on the interpreter (the eBPF conformance-plugin
    /// convention): bytecode as hex on stdin, optional memory as hex in the
    /// first argument; r1 = memory, r2 = its length; prints r0 in hex.
    Exec {
        /// Initial memory, as hex.
        memory: Option<String>,
        /// Assemble the program from this text file instead of reading hex.
        #[arg(long, value_name = "FILE")]
        asm: Option<PathBuf>,
        /// Maximum instructions to execute (interpreter only).
        #[arg(long, default_value_t = ebpf_core::program::DEFAULT_BUDGET)]
        budget: u64,
        /// Run the program compiled to machine code, as given: without the
        /// interpreter's run-time checks and budget, for trusted programs
        /// (conformance suites) only.
        #[arg(long)]
        jit: bool,
    },
    /// Assemble a text file and print its bytecode as hex.
    Asm {
        /// Assembly source.
        file: PathBuf,
    },
    /// Disassemble bytecode given as hex on stdin.
    Disasm,
    /// Run commands from a file (`-` for stdin), one per line, in one
    /// process and on one device connection (so the embedded backend keeps
    /// its objects between them). Blank lines and `#` comments are skipped.
    Batch {
        /// The command file.
        file: PathBuf,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(hide = true)]
    Manpage,
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
        if matches!(inner.command, Some(Command::Batch { .. })) {
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
    let command = match (&cli.command, cli.version) {
        (_, true) | (Some(Command::Version), _) => return version(cli, device),
        (Some(c), false) => c,
        (None, false) => return Err("no command (see ebpfctl --help)".into()),
    };
    match command {
        Command::Version => version(cli, device),
        Command::Load(args) => {
            let e = connect(cli, device)?;
            objects::prog(
                e,
                objects::ProgCmd::Load(args.clone()),
                cli.json,
                cli.prog_type,
            )
        }
        Command::Unload { name } => {
            let e = connect(cli, device)?;
            objects::prog(
                e,
                objects::ProgCmd::Unload { name: name.clone() },
                cli.json,
                cli.prog_type,
            )
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "ebpfctl",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Manpage => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map_err(|e| format!("man page: {e}")),
        Command::Run {
            file,
            prog,
            data_hex,
            repeat,
        } => {
            let e = connect(cli, device)?;
            objrun::run(
                e,
                file,
                prog.as_deref(),
                data_hex,
                *repeat,
                cli.json,
                cli.prog_type,
            )
        }
        Command::Prog { command } => {
            let e = connect(cli, device)?;
            objects::prog(e, command.clone(), cli.json, cli.prog_type)
        }
        Command::Map { command } => {
            let e = connect(cli, device)?;
            objects::map(e, command.clone(), cli.json)
        }
        Command::Net { command } => {
            let e = connect(cli, device)?;
            net::net(e, command.clone(), cli.json)
        }
        Command::Link { command } => {
            let e = connect(cli, device)?;
            net::link(e, command.clone(), cli.json)
        }
        Command::Batch { file } => batch(cli, file, device),
        Command::Verify {
            file,
            prog,
            verbose,
        } => {
            let e = connect(cli, device)?;
            verify::verify(e, file, prog.as_deref(), *verbose, cli.json, cli.prog_type)
        }
        Command::Exec {
            memory,
            asm,
            budget,
            jit,
        } => {
            let insns = match asm {
                Some(path) => assemble_file(path)?,
                None => read_hex_program()?,
            };
            let mut memory = match memory {
                Some(text) => hex::decode(text).map_err(|e| format!("memory: {e}"))?,
                None => Vec::new(),
            };
            let mut helpers = ConformanceHelpers;
            let conformance = LoadOptions::default()
                .helpers(&ConformanceHelpers)
                .callx_helpers(true);
            let prog = if *jit {
                // SAFETY: `--jit` asks for the program to run as given; the
                // option's help says it is for trusted programs only.
                let opts = unsafe { conformance.unchecked() }.budget(u64::MAX);
                let mut prog =
                    Program::load(&insns, &opts).map_err(|e| format!("load failed: {e}"))?;
                prog.compile(libebpf_ioctl::UserPlatform::get())
                    .map_err(|e| format!("JIT failed: {e}"))?;
                prog
            } else {
                Program::load(&insns, &conformance.budget(*budget))
                    .map_err(|e| format!("load failed: {e}"))?
            };
            let r0 = prog
                .run_on_with(&mut memory, &mut helpers)
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

/// `ebpfctl version`: this tool's version, then the backend's: the
/// module's version string and ABI, and the platform it runs on.
fn version(cli: &Cli, device: &mut Option<Ebpf>) -> Result<(), String> {
    let cli_version = env!("CARGO_PKG_VERSION");
    // Quietly: the version is the whole output.
    if device.is_none() {
        *device = Some(objrun::open(cli.device.as_deref(), cli.embedded, true)?);
    }
    let e = device.as_ref().ok_or("no device")?;
    let (abi, module) = e.version().map_err(|err| err.to_string())?;
    let (backend, platform) = match e.backend_kind() {
        "embedded" => ("embedded".to_string(), "embedded"),
        _ => (
            cli.device
                .as_deref()
                .unwrap_or(Path::new(libebpf_ioctl::backend::DEVICE_PATH))
                .display()
                .to_string(),
            if cfg!(target_os = "freebsd") {
                "FreeBSD"
            } else {
                "Linux"
            },
        ),
    };
    if cli.json {
        let v = serde_json::json!({
            "ebpfctl": cli_version, "backend": backend, "module": module,
            "abi_version": abi, "platform": platform,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        println!("ebpfctl {cli_version}");
        println!("{backend}: {module}, ABI {abi}, platform {platform}");
    }
    Ok(())
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

/// The helpers of the eBPF conformance-plugin convention (`ebpfctl exec`):
/// helper 5 returns its first argument, and when that is 0 ends the
/// program with 0 (uBPF's unwinding helper), whether reached by `call 5`
/// or by `callx` of a register holding 5.
struct ConformanceHelpers;

/// The conformance suites' unwinding helper.
const UNWIND_HELPER: u32 = 5;

impl ebpf_core::Helpers for ConformanceHelpers {
    fn supports(&self, id: u32) -> bool {
        id == UNWIND_HELPER
    }

    fn call(
        &mut self,
        id: u32,
        args: [u64; 5],
        _mem: &ebpf_core::ProgramMemory<'_, '_>,
    ) -> Result<ebpf_core::Flow, ebpf_core::HelperError> {
        match (id, args[0]) {
            (UNWIND_HELPER, 0) => Ok(ebpf_core::Flow::Exit(0)),
            (UNWIND_HELPER, value) => Ok(ebpf_core::Flow::Return(value)),
            _ => Err(ebpf_core::HelperError::NotAvailable),
        }
    }
}
