//! `exec ID COMMAND`: one more process in a running container, as
//! `runc exec` and `docker exec` start one.
//!
//! ```text
//! step10 exec                                    the container
//! open /proc/PID/ns/{user,ipc,uts,net,pid,cgroup,mnt}
//! write our PID to the container's cgroup.procs
//! setns(user), then the others, mnt last
//! fork ─────────────────────────────────────────▶ the command: in every
//!   (setns(pid) moves only our children:           namespace and the cgroup
//!    the fork is what enters the PID namespace)    rlimits, user, capabilities,
//! wait, pass signals on                            no_new_privs, seccomp, exec
//! ```

use std::path::PathBuf;

use anyhow::bail;
use nix::unistd::{ForkResult, fork};
use oci_spec::runtime::{ContainerState, LinuxNamespaceType};

use crate::cgroups::Cgroups;
use crate::process;
use crate::state::Container;

/// `exec`'s flags.
#[derive(Debug, Clone)]
pub struct ExecOpts {
    pub id: String,
    pub argv: Vec<String>,
    /// Added to (or replacing) the container's `process.env`.
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub root: PathBuf,
}

// ANCHOR: exec
/// Runs `argv` in container `id` and returns its exit status.
pub fn exec(opts: &ExecOpts) -> anyhow::Result<i32> {
    let (record, spec) = {
        // The lock only while we read: a long exec must not hold up
        // `state` or `kill` of its container.
        let container = Container::open(&opts.root, &opts.id)?;
        let record = container.record()?;
        let status = container.status(&record);
        if status != ContainerState::Running {
            bail!(
                "container {:?} is {status}: exec needs a running container",
                opts.id
            );
        }
        (record, container.config()?)
    };
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the container's config.json has no process"))?;
    process.set_args(Some(opts.argv.clone()));
    process.set_terminal(Some(false));
    let mut env = process.env().clone().unwrap_or_default();
    for pair in &opts.env {
        let key = pair.split_once('=').map_or(pair.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(pair.clone());
    }
    process.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        process.set_cwd(cwd.clone());
    }
    let filter = process::seccomp_filter(&spec)?;

    // Into the container's cgroup before the namespaces: its path is the
    // host's, and the command, forked below, is born in it.
    Cgroups::from_paths(record.cgroups.clone()).add(nix::unistd::getpid())?;
    let types: Vec<LinuxNamespaceType> = crate::create::namespaces(&spec)
        .into_iter()
        .map(|(typ, _)| typ)
        .collect();
    crate::lifecycle::join_namespaces(record.pid, &types)?;
    let signals = crate::pid::block_signals()?;
    // SAFETY: single-threaded; the child execs or exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let result = (|| -> anyhow::Result<i32> {
                nix::sys::signal::sigprocmask(
                    nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
                    Some(&signals),
                    None,
                )?;
                process::set_limits(&process)?;
                let program = match process::find_program(&process) {
                    Ok(program) => program,
                    Err(err) => {
                        // Not found inside: 127, as a shell (and docker exec) says.
                        eprintln!("{}: {err:#}", workshop::explain::program());
                        return Ok(127);
                    }
                };
                match process::exec(&process, &program, filter.as_ref())? {}
            })();
            workshop::exit::child_finish(result)
        }
        ForkResult::Parent { child } => Ok(crate::pid::supervise(child, &signals)?),
    }
}
// ANCHOR_END: exec
