//! Chapter 7: seccomp. Before the command runs, the runtime hands the
//! kernel a small BPF program; from then on the kernel runs it on every
//! syscall the container makes, before the syscall itself, and does what it
//! answers: allow the call, fail it with an errno, or kill the process.
//!
//! The program is built from a [`Policy`]: a default action and, per
//! syscall, rules (argument conditions and an action). A policy comes from a
//! profile in Docker's JSON format ([`profile`]): Docker's default
//! ([`default`]), or a file given with `--security-opt seccomp=FILE`.
//!
//! ```text
//!  ld  [4]                  ; arch            1. which ABI is calling?
//!  jeq #AUDIT_ARCH_X86_64   → 3 else 2           not ours: kill the process
//!  ret KILL_PROCESS
//!  ld  [0]                  ; nr              2. which syscall?
//!  jge #0x40000000          → kill else on       x32 numbers: kill
//!  jeq #0 (read)            → ret ALLOW else on  one block per syscall the
//!  jeq #56 (clone)          → its rules ...      policy names
//!  ...
//!  ret ERRNO(1)                                3. none of them: the default
//! ```

pub mod bpf;
pub mod default;
pub mod profile;
pub mod syscalls;

use std::collections::BTreeMap;

use nix::errno::Errno;
use workshop::sys::{SyscallError, call};

use bpf::{Asm, ret, sock_filter};

/// The program's parts, [`check_arch`], [`decide`] and [`compare`], are the
/// `filter` module's: re-exported here. A glob, so that exercise 7, whose
/// `filter` module is the learner's, compiles this file as it is.
pub use crate::filter::*;

/// What the kernel does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Kill the whole process (SIGSYS), as a mismatched ABI gets.
    KillProcess,
    /// Kill the calling thread only.
    KillThread,
    /// Send SIGSYS, which the process may handle.
    Trap,
    /// Fail the call with this errno; the syscall never runs.
    Errno(u16),
    /// Tell a ptrace tracer; without one the call fails with ENOSYS.
    Trace(u16),
    /// Allow it and log it.
    Log,
    /// Allow it.
    Allow,
}

impl Action {
    /// The filter's return value for this action (`SECCOMP_RET_*`).
    pub fn ret(self) -> u32 {
        match self {
            Action::KillProcess => ret::KILL_PROCESS,
            Action::KillThread => ret::KILL_THREAD,
            Action::Trap => ret::TRAP,
            Action::Errno(errno) => ret::ERRNO | u32::from(errno),
            Action::Trace(msg) => ret::TRACE | u32::from(msg),
            Action::Log => ret::LOG,
            Action::Allow => ret::ALLOW,
        }
    }
}

/// How an argument is compared (libseccomp's `SCMP_CMP_*`), unsigned and on
/// all 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & value) == value_two`.
    MaskedEq,
}

/// One condition on one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    /// Which argument, 0 to 5.
    pub index: u8,
    pub op: Op,
    pub value: u64,
    /// The value compared with for [`Op::MaskedEq`].
    pub value_two: u64,
}

/// A rule: when every condition holds, the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub conds: Vec<Cond>,
    pub action: Action,
}

/// The rules of one syscall, tried in order; the first that matches decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syscall {
    pub name: &'static str,
    pub rules: Vec<Rule>,
}

/// What the filter decides: per syscall number its rules, else the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default: Action,
    pub syscalls: BTreeMap<u32, Syscall>,
}

/// An architecture's ABI as the filter sees it.
#[derive(Debug)]
pub struct Arch {
    /// Docker's name for it (Go's GOARCH): `amd64`, `arm64`.
    pub name: &'static str,
    /// What the kernel puts in `seccomp_data.arch` for its calls.
    pub audit: u32,
    /// x86_64 only: x32 calls carry the native arch and have this bit set
    /// in their number (`__X32_SYSCALL_BIT`).
    pub x32_bit: Option<u32>,
    /// Syscall numbers by name.
    pub table: &'static [(&'static str, u32)],
}

/// x86_64.
pub const X86_64: Arch = Arch {
    name: "amd64",
    audit: bpf::AUDIT_ARCH_X86_64,
    x32_bit: Some(0x4000_0000),
    table: syscalls::X86_64,
};

/// aarch64.
pub const AARCH64: Arch = Arch {
    name: "arm64",
    audit: bpf::AUDIT_ARCH_AARCH64,
    x32_bit: None,
    table: syscalls::AARCH64,
};

/// The architecture this runtime was built for.
pub fn native() -> &'static Arch {
    #[cfg(target_arch = "x86_64")]
    return &X86_64;
    #[cfg(target_arch = "aarch64")]
    return &AARCH64;
}

// ANCHOR: compile
/// The whole program: the ABI check ([`check_arch`]), one block per
/// syscall of the policy ([`decide`], which calls [`compare`]), and the
/// default for every call no block claims. The parts are the `filter`
/// module's: step07's own or, in exercise 7, which compiles this module as
/// it is, the learner's.
pub fn compile(policy: &Policy, arch: &Arch) -> Result<Vec<sock_filter>, String> {
    let mut asm = Asm::new();
    check_arch(&mut asm, arch);
    for (&nr, syscall) in &policy.syscalls {
        decide(&mut asm, nr, &syscall.rules, policy.default);
    }
    asm.ret(policy.default.ret());
    asm.finish()
}
// ANCHOR_END: compile

/// A compiled filter and what it was made from.
#[derive(Debug, Clone)]
pub struct Filter {
    pub program: Vec<sock_filter>,
    pub policy: Policy,
    /// Syscalls the profile names that this architecture does not have.
    pub unknown: Vec<String>,
}

impl Filter {
    /// Compiles `policy` for the native architecture.
    pub fn new(policy: Policy, unknown: Vec<String>) -> Result<Filter, String> {
        let program = compile(&policy, native())?;
        Ok(Filter {
            program,
            policy,
            unknown,
        })
    }

    /// One paragraph on what the kernel receives, for `--explain`.
    pub fn summary(&self) -> String {
        let mut by_action: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        let mut with_args = Vec::new();
        for s in self.policy.syscalls.values() {
            if s.rules.iter().any(|r| !r.conds.is_empty()) {
                with_args.push(s.name);
            } else if let Some(rule) = s.rules.first() {
                by_action
                    .entry(bpf::ret_name(rule.action.ret()))
                    .or_default()
                    .push(s.name);
            }
        }
        let mut parts = vec![format!(
            "{} BPF instructions for {}: a call of another ABI → KILL_PROCESS",
            self.program.len(),
            native().name
        )];
        for (action, names) in &by_action {
            let shown = if names.len() <= 4 {
                format!(" ({})", names.join(", "))
            } else {
                String::new()
            };
            let noun = if names.len() == 1 {
                "syscall"
            } else {
                "syscalls"
            };
            parts.push(format!("{} {noun} → {action}{shown}", names.len()));
        }
        if !with_args.is_empty() {
            parts.push(format!(
                "{} with argument rules ({})",
                with_args.len(),
                with_args.join(", ")
            ));
        }
        parts.push(format!(
            "anything else → {}",
            bpf::ret_name(self.policy.default.ret())
        ));
        if !self.unknown.is_empty() {
            parts.push(format!(
                "{} names this architecture lacks ignored",
                self.unknown.len()
            ));
        }
        parts.join("; ")
    }

    /// The program, one instruction a line.
    pub fn listing(&self) -> String {
        bpf::disassemble(&self.program, |nr| syscalls::name(native().table, nr))
    }
}

/// `seccomp(2)`'s operation and flag (`linux/seccomp.h`).
const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1;

// ANCHOR: install
/// (3) Hand the program to the kernel: `seccomp(SECCOMP_SET_MODE_FILTER)`.
/// From this call on, every syscall of this process and its children runs
/// the filter first; it cannot be removed, only more filters added (the
/// strictest answer wins). TSYNC puts every thread of the process under it
/// at once, not just the calling one. Unprivileged processes may install a
/// filter only with no_new_privs set, so that a set-user-ID program cannot
/// be run under a filter that lies to it: step06's capability drop sets it.
pub fn install(filter: &Filter) -> Result<(), SyscallError> {
    workshop::explain!("seccomp: {}", filter.summary());
    let len = u16::try_from(filter.program.len()).unwrap_or(u16::MAX);
    let prog = libc::sock_fprog {
        len,
        filter: filter.program.as_ptr().cast_mut(),
    };
    call(
        "seccomp",
        format!("SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, {{len={len}}}"),
        || {
            // SAFETY: `prog` points at `filter.program`, which lives past
            // the call; the kernel copies the instructions before returning.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    SECCOMP_SET_MODE_FILTER,
                    SECCOMP_FILTER_FLAG_TSYNC,
                    &prog as *const libc::sock_fprog,
                )
            };
            match rc {
                // With TSYNC a positive result is the thread that could not
                // be synchronised (it has a filter of its own).
                0 => Ok(()),
                tid if tid > 0 => Err(Errno::ESRCH),
                _ => Err(Errno::last()),
            }
        },
    )
    .map_err(|e| match e.errno {
        Errno::EACCES => e.with_hint(
            "a filter needs no_new_privs (or CAP_SYS_ADMIN): set PR_SET_NO_NEW_PRIVS first",
        ),
        Errno::ESRCH => e.with_hint("another thread has a filter of its own; TSYNC cannot join it"),
        _ => e,
    })
}
// ANCHOR_END: install

/// The kernel's version from uname(2): (major, minor).
pub fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_version(&release).unwrap_or((0, 0))
}

/// `6.18.44-fc` → (6, 18).
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests;

/// `--security-opt`: which filter, if any.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SeccompOpt {
    /// seccomp=FILE loads a profile in Docker's JSON format (moby's own
    /// default.json, or yours); seccomp=unconfined runs without a filter.
    /// Without it: Docker's default profile.
    #[arg(long = "security-opt", value_name = "seccomp=FILE|unconfined", value_parser = parse_security_opt)]
    pub security_opt: Vec<SecurityOpt>,
}

/// One `--security-opt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecurityOpt {
    Profile(std::path::PathBuf),
    Unconfined,
}

/// `seccomp=FILE` or `seccomp=unconfined`; nothing else.
pub fn parse_security_opt(s: &str) -> Result<SecurityOpt, String> {
    match s.split_once('=') {
        Some(("seccomp", "unconfined")) => Ok(SecurityOpt::Unconfined),
        Some(("seccomp", path)) if !path.is_empty() => Ok(SecurityOpt::Profile(path.into())),
        _ => Err(format!(
            "{s:?} is not a security option step07 knows: give seccomp=FILE or seccomp=unconfined"
        )),
    }
}

/// The filter for a container with capabilities `caps`: Docker's default,
/// the profile given, or none for `seccomp=unconfined` (the last
/// `--security-opt` counts). Errors are one line naming the field.
pub fn resolve(opt: &SeccompOpt, caps: &::caps::CapsHashSet) -> Result<Option<Filter>, String> {
    let profile = match opt.security_opt.last() {
        Some(SecurityOpt::Unconfined) => return Ok(None),
        Some(SecurityOpt::Profile(path)) => profile::load(path)?,
        None => default::profile(),
    };
    let ctx = profile::Context {
        arch: native(),
        caps: caps.iter().map(|c| c.to_string()).collect(),
        kernel: kernel_version(),
    };
    let (policy, unknown) = profile.resolve(&ctx);
    Filter::new(policy, unknown).map(Some)
}

/// The book's listing: the start and the end of the program Docker's
/// default profile compiles to on x86_64 for Docker's capability set.
pub fn book_listing() -> String {
    let ctx = profile::Context {
        arch: &X86_64,
        caps: crate::caps::docker_default()
            .iter()
            .map(|c| c.to_string())
            .collect(),
        kernel: (6, 8),
    };
    let (policy, _) = default::profile().resolve(&ctx);
    let program = compile(&policy, &X86_64).unwrap_or_default();
    let text = bpf::disassemble(&program, |nr| syscalls::name(X86_64.table, nr));
    let lines: Vec<&str> = text.lines().collect();
    // The ABI check and the first blocks; socket's argument rule (41), the
    // first with conditions; clone's (56); and the end.
    let find = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let mut out = String::from("```text\n");
    let mut show = |from: usize, to: usize| {
        for l in &lines[from..to.min(lines.len())] {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("  ...\n");
    };
    show(0, 11);
    if let Some(at) = find("; socket") {
        show(at, at + 8);
    }
    if let Some(at) =
        find("; clone\n").or_else(|| lines.iter().position(|l| l.ends_with("; clone")))
    {
        show(at, at + 8);
    }
    out.truncate(out.len() - "  ...\n".len());
    out.push_str("  ...\n");
    for l in &lines[lines.len().saturating_sub(3)..] {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(&format!(
        "({} instructions; the unit tests ask this program through seccomp/bpf.rs's interpreter)\n```\n",
        program.len()
    ));
    out
}
