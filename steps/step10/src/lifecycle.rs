//! The heart of chapter 10, in four functions: how a container that no
//! runtime process watches is *created*, *running* or *stopped*
//! ([`status`]), how its init waits for `start` ([`wait_for_start`]) and
//! how `start` releases it ([`release`]), and how `exec` enters a running
//! container ([`join_namespaces`]). Exercise 10 asks for them.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, bail};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;
use oci_spec::runtime::{ContainerState, LinuxNamespaceType};

use crate::create::{clone_flag, ns_file, same_namespace};
use crate::state::{self, Record};

// ANCHOR: status
/// `created` while init waits on the FIFO, `running` once `start` has
/// taken the FIFO away, `stopped` when init is gone: no process with its
/// PID, a zombie, or another process that got its PID later (its start
/// time differs from the one `create` recorded).
pub fn status(record: &Record, fifo_exists: bool) -> ContainerState {
    match state::start_time(record.pid) {
        Some(t) if t == record.start_time => {}
        _ => return ContainerState::Stopped,
    }
    if fifo_exists {
        ContainerState::Created
    } else {
        ContainerState::Running
    }
}
// ANCHOR_END: status

// ANCHOR: wait_for_start
/// init's side of `start`. Opening a FIFO for writing blocks until someone
/// opens it for reading: `start` does, reads the byte we write, and removes
/// the FIFO. The path is gone since pivot_root; the directory's descriptor
/// `create` gave us still leads to it (and is closed on exec).
pub fn wait_for_start(state_dir: &OwnedFd) -> anyhow::Result<()> {
    let fifo = workshop::call(
        "openat",
        "<state dir>, \"exec.fifo\", O_WRONLY|O_CLOEXEC",
        || {
            nix::fcntl::openat(
                state_dir.as_fd(),
                Path::new(state::EXEC_FIFO),
                OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
        },
    )?;
    workshop::call("write", "<exec.fifo>, \"0\", 1", || {
        nix::unistd::write(&fifo, b"0")
    })?;
    // Kept open, never closed by us: O_CLOEXEC closes it when the command
    // is exec'd (or init exits), and `start` waits for that end-of-file.
    let _ = std::os::fd::IntoRawFd::into_raw_fd(fifo);
    Ok(())
}
// ANCHOR_END: wait_for_start

// ANCHOR: release
/// `start`'s side: opens the FIFO for reading (O_NONBLOCK: our open must
/// not wait; init's blocked open completes with it), waits up to 10 s for
/// init's byte, then removes the FIFO: from now on the container is
/// `running`.
pub fn release(fifo: &Path) -> anyhow::Result<()> {
    let end = workshop::call("open", format!("{fifo:?}, O_RDONLY|O_NONBLOCK"), || {
        nix::fcntl::open(
            fifo,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    })?;
    let mut fds = [PollFd::new(end.as_fd(), PollFlags::POLLIN)];
    let ready = poll(&mut fds, PollTimeout::from(10_000u16))?;
    let mut byte = [0u8; 1];
    let end = std::fs::File::from(end);
    let got = if ready > 0 {
        (&end).read(&mut byte).unwrap_or(0)
    } else {
        0
    };
    if got != 1 {
        bail!("the container's init did not answer on exec.fifo (it has ended?)");
    }
    std::fs::remove_file(fifo).with_context(|| format!("rm {}", fifo.display()))?;
    // init keeps its end open until execve closes it: the end of the file
    // says the command is running (or init has exited). Waited for up to a
    // second, so that `start` returns once the command runs, not before.
    let mut fds = [PollFd::new(end.as_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, PollTimeout::from(1_000u16)).unwrap_or(0) > 0 {
        let _ = (&end).read(&mut byte);
    }
    Ok(())
}
// ANCHOR_END: release

// ANCHOR: join_namespaces
/// Moves the caller into the namespaces `types` of process `pid`: each
/// `/proc/PID/ns/<type>` opened first (after the mount namespace's setns
/// the host's /proc is out of sight), then setns(2) on each, the user
/// namespace first (the others belong to it, and its setns gives the
/// capabilities the others need), the mount namespace last. A namespace we
/// are in already is skipped: setns into one's own user namespace fails.
/// The PID namespace applies to the caller's children only: the caller
/// must fork after this for the command to be in it.
pub fn join_namespaces(pid: i32, types: &[LinuxNamespaceType]) -> anyhow::Result<()> {
    let mut ordered = types.to_vec();
    ordered.sort_by_key(|t| match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 2,
        _ => 1,
    });
    let mut fds = Vec::new();
    for typ in ordered {
        let path = format!("/proc/{pid}/ns/{}", ns_file(typ));
        if same_namespace(Path::new(&path), typ) {
            continue;
        }
        let fd = nix::fcntl::open(
            path.as_str(),
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("open {path}"))?;
        fds.push((typ, path, fd));
    }
    for (typ, path, fd) in &fds {
        workshop::call("setns", format!("{path:?}, {typ:?}"), || {
            nix::sched::setns(fd, clone_flag(*typ))
        })?;
    }
    Ok(())
}
// ANCHOR_END: join_namespaces
