//! # Exercise 10: the lifecycle of an OCI container
//!
//! Read first: chapter 10 of the book.
//!
//! `ex10 create` starts the container's init and *returns*: no runtime
//! process stays behind to watch it. Every later command (`state`, `start`,
//! `kill`, `delete`, `exec`) is a new process that knows the container only
//! by what `create` left in its state directory (`--root DIR/ID/`, see
//! `steps/step10/src/state.rs`): `state.json` (a [`Record`]: init's PID and
//! start time) and `exec.fifo`, the FIFO init blocks on until `start`.
//!
//! ```text
//! ex10 create                    init (PID 1 of the container)
//!   mkfifo DIR/ID/exec.fifo
//!   clone ────────────────────▶  namespaces, rootfs, pivot_root, ...
//!   write state.json             wait_for_start(): open exec.fifo O_WRONLY
//!   exit                           (blocks: nobody reads yet)    created
//! ex10 start
//!   release(): open O_RDONLY ──▶   the open returns; write "0"
//!   read the byte, rm exec.fifo  execve(process.args)            running
//! ex10 state: status()           ...the command ends             stopped
//! ex10 exec: join_namespaces(), then fork the command
//! ```
//!
//! Given, compiled as step10 has them: everything else of the runtime,
//! among it `create::ns_file` (the file under /proc/PID/ns of a namespace
//! type) and `create::same_namespace`. Yours:
//!
//! - [`status`]: created, running or stopped, from a record and the FIFO;
//! - [`wait_for_start`]: init's side of `start`;
//! - [`release`]: `start`'s side;
//! - [`join_namespaces`]: how `exec` enters a running container.
//!
//! Done when `cargo test -p ex10` passes; `cargo test -p ex10 unit_tests`
//! runs only the fast tests of your functions, on real processes, FIFOs
//! and namespaces. See step10 do it all: `cargo run -p step10 -- -x ...`
//! prints every syscall; `steps/step10/src/create.rs`, `init.rs`, `ops.rs`
//! and `exec.rs` show where each of your functions is called.

// What step10's answer uses; yours may use less, or more.
#[allow(unused_imports)]
use std::io::Read;
#[allow(unused_imports)]
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

#[allow(unused_imports)]
use anyhow::{Context, bail};
#[allow(unused_imports)]
use nix::fcntl::OFlag;
#[allow(unused_imports)]
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
#[allow(unused_imports)]
use nix::sys::stat::Mode;
use oci_spec::runtime::{ContainerState, LinuxNamespaceType};

#[allow(unused_imports)]
use crate::create::{clone_flag, ns_file, same_namespace};
#[allow(unused_imports)]
use crate::state::{self, Record};

/// `created` while init waits on the FIFO, `running` once `start` has
/// taken the FIFO away, `stopped` when init is gone: no process with its
/// PID, a zombie, or another process that got its PID later (its start
/// time differs from the one `create` recorded).
pub fn status(record: &Record, fifo_exists: bool) -> ContainerState {
    // Exercise 10, part 1. What must hold:
    // - a PID alone proves nothing: once init has ended, the kernel may give
    //   its PID to any new process. `create` recorded init's start time
    //   (field 22 of /proc/PID/stat, proc(5)); `state::start_time(pid)`
    //   reads it now, and says `None` for no process or a zombie (ended,
    //   not yet waited for). Unless it is `Some` and equal to
    //   `record.start_time`, the container is Stopped;
    // - alive, it is Created while the FIFO exists (init still blocks on
    //   it), Running once `start` has removed it.
    // See it: `ex10 state ID` after `create`, after `start`, after the
    // command ends; `cat /proc/PID/stat` for the start time.
    todo!(
        "exercise 10: the status of container {} (pid {}, FIFO there: {fifo_exists})",
        record.id,
        record.pid
    )
}

/// init's side of `start`. Opening a FIFO for writing blocks until someone
/// opens it for reading: `start` does, reads the byte we write, and removes
/// the FIFO. The path is gone since pivot_root; the directory's descriptor
/// `create` gave us still leads to it (and is closed on exec).
pub fn wait_for_start(state_dir: &OwnedFd) -> anyhow::Result<()> {
    // Exercise 10, part 2. What must hold:
    // - open the FIFO `state::EXEC_FIFO` relative to `state_dir` (openat(2),
    //   `nix::fcntl::openat`: the host path is out of sight after
    //   pivot_root), write only, close on exec: per fifo(7) this open
    //   blocks until `start` opens the other end for reading;
    // - then write one byte to it: `start` waits for that byte, the proof
    //   that init is alive and on its way to exec;
    // - every failure is an Err; make each call through `workshop::call`,
    //   so that `-x` shows it.
    // Observe step10 doing it: `cargo run -p step10 -- -x create --bundle B
    // ID 2>&1 | grep fifo`, then `cat /proc/$(pgrep -n ...)/wchan` while
    // it is created (fifo_open: init blocks in the open).
    todo!("exercise 10: wait on exec.fifo in the state directory {state_dir:?}")
}

/// `start`'s side: opens the FIFO for reading (O_NONBLOCK: our open must
/// not wait; init's blocked open completes with it), waits up to 10 s for
/// init's byte, then removes the FIFO: from now on the container is
/// `running`.
pub fn release(fifo: &Path) -> anyhow::Result<()> {
    // Exercise 10, part 3. What must hold when this returns:
    // - open `fifo` read only with O_NONBLOCK (open(2), fifo(7): without it
    //   the open would wait for a writer; with it, it returns at once and
    //   init's blocked O_WRONLY open completes);
    // - wait for init's byte with poll(2) (`nix::poll::poll`, POLLIN, a
    //   timeout of 10 s), then read it. No byte (init has ended, or never
    //   came): an Err that says so, and the FIFO stays (the container was
    //   never started);
    // - with the byte read, remove the FIFO: that is what makes `status`
    //   say Running from now on, for every later command;
    // - every failure is an Err.
    // Observe step10 doing it: `cargo run -p step10 -- -x start ID`.
    todo!(
        "exercise 10: release the container's init blocked on {}",
        fifo.display()
    )
}

/// Moves the caller into the namespaces `types` of process `pid`: each
/// `/proc/PID/ns/<type>` opened first (after the mount namespace's setns
/// the host's /proc is out of sight), then setns(2) on each, the user
/// namespace first (the others belong to it, and its setns gives the
/// capabilities the others need), the mount namespace last. A namespace we
/// are in already is skipped: setns into one's own user namespace fails.
/// The PID namespace applies to the caller's children only: the caller
/// must fork after this for the command to be in it.
pub fn join_namespaces(pid: i32, types: &[LinuxNamespaceType]) -> anyhow::Result<()> {
    // Exercise 10, part 4. What must hold when this returns Ok:
    // - the caller is in each namespace of `types` that process `pid` is in
    //   (`/proc/PID/ns/<ns_file(type)>`, namespaces(7)): `readlink
    //   /proc/self/ns/uts` names the same namespace as `readlink
    //   /proc/PID/ns/uts`;
    // - open every file first, then call setns(2) (`nix::sched::setns`,
    //   with `clone_flag(type)` as the expected type) on each: once you are
    //   in the container's mount namespace, its /proc is not the host's;
    // - the user namespace first, the mount namespace last;
    // - skip a namespace you are in already (`same_namespace`): setns into
    //   your own user namespace is EINVAL;
    // - every failure is an Err naming the file; make each setns through
    //   `workshop::call`, so that `-x` shows it.
    // Observe step10 doing it: `cargo run -p step10 -- -x exec ID true 2>&1
    // | grep -E 'open|setns'`.
    todo!("exercise 10: join the namespaces {types:?} of process {pid}")
}
