//! Docker's default seccomp profile, as a [`Profile`] built in code: the
//! same entries as moby's `profiles/seccomp/default.json` since moby 25,
//! which took `io_uring_setup`, `io_uring_enter` and `io_uring_register` out
//! of the allowlist (moby pull request 46762: io_uring had become the
//! kernel's most exploited surface).
//!
//! Its shape: a long allowlist of what ordinary programs call; a few
//! syscalls allowed only with arguments that cannot hurt (`socket` of any
//! family but AF_VSOCK, `personality` with five harmless values, `clone`
//! without namespace flags); `clone3` answered with ENOSYS, because its
//! flags live in memory the filter cannot read, so libcs fall back to
//! `clone`; and what needs a capability (mount, unshare, setns, bpf,
//! perf_event_open, ...) allowed only when the container has that
//! capability, as `--cap-add` gives it. Everything else fails with EPERM:
//! keyctl and add_key (the kernel keyring has no namespace), userfaultfd,
//! kexec_load, the io_uring calls, and any syscall newer than the profile.

use super::profile::{ActionName, Arg, Conditions, Entry, OpName, Profile};

/// Allowed for every container.
const ALWAYS: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// The namespace flags of clone(2): `CLONE_NEWNS | CLONE_NEWCGROUP |
/// CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET` = 0x7e020000. Without CAP_SYS_ADMIN, clone must not ask
/// for any of them.
pub const CLONE_NAMESPACES: u64 = 0x7e02_0000;

/// AF_VSOCK: sockets to the hypervisor, refused to every container.
pub const AF_VSOCK: u64 = 40;

/// What `personality(2)` may be set to: PER_LINUX, PER_LINUX32,
/// UNAME26, PER_LINUX32|UNAME26, and 0xffffffff (which only queries).
pub const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Syscalls allowed when the container holds a capability.
const WITH_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Allowed on one family of architectures only.
const PER_ARCH: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    (&["riscv64"], &["riscv_flush_icache"]),
];

fn strings(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

fn allow(names: &[&str]) -> Entry {
    Entry {
        names: strings(names),
        action: ActionName::SCMP_ACT_ALLOW,
        ..Entry::default()
    }
}

fn arg(index: u8, op: OpName, value: u64) -> Option<Vec<Arg>> {
    Some(vec![Arg {
        index,
        value,
        value_two: 0,
        op,
    }])
}

fn only(caps: &[&str], arches: &[&str]) -> Option<Conditions> {
    Some(Conditions {
        caps: (!caps.is_empty()).then(|| strings(caps)).flatten(),
        arches: (!arches.is_empty()).then(|| strings(arches)).flatten(),
        min_kernel: None,
    })
}

// ANCHOR: profile
/// Docker's default profile.
pub fn profile() -> Profile {
    let mut entries = vec![
        allow(ALWAYS),
        // ptrace and reading other processes' memory: since 4.8 the kernel
        // runs seccomp again after a tracer changes a call, so a traced
        // child cannot be steered around the filter.
        Entry {
            includes: Some(Conditions {
                min_kernel: Some("4.8".into()),
                ..Conditions::default()
            }),
            ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
        },
        Entry {
            args: arg(0, OpName::SCMP_CMP_NE, AF_VSOCK),
            ..allow(&["socket"])
        },
    ];
    entries.extend(PERSONALITIES.map(|p| Entry {
        args: arg(0, OpName::SCMP_CMP_EQ, p),
        ..allow(&["personality"])
    }));
    for (arches, names) in PER_ARCH {
        entries.push(Entry {
            includes: only(&[], arches),
            ..allow(names)
        });
    }
    let (with_admin, others) = WITH_CAPABILITY.split_at(2);
    for (cap, names) in with_admin {
        entries.push(Entry {
            includes: only(&[cap], &[]),
            ..allow(names)
        });
    }
    entries.extend([
        // clone without CAP_SYS_ADMIN: no namespace flags. (s390 passes
        // clone's flags as the second argument.)
        Entry {
            args: Some(vec![Arg {
                index: 0,
                value: CLONE_NAMESPACES,
                value_two: 0,
                op: OpName::SCMP_CMP_MASKED_EQ,
            }]),
            excludes: only(&["CAP_SYS_ADMIN"], &["s390", "s390x"]),
            ..allow(&["clone"])
        },
        Entry {
            args: Some(vec![Arg {
                index: 1,
                value: CLONE_NAMESPACES,
                value_two: 0,
                op: OpName::SCMP_CMP_MASKED_EQ,
            }]),
            includes: only(&[], &["s390", "s390x"]),
            excludes: only(&["CAP_SYS_ADMIN"], &[]),
            ..allow(&["clone"])
        },
        // clone3's flags are in a struct in memory, out of the filter's
        // reach: ENOSYS makes glibc and musl fall back to clone.
        Entry {
            names: strings(&["clone3"]),
            action: ActionName::SCMP_ACT_ERRNO,
            errno_ret: Some(libc::ENOSYS as u16),
            excludes: only(&["CAP_SYS_ADMIN"], &[]),
            ..Entry::default()
        },
    ]);
    for (cap, names) in others {
        entries.push(Entry {
            includes: only(&[cap], &[]),
            ..allow(names)
        });
    }
    Profile {
        default_action: ActionName::SCMP_ACT_ERRNO,
        default_errno_ret: Some(libc::EPERM as u16),
        arch_map: None,
        architectures: None,
        syscalls: Some(entries),
        flags: None,
        listener_path: None,
    }
}
// ANCHOR_END: profile
