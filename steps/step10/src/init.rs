//! The container's init: PID 1 of its namespaces (when there is a new PID
//! namespace), made by `create`'s setup process. It builds the container's
//! filesystem, says it is ready, and blocks opening `exec.fifo` until
//! `start` opens the other end; then it becomes the command.
//!
//! Unlike chapters 2 to 9, PID 1 *is* the command (as with runc and crun):
//! no init of ours stays behind to reap and forward signals. A command
//! that needs one says so in its `args` (tini, `docker run --init`).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::Context;
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use oci_spec::runtime::{ContainerState, LinuxNamespaceType};

use crate::create::report_and_exit;
use crate::spec::Bundle;
use crate::sync::{Channel, Msg};
use crate::{hooks, process, rootfs, state, tty};

// ANCHOR: run
/// Never returns: execs the command, or reports an error to `create` (or,
/// after `start`, on the container's stderr) and exits.
pub fn run(
    bundle: &Bundle,
    id: &str,
    chan: &Channel,
    state_dir: OwnedFd,
    console: Option<UnixStream>,
    userns: bool,
) -> ! {
    workshop::explain::set_role(workshop::explain::Role::Init);
    let result = (|| -> anyhow::Result<i32> {
        let spec = &bundle.spec;
        // A config without `process` makes a container `start` refuses.
        let process = spec.process().as_ref();
        // Out of the session (and so the terminal) of whoever ran create.
        workshop::call("setsid", "", nix::unistd::setsid)?;
        // Our PID as the host sees it, for the hooks' state: the host's
        // /proc is still mounted, and its /proc/self counts in the host's
        // PID namespace.
        let host_pid: i32 = std::fs::read_link("/proc/self")?
            .to_string_lossy()
            .parse()
            .context("readlink /proc/self")?;
        // Without a mount namespace of its own the container shares the
        // host's mount table: any mount would be the host's. Then nothing
        // is mounted and the root is only chroot(2)ed into.
        let own_mounts = has_namespace(spec, LinuxNamespaceType::Mount);
        if own_mounts {
            rootfs::prepare(spec, &bundle.rootfs, userns)?;
        } else {
            rootfs::warn_shared_mounts(spec);
        }
        chan.send(&Msg::Hooks)?;
        chan.expect(&Msg::HooksDone)?;
        let creating = state::oci_state(
            id,
            // The spec's states have no name for "namespaces made, process
            // not yet started"; hooks are told `created`, as crun tells them.
            ContainerState::Created,
            Some(host_pid),
            &bundle.dir,
            spec,
        );
        let all = spec.hooks().as_ref();
        hooks::run(
            "createContainer",
            all.and_then(|h| h.create_container().as_ref()),
            &creating,
        )?;
        if own_mounts {
            rootfs::pivot(&bundle.rootfs)?;
            rootfs::finish(spec)?;
        } else {
            rootfs::chroot(&bundle.rootfs)?;
        }
        if let Some(name) = spec.hostname().as_deref() {
            if has_namespace(spec, LinuxNamespaceType::Uts) {
                workshop::call("sethostname", format!("{name:?}"), || {
                    nix::unistd::sethostname(name)
                })?;
            }
        }
        if let Some(name) = spec.domainname().as_deref() {
            if has_namespace(spec, LinuxNamespaceType::Uts) {
                set_domainname(name)?;
            }
        }
        if let Some(console) = console {
            terminal(&console)?;
        }
        if let Some(process) = process {
            process::set_limits(process)?;
            let cwd = process.cwd();
            if !cwd.is_dir() {
                std::fs::create_dir_all(cwd)
                    .with_context(|| format!("process.cwd {}", cwd.display()))?;
            }
        }
        let filter = process::seccomp_filter(spec)?;
        chan.send(&Msg::Ready)?;
        crate::lifecycle::wait_for_start(&state_dir)?;
        drop(state_dir);
        let running = state::oci_state(
            id,
            ContainerState::Running,
            Some(host_pid),
            &bundle.dir,
            spec,
        );
        hooks::run(
            "startContainer",
            all.and_then(|h| h.start_container().as_ref()),
            &running,
        )?;
        let Some(process) = process else {
            return Ok(0); // `start` refuses a container without a process
        };
        // Looked up now, not at create: a container whose command is
        // missing is created and started, and ends with 127, as a shell's
        // command that is not found (and `docker run`'s) does.
        let program = match process::find_program(process) {
            Ok(program) => program,
            Err(err) => {
                eprintln!("{}: {err:#}", workshop::explain::program());
                return Ok(127);
            }
        };
        match process::exec(process, &program, filter.as_ref())? {}
    })();
    report_and_exit(chan, result)
}
// ANCHOR_END: run

fn has_namespace(spec: &oci_spec::runtime::Spec, typ: LinuxNamespaceType) -> bool {
    crate::create::namespaces(spec)
        .iter()
        .any(|(t, _)| *t == typ)
}

fn set_domainname(name: &str) -> anyhow::Result<()> {
    workshop::call("setdomainname", format!("{name:?}"), || {
        // SAFETY: the pointer and length describe `name`'s bytes, which
        // setdomainname only reads.
        let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
        nix::errno::Errno::result(rc).map(drop)
    })?;
    Ok(())
}

// ANCHOR: terminal
/// `process.terminal`: a pty from the container's own devpts; its master
/// goes to whoever listens on `--console-socket` (SCM_RIGHTS, as runc
/// sends it), its slave becomes stdin, stdout, stderr, the controlling
/// terminal and /dev/console.
fn terminal(console: &UnixStream) -> anyhow::Result<()> {
    let (master, slave) = tty::open_pty()?;
    let name = nix::unistd::ttyname(slave.as_fd()).unwrap_or_else(|_| "/dev/pts/0".into());
    let fds = [master.as_raw_fd()];
    let name_bytes = name.to_string_lossy().into_owned();
    workshop::call("sendmsg", "<console socket>, SCM_RIGHTS [master]", || {
        sendmsg::<()>(
            console.as_raw_fd(),
            &[IoSlice::new(name_bytes.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
    })?;
    drop(master);
    let console_path = Path::new("/dev/console");
    if !console_path.exists() {
        std::fs::File::create(console_path).ok();
    }
    let _ = nix::mount::mount(
        Some(name.as_path()),
        console_path,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    );
    tty::install(slave.as_fd(), &[0, 1, 2])?;
    workshop::call("ioctl", "0, TIOCSCTTY, 0", || {
        // SAFETY: TIOCSCTTY takes an integer argument.
        nix::errno::Errno::result(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) }).map(drop)
    })?;
    Ok(())
}
// ANCHOR_END: terminal
