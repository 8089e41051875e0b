//! The whole runtime on one page: `minimal ROOTFS COMMAND [ARGS...]`.
//!
//! A naive container in the order the chapters build it, each block marked
//! with the chapter that does it properly. It is the map, not the real thing.

// ANCHOR: all
use std::ffi::CString;
use std::process::exit;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, chdir, execvp, fork, pivot_root, sethostname};

/// Every runtime failure: name the syscall, exit 125 (as `docker run` does).
fn ok<T>(result: nix::Result<T>, syscall: &str) -> T {
    result.unwrap_or_else(|errno| {
        eprintln!("minimal: {syscall}: {errno}");
        exit(125)
    })
}

fn main() {
    let args: Vec<CString> = std::env::args()
        .skip(1)
        .map(|a| CString::new(a).unwrap())
        .collect();
    if args.len() < 2 {
        eprintln!("usage: minimal ROOTFS COMMAND [ARGS...]");
        exit(125);
    }
    let (rootfs, argv) = (args[0].as_c_str(), &args[1..]);

    // chapters 1-4: new namespaces; the next child we fork is PID 1 in the new PID one.
    let new = CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS;
    let new = new | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWNET;
    ok(unshare(new), "unshare");

    // SAFETY: this program has one thread, so the child may run any code until exec.
    match ok(unsafe { fork() }, "fork") {
        ForkResult::Child => container(rootfs, argv),
        // chapter 2: PID 1 forwards signals and reaps orphans; this parent only waits.
        ForkResult::Parent { child } => match ok(waitpid(child, None), "waitpid") {
            WaitStatus::Exited(_, code) => exit(code),
            WaitStatus::Signaled(_, signal, _) => exit(128 + signal as i32),
            _ => exit(125), // waitpid without WUNTRACED reports nothing else
        },
    }
}

/// The child, PID 1 of the new PID namespace: set it up, then become COMMAND.
fn container(rootfs: &std::ffi::CStr, argv: &[CString]) -> ! {
    // chapter 1: a hostname of its own.
    ok(sethostname("minimal"), "sethostname");

    // chapter 3: our mounts stop propagating to the host, then the rootfs becomes `/`.
    let none: Option<&str> = None;
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    ok(mount(none, "/", none, private, none), "mount / private");
    let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
    ok(
        mount(Some(rootfs), rootfs, none, bind, none),
        "mount --bind",
    );
    ok(chdir(rootfs), "chdir");
    ok(pivot_root(".", "."), "pivot_root");
    ok(umount2(".", MntFlags::MNT_DETACH), "umount2");
    ok(chdir("/"), "chdir /");
    // chapter 3 also mounts /dev, /sys and devpts here; chapter 8 puts an overlay under `/`.

    // chapter 2: a /proc that shows this PID namespace.
    let proc = Some("proc");
    ok(
        mount(proc, "/proc", proc, MsFlags::empty(), none),
        "mount proc",
    );

    // chapter 4 wires a veth pair into the network namespace here; ours has only a down `lo`.
    // chapter 5 adds limits here (a cgroup); chapter 6 drops capabilities here;
    // chapter 7 installs the seccomp filter here; chapter 9 makes root inside an ordinary user outside.

    // chapter 1: become the command; its exit status is ours.
    let errno = execvp(&argv[0], argv).unwrap_err();
    eprintln!("minimal: execvp {:?}: {errno}", argv[0]);
    exit(if errno == Errno::ENOENT { 127 } else { 126 })
}
// ANCHOR_END: all
