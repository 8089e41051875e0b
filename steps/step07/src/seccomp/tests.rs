//! The compiled program, asked through the interpreter the way the kernel
//! would run it.

use std::collections::HashSet;

use super::bpf::{self, SeccompData, ret};
use super::profile::{self, Context};
use super::*;

fn ctx<S: AsRef<str>>(caps: &[S]) -> Context<'static> {
    Context {
        arch: &X86_64,
        caps: caps.iter().map(|c| c.as_ref().to_string()).collect(),
        kernel: (6, 18),
    }
}

/// Docker's default set (step06's), as names.
fn docker_caps() -> Vec<String> {
    crate::caps::docker_default()
        .iter()
        .map(|c| c.to_string())
        .collect()
}

/// Docker's set and `more`.
fn docker_caps_and(more: &[&str]) -> Vec<String> {
    let mut caps = docker_caps();
    caps.extend(more.iter().map(|c| c.to_string()));
    caps
}

fn program<S: AsRef<str>>(caps: &[S]) -> Vec<bpf::sock_filter> {
    let (policy, _) = default::profile().resolve(&ctx(caps));
    compile(&policy, &X86_64).unwrap()
}

fn ask(prog: &[bpf::sock_filter], name: &str, args: [u64; 6]) -> u32 {
    let nr = syscalls::number(syscalls::X86_64, name).unwrap_or_else(|| panic!("{name}"));
    bpf::run(
        prog,
        &SeccompData {
            nr: nr as i32,
            arch: bpf::AUDIT_ARCH_X86_64,
            instruction_pointer: 0,
            args,
        },
    )
    .unwrap()
}

const EPERM: u32 = ret::ERRNO | 1;

#[test]
fn ordinary_calls_are_allowed() {
    let prog = program(&docker_caps());
    for name in [
        "read", "write", "openat", "execve", "getppid", "wait4", "mmap",
    ] {
        assert_eq!(ask(&prog, name, [0; 6]), ret::ALLOW, "{name}");
    }
}

#[test]
fn the_seccomp_class_is_refused_with_eperm() {
    let prog = program(&docker_caps());
    for name in [
        "keyctl",
        "add_key",
        "request_key",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "perf_event_open",
        "bpf",
        "userfaultfd",
        "kexec_load",
        "mount",
        "unshare",
        "setns",
    ]
    .into_iter()
    .filter(|n| syscalls::number(syscalls::X86_64, n).is_some())
    {
        assert_eq!(ask(&prog, name, [0; 6]), EPERM, "{name}");
    }
}

#[test]
fn clone3_is_enosys_so_libcs_fall_back() {
    let prog = program(&docker_caps());
    assert_eq!(ask(&prog, "clone3", [0; 6]), ret::ERRNO | 38);
    // With CAP_SYS_ADMIN it is allowed, flags and all.
    let admin = program(&docker_caps_and(&["CAP_SYS_ADMIN"]));
    assert_eq!(ask(&admin, "clone3", [0; 6]), ret::ALLOW);
}

#[test]
fn clone_may_not_ask_for_namespaces() {
    let prog = program(&docker_caps());
    let thread = (libc::CLONE_VM | libc::CLONE_THREAD | libc::CLONE_SIGHAND) as u64;
    assert_eq!(ask(&prog, "clone", [thread, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(
        ask(&prog, "clone", [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]),
        ret::ALLOW
    );
    for ns in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_NEWNET,
        libc::CLONE_NEWPID,
    ] {
        assert_eq!(ask(&prog, "clone", [ns as u64 | 17, 0, 0, 0, 0, 0]), EPERM);
    }
    // The high word takes part: a flag up there does not hide a namespace.
    assert_eq!(
        ask(
            &prog,
            "clone",
            [(1 << 32) | libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]
        ),
        EPERM
    );
    let admin = program(&["CAP_SYS_ADMIN"]);
    assert_eq!(
        ask(&admin, "clone", [libc::CLONE_NEWUSER as u64, 0, 0, 0, 0, 0]),
        ret::ALLOW
    );
}

#[test]
fn socket_families_and_personalities() {
    let prog = program(&docker_caps());
    assert_eq!(
        ask(&prog, "socket", [libc::AF_INET as u64, 1, 0, 0, 0, 0]),
        ret::ALLOW
    );
    assert_eq!(ask(&prog, "socket", [40, 1, 0, 0, 0, 0]), EPERM);
    // Only the low word is 40: not AF_VSOCK.
    assert_eq!(
        ask(&prog, "socket", [(1 << 32) | 40, 1, 0, 0, 0, 0]),
        ret::ALLOW
    );
    for p in default::PERSONALITIES {
        assert_eq!(
            ask(&prog, "personality", [p, 0, 0, 0, 0, 0]),
            ret::ALLOW,
            "{p:#x}"
        );
    }
    // ADDR_NO_RANDOMIZE: switching ASLR off is not among them.
    assert_eq!(ask(&prog, "personality", [0x0040000, 0, 0, 0, 0, 0]), EPERM);
}

#[test]
fn cap_add_widens_the_filter() {
    let plain = program(&docker_caps());
    assert_eq!(ask(&plain, "mount", [0; 6]), EPERM);
    assert_eq!(ask(&plain, "ptrace", [0; 6]), ret::ALLOW); // 4.8+: allowed to all
    assert_eq!(ask(&plain, "kcmp", [0; 6]), EPERM);
    assert_eq!(ask(&plain, "reboot", [0; 6]), EPERM);
    let more = program(&docker_caps_and(&[
        "CAP_SYS_ADMIN",
        "CAP_SYS_PTRACE",
        "CAP_SYS_BOOT",
    ]));
    for name in [
        "mount",
        "unshare",
        "setns",
        "kcmp",
        "reboot",
        "bpf",
        "perf_event_open",
    ] {
        assert_eq!(ask(&more, name, [0; 6]), ret::ALLOW, "{name}");
    }
    // Still refused: no capability opens these.
    for name in [
        "keyctl",
        "add_key",
        "io_uring_setup",
        "userfaultfd",
        "kexec_load",
    ] {
        assert_eq!(ask(&more, name, [0; 6]), EPERM, "{name}");
    }
}

#[test]
fn min_kernel_is_honoured() {
    let mut old = ctx(&docker_caps());
    old.kernel = (4, 4);
    let (policy, _) = default::profile().resolve(&old);
    let prog = compile(&policy, &X86_64).unwrap();
    assert_eq!(ask(&prog, "ptrace", [0; 6]), EPERM);
}

#[test]
fn other_abis_are_killed() {
    let prog = program(&docker_caps());
    // i386's getpid (20) through int $0x80.
    let i386 = SeccompData {
        nr: 20,
        arch: bpf::AUDIT_ARCH_I386,
        ..Default::default()
    };
    assert_eq!(bpf::run(&prog, &i386).unwrap(), ret::KILL_PROCESS);
    // x32's read: the native arch with bit 30 set in the number.
    let x32 = SeccompData {
        nr: 0x4000_0000,
        arch: bpf::AUDIT_ARCH_X86_64,
        ..Default::default()
    };
    assert_eq!(bpf::run(&prog, &x32).unwrap(), ret::KILL_PROCESS);
    // aarch64's filter wants aarch64 calls.
    let (policy, _) = default::profile().resolve(&Context {
        arch: &AARCH64,
        ..ctx(&docker_caps())
    });
    let arm = compile(&policy, &AARCH64).unwrap();
    let x86_call = SeccompData {
        nr: 0,
        arch: bpf::AUDIT_ARCH_X86_64,
        ..Default::default()
    };
    assert_eq!(bpf::run(&arm, &x86_call).unwrap(), ret::KILL_PROCESS);
    let arm_read = SeccompData {
        nr: 63,
        arch: bpf::AUDIT_ARCH_AARCH64,
        ..Default::default()
    };
    assert_eq!(bpf::run(&arm, &arm_read).unwrap(), ret::ALLOW);
}

#[test]
fn every_comparison_on_64_bits() {
    /// An argument, and whether the condition holds for it.
    type Samples = &'static [(u64, bool)];
    let cases: &[(Op, u64, u64, Samples)] = &[
        (
            Op::Eq,
            0x1_0000_0005,
            0,
            &[(0x1_0000_0005, true), (5, false), (0x2_0000_0005, false)],
        ),
        (
            Op::Ne,
            7,
            0,
            &[(7, false), (8, true), (0x1_0000_0007, true)],
        ),
        (
            Op::Gt,
            0x1_0000_0000,
            0,
            &[
                (0x1_0000_0001, true),
                (0x1_0000_0000, false),
                (0xffff_ffff, false),
                (0x2_0000_0000, true),
            ],
        ),
        (
            Op::Ge,
            0x1_0000_0000,
            0,
            &[(0x1_0000_0000, true), (0xffff_ffff, false)],
        ),
        (
            Op::Lt,
            0x1_0000_0000,
            0,
            &[(0xffff_ffff, true), (0x1_0000_0000, false), (0, true)],
        ),
        (
            Op::Le,
            10,
            0,
            &[(10, true), (11, false), (0x1_0000_0000, false), (3, true)],
        ),
        (
            Op::MaskedEq,
            0xff00_0000_00ff,
            0x1200_0000_0034,
            &[(0x12ab_cdef_0034, true), (0x1200_0000_0035, false)],
        ),
    ];
    for &(op, value, value_two, samples) in cases {
        let policy = Policy {
            default: Action::Errno(1),
            syscalls: [(
                0,
                Syscall {
                    name: "read",
                    rules: vec![Rule {
                        conds: vec![Cond {
                            index: 2,
                            op,
                            value,
                            value_two,
                        }],
                        action: Action::Allow,
                    }],
                },
            )]
            .into(),
        };
        let prog = compile(&policy, &X86_64).unwrap();
        for &(arg, holds) in samples {
            let got = ask(&prog, "read", [0, 0, arg, 0, 0, 0]);
            let want = if holds { ret::ALLOW } else { EPERM };
            assert_eq!(got, want, "{op:?} {value:#x}: arg {arg:#x}");
        }
    }
}

#[test]
fn the_default_survives_a_trip_through_json() {
    let profile = default::profile();
    let text = serde_json::to_string_pretty(&profile).unwrap();
    let back = profile::parse(&text).unwrap();
    assert_eq!(back, profile);
    let caps: HashSet<String> = docker_caps().into_iter().collect();
    let c = Context {
        caps,
        ..ctx::<&str>(&[])
    };
    assert_eq!(back.resolve(&c), profile.resolve(&c));
}

#[test]
fn malformed_profiles_name_the_field() {
    let cases = [
        (r#"{"defaultAction": "SCMP_ACT_NOPE"}"#, "defaultAction"),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "ALLOW"}]}"#,
            "syscalls[0].action",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
            "syscalls[0].args[0].index",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}"#,
            "syscalls[0].args[0].op",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}"#,
            "syscalls[0].names",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}"#,
            "syscalls[0].action",
        ),
        (r#"{"syscalls": []}"#, "defaultAction"),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}]}"#,
            "minKernel",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}"#,
            "defaultErrnoRet",
        ),
        ("{", "EOF"),
    ];
    for (text, field) in cases {
        let err = profile::parse(text).unwrap_err();
        assert!(err.contains(field), "{text}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn same_argument_twice_makes_separate_rules() {
    let text = r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
            {"index": 2, "value": 8, "op": "SCMP_CMP_LE"}]}]}"#;
    let (policy, _) = profile::parse(text).unwrap().resolve(&ctx::<&str>(&[]));
    let prog = compile(&policy, &X86_64).unwrap();
    assert_eq!(ask(&prog, "personality", [8, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(ask(&prog, "personality", [0, 0, 0, 0, 0, 0]), ret::ALLOW);
    assert_eq!(ask(&prog, "read", [0, 0, 8, 0, 0, 0]), ret::ALLOW);
    assert_eq!(ask(&prog, "read", [1, 0, 8, 0, 0, 0]), EPERM);
    assert_eq!(ask(&prog, "read", [0, 0, 9, 0, 0, 0]), EPERM);
}

#[test]
fn the_default_fits_and_says_what_it_does() {
    let (policy, unknown) = default::profile().resolve(&ctx(&docker_caps()));
    let filter = Filter::new(policy, unknown).unwrap();
    assert!(filter.program.len() < bpf::MAX_INSNS);
    let summary = filter.summary();
    assert!(summary.contains("KILL_PROCESS"), "{summary}");
    assert!(summary.contains("ERRNO(38) (clone3)"), "{summary}");
    assert!(summary.contains("anything else → ERRNO(1)"), "{summary}");
    assert!(filter.listing().contains("; getppid"));
    // The 32-bit names (chown32, ...) are not x86_64 calls.
    assert!(filter.unknown.iter().any(|n| n == "chown32"));
    assert!(!filter.unknown.iter().any(|n| n == "read"));
}

#[test]
fn versions_parse() {
    assert_eq!(parse_version("6.18.44-fc-v857"), Some((6, 18)));
    assert_eq!(parse_version("4.8"), Some((4, 8)));
    assert_eq!(parse_version("5.10.0-23-amd64"), Some((5, 10)));
    assert_eq!(parse_version("six"), None);
}

#[test]
fn the_book_listing_shows_the_arch_check_and_rules() {
    let text = book_listing();
    assert!(text.contains("AUDIT_ARCH_X86_64"), "{text}");
    assert!(text.contains("; socket"), "{text}");
    assert!(text.contains("; clone"), "{text}");
    assert!(text.contains("ERRNO(1)"), "{text}");
}

#[test]
#[ignore = "prints the book's listing: cargo test -p step07 print_listing -- --ignored --nocapture"]
fn print_listing() {
    print!("{}", book_listing());
}
