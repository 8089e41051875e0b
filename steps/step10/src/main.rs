//! step10: an OCI runtime. The lifecycle of the runtime spec, with runc's
//! command line: a bundle in, a container out, held to the runtime-tools
//! conformance suite.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use step10::create::CreateOpts;
use step10::exec::ExecOpts;
use step10::{create, exec, ops, spec, state};

/// An OCI runtime: runs the container an OCI bundle (a directory with a
/// config.json and the root filesystem it names) describes, with the
/// commands of the OCI runtime spec, as runc and crun do.
#[derive(Parser, Debug)]
#[command(
    name = "step10",
    version,
    after_help = "Examples (as root):\n  \
    step10 spec --bundle /tmp/b                     # a config.json to start from\n  \
    step10 run --bundle /tmp/b demo                 # create, start, wait, delete\n  \
    step10 create --bundle /tmp/b web; step10 state web; step10 start web\n  \
    step10 exec web ps                              # one more process, in web's namespaces\n  \
    step10 kill web TERM; step10 delete web"
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
    workshop::explain::init("step10", args.explain);
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
