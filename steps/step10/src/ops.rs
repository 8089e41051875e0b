//! The lifecycle commands after `create`: `start`, `state`, `kill`,
//! `delete`, and `run` and `list`, which runc has and the spec does not.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oci_spec::runtime::ContainerState;

use crate::cgroups::Cgroups;
use crate::create::{self, CreateOpts, wait_gone};
use crate::hooks;
use crate::state::{self, Container};

// ANCHOR: start
/// `start ID`: opens the FIFO init is blocked on, reads its byte (init is
/// now on its way to exec), removes the FIFO (the container is `running`
/// from now on), runs the poststart hooks.
pub fn start(root: &Path, id: &str) -> anyhow::Result<()> {
    let container = Container::open(root, id)?;
    let record = container.record()?;
    let status = container.status(&record);
    if status != ContainerState::Created {
        bail!("container {id:?} is {status}, not created: only a created container can be started");
    }
    let spec = container.config()?;
    if spec.process().is_none() {
        // The spec: an error, and the container does not run; it is
        // stopped, so that `delete` can remove it.
        let _ = kill(Pid::from_raw(record.pid), Signal::SIGKILL);
        wait_gone(record.pid);
        bail!("container {id:?} has no \"process\" in its config.json: there is nothing to start");
    }
    crate::lifecycle::release(&container.fifo())?;
    let running = state::oci_state(
        id,
        ContainerState::Running,
        Some(record.pid),
        &record.bundle,
        &spec,
    );
    hooks::run_warn(
        "poststart",
        spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()),
        &running,
    );
    Ok(())
}
// ANCHOR_END: start

/// `state ID`: the spec's state, as JSON on stdout.
pub fn state(root: &Path, id: &str) -> anyhow::Result<()> {
    let container = Container::open(root, id)?;
    let record = container.record()?;
    let spec = container.config()?;
    let status = container.status(&record);
    let mut out = state::oci_state(id, status, Some(record.pid), &record.bundle, &spec);
    out["created"] = record.created.clone().into();
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// `list`: one line per container.
pub fn list(root: &Path) -> anyhow::Result<()> {
    println!(
        "{:<24} {:>8} {:<8} {:<20} BUNDLE",
        "ID", "PID", "STATUS", "CREATED"
    );
    for id in state::ids(root) {
        let Ok(container) = Container::open(root, &id) else {
            continue;
        };
        let Ok(record) = container.record() else {
            continue;
        };
        let status = container.status(&record);
        let pid = if status == ContainerState::Stopped {
            0
        } else {
            record.pid
        };
        println!(
            "{:<24} {:>8} {:<8} {:<20} {}",
            id,
            pid,
            status.to_string(),
            record.created,
            record.bundle.display()
        );
    }
    Ok(())
}

/// A signal by name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(s: &str) -> anyhow::Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow::anyhow!("no signal number {n}"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| {
        anyhow::anyhow!("{s:?} is not a signal: use a name (TERM, KILL, HUP) or a number")
    })
}

// ANCHOR: kill
/// `kill ID [SIGNAL]`: to init, the container's process. A created
/// container's init has no handlers yet: as PID 1 of its namespace it
/// ignores every signal it does not handle, except SIGKILL (and SIGSTOP)
/// from the host.
pub fn kill_container(root: &Path, id: &str, signal: &str) -> anyhow::Result<()> {
    let signal = parse_signal(signal)?;
    let container = Container::open(root, id)?;
    let record = container.record()?;
    let status = container.status(&record);
    if !matches!(status, ContainerState::Created | ContainerState::Running) {
        bail!("container {id:?} is {status}: only a created or running container can be signalled");
    }
    workshop::call("kill", format!("{}, {signal}", record.pid), || {
        kill(Pid::from_raw(record.pid), signal)
    })?;
    Ok(())
}
// ANCHOR_END: kill

// ANCHOR: delete
/// `delete [--force] ID`: a stopped container's cgroup and state removed,
/// then its poststop hooks. Refused while it is created or running, unless
/// `--force`, which SIGKILLs it first.
pub fn delete(root: &Path, id: &str, force: bool) -> anyhow::Result<()> {
    let container = Container::open(root, id)?;
    let record = container.record()?;
    let status = container.status(&record);
    if status != ContainerState::Stopped {
        if !force {
            bail!(
                "container {id:?} is {status}: stop it first (step10 kill {id} KILL) or use delete --force"
            );
        }
        let _ = kill(Pid::from_raw(record.pid), Signal::SIGKILL);
        wait_gone(record.pid);
    }
    let spec = container.config().ok();
    // Processes `exec` started may outlive init only briefly: the PID
    // namespace's end kills them, but the cgroup must be empty to go.
    let cgroups = Cgroups::from_paths(record.cgroups.clone());
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Err(err) = cgroups.remove() {
        if Instant::now() > deadline {
            return Err(err.context(format!("container {id:?}: its cgroup is not empty")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    container.remove()?;
    if let Some(spec) = spec {
        let stopped = state::oci_state(id, ContainerState::Stopped, None, &record.bundle, &spec);
        hooks::run_warn(
            "poststop",
            spec.hooks().as_ref().and_then(|h| h.poststop().as_ref()),
            &stopped,
        );
    }
    Ok(())
}
// ANCHOR_END: delete

// ANCHOR: run
/// `run`: create, start, wait, delete. To wait for a process that is not
/// our child (init's parent was the setup process, which exited), we
/// become a *child subreaper* first: orphans below us are re-parented to
/// us instead of the host's init, so init's exit status reaches us.
pub fn run(opts: &CreateOpts, detach: bool) -> anyhow::Result<i32> {
    if !detach {
        workshop::call("prctl", "PR_SET_CHILD_SUBREAPER, 1", || {
            nix::sys::prctl::set_child_subreaper(true)
        })?;
    }
    let record = create::create(opts)?;
    if detach {
        start(&opts.root, &opts.id)?;
        return Ok(0);
    }
    let signals = crate::pid::block_signals()?;
    if let Err(err) = start(&opts.root, &opts.id) {
        let _ = delete(&opts.root, &opts.id, true);
        return Err(err);
    }
    let code = crate::pid::supervise(Pid::from_raw(record.pid), &signals)?;
    delete(&opts.root, &opts.id, true)?;
    Ok(code)
}
// ANCHOR_END: run
