// The runtime around your code, shared by the exercise and its solution
// (`include!`d by both `main.rs`): step10's `main.rs`, with your
// `lifecycle` module in place of step10's; chapters 2 to 9 are step09's
// modules, as step10 uses them. You do not need to change this file.
//
// It keeps step10's contract (runc's command line): `ex10 [--root DIR] [-x]
// create --bundle DIR [--pid-file F] [--console-socket S] ID`, `start ID`,
// `state ID`, `kill ID [SIGNAL]`, `delete [--force] ID`, `run [--bundle DIR]
// [-d] ID`, `list`, `exec [-e K=V] [--cwd DIR] ID COMMAND...`, `spec
// --bundle DIR`; 125 when the runtime fails.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use create::CreateOpts;
use exec::ExecOpts;
#[allow(unused_imports)]
use step09::{caps, idmap, mount, pid, seccomp, tty};

/// An OCI runtime (step10's, with your lifecycle.rs): runs the container
/// an OCI bundle (a directory with a config.json and the root filesystem it
/// names) describes, with the commands of the OCI runtime spec, as runc and
/// crun do.
#[derive(Parser, Debug)]
#[command(
    name = env!("CARGO_BIN_NAME"),
    version,
    after_help = "Examples (as root):\n  \
    ex10 spec --bundle /tmp/b                       # a config.json to start from\n  \
    ex10 run --bundle /tmp/b demo                   # create, start, wait, delete\n  \
    ex10 create --bundle /tmp/b web; ex10 state web; ex10 start web\n  \
    ex10 exec web ps                                # one more process, in web's namespaces\n  \
    ex10 kill web TERM; ex10 delete web"
)]
struct Args {
    /// Where containers' state is kept.
    #[arg(long, global = true, default_value = state::DEFAULT_ROOT, value_name = "DIR")]
    root: PathBuf,
    /// Print every syscall as it is made.
    #[arg(short = 'x', long, global = true)]
    explain: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container from a bundle; its process waits for `start`.
    Create {
        #[command(flatten)]
        create: CreateArgs,
    },
    /// Run a created container's process.
    Start { id: String },
    /// Print the container's state as the runtime spec's JSON.
    State { id: String },
    /// Send a signal (default TERM) to the container's process.
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Remove a stopped container (--force: kill it first).
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create, start, wait for the process, delete; exits with its status.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Start it and return at once, without waiting or deleting.
        #[arg(short, long)]
        detach: bool,
    },
    /// List the containers.
    List,
    /// Run one more process in a running container's namespaces and cgroup.
    Exec {
        /// Set an environment variable (KEY=VALUE), repeatable.
        #[arg(short, long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// The working directory inside the container.
        #[arg(long)]
        cwd: Option<PathBuf>,
        id: String,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Write a config.json to start from, for the rootfs in BUNDLE/rootfs.
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// The bundle directory (config.json and the root filesystem).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Write the container process's PID (as the host sees it) here.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// With process.terminal: send the terminal's master to this socket.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// The container's ID: unique among this runtime's containers.
    id: String,
}

impl CreateArgs {
    fn opts(self, root: PathBuf) -> CreateOpts {
        CreateOpts {
            id: self.id,
            bundle: self.bundle,
            pid_file: self.pid_file,
            console_socket: self.console_socket,
            root,
        }
    }
}

fn main() {
    let args: Args = workshop::cli::parse();
    workshop::explain::init(env!("CARGO_BIN_NAME"), args.explain);
    workshop::exit::finish(run(args));
}

fn run(args: Args) -> anyhow::Result<i32> {
    let root = args.root;
    if !matches!(args.command, Command::Spec { .. }) {
        workshop::cli::require_root()?;
    }
    match args.command {
        Command::Create { create } => create::create(&create.opts(root)).map(|_| 0),
        Command::Start { id } => ops::start(&root, &id).map(|()| 0),
        Command::State { id } => ops::state(&root, &id).map(|()| 0),
        Command::Kill { id, signal } => ops::kill_container(&root, &id, &signal).map(|()| 0),
        Command::Delete { force, id } => ops::delete(&root, &id, force).map(|()| 0),
        Command::Run { create, detach } => ops::run(&create.opts(root), detach),
        Command::List => ops::list(&root).map(|()| 0),
        Command::Exec {
            env,
            cwd,
            id,
            command,
        } => exec::exec(&ExecOpts {
            id,
            argv: command,
            env,
            cwd,
            root,
        }),
        Command::Spec { bundle } => spec::write_default(&bundle).map(|()| 0),
    }
}
