//! The device cgroup: which device nodes the container may open.
//!
//! Docker keeps CAP_MKNOD, and a container given CAP_SYS_ADMIN can mount a
//! tmpfs *without* `nodev`: `mknod` there of the host's disk (b 8:0) or
//! kernel log (c 1:11), and it opens. Mount flags cannot stop that; the
//! kernel's device check can. Every open of a device node, and every mknod,
//! asks the container's cgroup whether that (type, major, minor, access) is
//! allowed. See the kernel's
//! [cgroup v1 devices](https://docs.kernel.org/admin-guide/cgroup-v1/devices.html)
//! and, for v2, `BPF_PROG_TYPE_CGROUP_DEVICE` in bpf(2) and
//! [the cgroup v2 docs](https://docs.kernel.org/admin-guide/cgroup-v2.html#device-controller).
//!
//! - cgroup v1: the `devices` controller's files: `devices.deny` `a` first
//!   (nothing at all), then one `devices.allow` line per rule.
//! - cgroup v2 has no such files. A small eBPF program is attached to the
//!   cgroup; the kernel runs it on every device access and allows the access
//!   when it returns 1. runc, crun and youki each write the program from the
//!   rules; [`program`] is ours, instruction by instruction.
//!
//! The rules are Docker's default ([`ALLOWED`]): any node may be *made*, but
//! only the harmless ones and the container's own terminals opened.
//!
//! Mount flags still lock the common case, without relying on the cgroup:
//! [`root_nodev`] remounts the container's `/` `nodev`, so a node made
//! anywhere in the rootfs does not open even where the rules would allow it.
//!
//! [`restrict`] (the rules onto the container's cgroup, v1 or v2),
//! [`restrict_v1`] and [`root_nodev`] live in `dev.rs`, re-exported here:
//! exercise 6 compiles this file as it is, with the learner's `dev` module.

use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode as Mode_;
use workshop::{SyscallError, call};

use crate::cgroup::Cgroup;

/// The container's `/dev` locked: [`restrict`], [`restrict_v1`], [`root_nodev`].
pub use crate::dev::*;

/// Block or character device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Block,
    Char,
}

/// One allow rule: `c 1:3 rwm`. `None` is the wildcard `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// `r`, `w`, `m` as [`READ`] | [`WRITE`] | [`MKNOD`].
    pub access: u32,
}

/// The access bits, as `BPF_DEVCG_ACC_*` of `<linux/bpf.h>` number them.
pub const MKNOD: u32 = 1;
pub const READ: u32 = 2;
pub const WRITE: u32 = 4;

const fn rule(kind: Kind, major: Option<u32>, minor: Option<u32>, access: u32) -> Rule {
    Rule {
        kind,
        major,
        minor,
        access,
    }
}

// ANCHOR: allowed
/// Docker's default device rules (moby's `oci/defaults.go` and runc's
/// `AllowedDevices`): mknod of anything; read, write and mknod of the six
/// devices step03 binds into /dev, the console, and the container's own
/// terminals (`/dev/pts/ptmx` is 5:2, its slaves 136:N).
pub const ALLOWED: [Rule; 11] = [
    rule(Kind::Char, None, None, MKNOD),
    rule(Kind::Block, None, None, MKNOD),
    rule(Kind::Char, Some(1), Some(3), READ | WRITE | MKNOD), // null
    rule(Kind::Char, Some(1), Some(5), READ | WRITE | MKNOD), // zero
    rule(Kind::Char, Some(1), Some(7), READ | WRITE | MKNOD), // full
    rule(Kind::Char, Some(1), Some(8), READ | WRITE | MKNOD), // random
    rule(Kind::Char, Some(1), Some(9), READ | WRITE | MKNOD), // urandom
    rule(Kind::Char, Some(5), Some(0), READ | WRITE | MKNOD), // tty
    rule(Kind::Char, Some(5), Some(1), READ | WRITE | MKNOD), // console
    rule(Kind::Char, Some(5), Some(2), READ | WRITE | MKNOD), // ptmx
    rule(Kind::Char, Some(136), None, READ | WRITE | MKNOD),  // pts/N
];
// ANCHOR_END: allowed

impl fmt::Display for Rule {
    /// The line `devices.allow` takes: `c 1:3 rwm`, `b *:* m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let num = |n: Option<u32>| n.map_or("*".to_owned(), |n| n.to_string());
        let mut access = String::new();
        for (bit, c) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(c);
            }
        }
        let kind = match self.kind {
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        write!(f, "{kind} {}:{} {access}", num(self.major), num(self.minor))
    }
}

/// One write of a cgroup file, narrated.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), SyscallError> {
    call("write", format!("{path:?}, {value:?}"), || {
        std::fs::write(path, value).map_err(workshop::io_errno)
    })
}

/// One eBPF instruction, `struct bpf_insn` of `<linux/bpf.h>`: opcode,
/// destination and source register (4 bits each), offset, immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// The opcodes the program uses (class | operation | source).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
const ALU_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K: dst &= imm (32 bit)
const ALU_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K: dst >>= imm
const ALU_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K: dst = imm
const ALU_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X: dst = src
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto +off
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X: if dst != src goto +off
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT: return r0

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// `BPF_DEVCG_DEV_BLOCK` and `BPF_DEVCG_DEV_CHAR`.
fn devcg_type(kind: Kind) -> i32 {
    match kind {
        Kind::Block => 1,
        Kind::Char => 2,
    }
}

// ANCHOR: program
/// The v2 device program for `rules`. The kernel calls it with r1 pointing
/// at a `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`,
/// where `access_type` is `(access << 16) | type`; it returns 1 to allow.
///
/// ```text
///   r2 = ctx->access_type & 0xffff       the type: 1 block, 2 char
///   r3 = ctx->access_type >> 16          the access: 1 mknod, 2 read, 4 write
///   r4 = ctx->major
///   r5 = ctx->minor
/// for each rule:
///   if r2 != TYPE goto next
///   r1 = r3; r1 &= ACCESS; if r1 != r3 goto next   (asked ⊆ allowed)
///   if r4 != MAJOR goto next                       (unless MAJOR is *)
///   if r5 != MINOR goto next                       (unless MINOR is *)
///   r0 = 1; exit
/// next: ...
///   r0 = 0; exit                                   nothing matched: deny
/// ```
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules {
        let mut block = vec![
            insn(JNE_K, 2, 0, 0, devcg_type(rule.kind)),
            insn(ALU_MOV_X, 1, 3, 0, 0),
            insn(ALU_AND_K, 1, 0, 0, rule.access as i32),
            insn(JNE_X, 1, 3, 0, 0),
        ];
        if let Some(major) = rule.major {
            block.push(insn(JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            block.push(insn(JNE_K, 5, 0, 0, minor as i32));
        }
        block.push(insn(ALU_MOV_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        // Every jump goes to the first instruction after the block.
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K || ins.code == JNE_X {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
    }
    prog.push(insn(ALU_MOV_K, 0, 0, 0, 0));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}
// ANCHOR_END: program

/// The part of `union bpf_attr` that `BPF_PROG_LOAD` reads.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The part of `union bpf_attr` that `BPF_PROG_ATTACH` reads.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Other programs attached above us (systemd's) keep running too: every
/// program on the path must allow an access.
const BPF_F_ALLOW_MULTI: u32 = 2;

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> nix::Result<libc::c_long> {
    // SAFETY: `attr` is a `union bpf_attr` prefix of the layout the kernel
    // expects for `cmd`, valid for its whole size, which we pass; the kernel
    // zero-extends what we leave out.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    Errno::result(rc)
}

// ANCHOR: v2
/// cgroup v2: loads [`program`] for `rules` and attaches it to the
/// container's cgroup (`cgroup`, an open descriptor of its directory). The
/// program stays attached until the cgroup is removed; our descriptor of it
/// can go.
pub fn restrict_v2(cgroup: BorrowedFd<'_>, rules: &[Rule]) -> Result<(), SyscallError> {
    let prog = program(rules);
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 64 * 1024];
    let mut load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        ..ProgLoadAttr::default()
    };
    load.prog_name[..6].copy_from_slice(b"devcg\0");
    let fd = call(
        "bpf",
        format!(
            "BPF_PROG_LOAD, {{prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt={}}}",
            prog.len()
        ),
        || bpf(BPF_PROG_LOAD, &mut load),
    )
    .map_err(|e| {
        let text = String::from_utf8_lossy(&log);
        let last = text
            .trim_end_matches('\0')
            .lines()
            .last()
            .unwrap_or("")
            .to_owned();
        e.with_hint(format!("the verifier said: {last}"))
    })?;
    // SAFETY: BPF_PROG_LOAD returned a new descriptor that nothing else owns.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut attach = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    call(
        "bpf",
        format!(
            "BPF_PROG_ATTACH, {{target_fd={}, attach_bpf_fd={}, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI}}",
            cgroup.as_raw_fd(),
            prog_fd.as_raw_fd()
        ),
        || bpf(BPF_PROG_ATTACH, &mut attach).map(drop),
    )
}
// ANCHOR_END: v2

/// cgroup v2: the container's cgroup directory, opened for
/// [`restrict_v2`] (`BPF_PROG_ATTACH` takes the cgroup as a descriptor).
pub fn open_cgroup_dir(cgroup: &Cgroup) -> Result<OwnedFd, SyscallError> {
    let dir = cgroup.paths().first().cloned().unwrap_or_default();
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    call(
        "open",
        format!("{dir:?}, O_RDONLY|O_DIRECTORY|O_CLOEXEC"),
        || nix::fcntl::open(&dir, flags, Mode_::empty()),
    )
}

/// cgroup v1: the container's cgroup in the `devices` hierarchy, the one
/// of its directories that has a `devices.deny`.
pub fn devices_dir(cgroup: &Cgroup) -> Result<PathBuf, SyscallError> {
    cgroup
        .paths()
        .into_iter()
        .find(|p| p.join("devices.deny").exists())
        .ok_or_else(|| SyscallError {
            call: "open",
            args: "<devices hierarchy>/devices.deny".into(),
            errno: Errno::ENOENT,
            hint: Some(
                "this host has no cgroup v1 devices hierarchy under /sys/fs/cgroup \
                 (see /proc/cgroups); without it no device rules can be set"
                    .into(),
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_print_as_devices_allow_takes_them() {
        assert_eq!(ALLOWED[0].to_string(), "c *:* m");
        assert_eq!(ALLOWED[1].to_string(), "b *:* m");
        assert_eq!(ALLOWED[2].to_string(), "c 1:3 rwm");
        assert_eq!(ALLOWED[10].to_string(), "c 136:* rwm");
    }

    /// Runs the program the way the kernel would, on one access.
    fn interpret(prog: &[Insn], kind: Kind, major: u32, minor: u32, access: u32) -> u64 {
        let ctx = [(access << 16) | devcg_type(kind) as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                ALU_MOV_K => r[dst] = i.imm as u32 as u64,
                ALU_MOV_X => r[dst] = r[src] as u32 as u64,
                JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                JNE_X if r[dst] != r[src] => pc += i.off as usize,
                JNE_K | JNE_X => {}
                EXIT => return r[0],
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn the_program_allows_exactly_the_rules() {
        let prog = program(&ALLOWED);
        let rw = READ | WRITE;
        assert_eq!(interpret(&prog, Kind::Char, 1, 3, rw), 1, "/dev/null");
        assert_eq!(interpret(&prog, Kind::Char, 136, 7, rw), 1, "/dev/pts/7");
        assert_eq!(interpret(&prog, Kind::Char, 1, 11, READ), 0, "/dev/kmsg");
        assert_eq!(interpret(&prog, Kind::Block, 8, 0, READ), 0, "/dev/sda");
        assert_eq!(
            interpret(&prog, Kind::Block, 8, 0, MKNOD),
            1,
            "mknod is allowed"
        );
        assert_eq!(interpret(&prog, Kind::Char, 1, 11, MKNOD), 1);
        assert_eq!(
            interpret(&prog, Kind::Block, 1, 3, READ),
            0,
            "a block 1:3 is not null"
        );
        assert_eq!(interpret(&prog, Kind::Char, 1, 3, rw | MKNOD), 1);
        assert_eq!(interpret(&prog, Kind::Char, 10, 200, rw), 0, "/dev/net/tun");
        assert_eq!(interpret(&program(&[]), Kind::Char, 1, 3, READ), 0);
    }

    #[test]
    fn instructions_are_eight_bytes_with_dst_in_the_low_nibble() {
        assert_eq!(std::mem::size_of::<Insn>(), 8);
        let i = insn(JNE_X, 1, 3, 2, 0);
        assert_eq!(i.regs, 0x31);
    }
}
