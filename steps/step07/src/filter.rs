//! The BPF program's own parts: the ABI check, one block per syscall, and
//! a 64-bit argument comparison in 32-bit instructions. [`crate::seccomp`]
//! assembles them into the whole program ([`crate::seccomp::compile`]) and
//! re-exports them.

use crate::seccomp::bpf::{self, Asm, JEQ, JGE, JGT, Jump, Label, ret};
use crate::seccomp::{Action, Arch, Cond, Op, Rule};

// ANCHOR: check_arch
/// (1) Which ABI is calling? A syscall number means nothing without it: on
/// x86_64, 2 is `open` for a 64-bit program, `fork` for an `int $0x80` call
/// of the i386 ABI, and x32 programs call with bit 30 set. A filter that
/// looks at the number alone can be walked around through another ABI, so
/// the first instructions kill any call that is not of the native one.
/// Leaves the syscall number in A.
pub fn check_arch(asm: &mut Asm, arch: &Arch) {
    let native = asm.label();
    asm.load(bpf::ARCH);
    asm.jump(JEQ, arch.audit, Jump::To(native), Jump::Next);
    asm.ret(ret::KILL_PROCESS);
    asm.place(native);
    asm.load(bpf::NR);
    if let Some(x32) = arch.x32_bit {
        let native_numbers = asm.label();
        asm.jump(JGE, x32, Jump::Next, Jump::To(native_numbers));
        asm.ret(ret::KILL_PROCESS);
        asm.place(native_numbers);
    }
}
// ANCHOR_END: check_arch

// ANCHOR: decide
/// (2) One syscall's block. With its number in A: if A is not `nr`, go on
/// to the next block with A untouched. If it is, try the rules in order:
/// the first whose conditions all hold returns its action; when none does,
/// the policy's default.
pub fn decide(asm: &mut Asm, nr: u32, rules: &[Rule], default: Action) {
    let next_syscall = asm.label();
    asm.jump(JEQ, nr, Jump::Next, Jump::To(next_syscall));
    for rule in rules {
        let next_rule = asm.label();
        for cond in &rule.conds {
            compare(asm, cond, next_rule);
        }
        asm.ret(rule.action.ret());
        asm.place(next_rule);
        if rule.conds.is_empty() {
            break; // the rules after one without conditions never run
        }
    }
    if rules.last().is_none_or(|r| !r.conds.is_empty()) {
        asm.ret(default.ret());
    }
    asm.place(next_syscall);
}
// ANCHOR_END: decide

// ANCHOR: compare
/// One 64-bit condition with 32-bit instructions: the high words first,
/// then the low ones. Falls through when the condition holds, jumps to
/// `fail` when it does not.
pub fn compare(asm: &mut Asm, cond: &Cond, fail: Label) {
    let (hi, lo) = ((cond.value >> 32) as u32, cond.value as u32);
    let pass = asm.label();
    let (f, p) = (Jump::To(fail), Jump::To(pass));
    asm.load(bpf::arg_hi(cond.index));
    match cond.op {
        Op::Eq | Op::MaskedEq => {
            let (want_hi, want_lo) = match cond.op {
                Op::MaskedEq => ((cond.value_two >> 32) as u32, cond.value_two as u32),
                _ => (hi, lo),
            };
            if cond.op == Op::MaskedEq {
                asm.and(hi);
            }
            asm.jump(JEQ, want_hi, Jump::Next, f);
            asm.load(bpf::arg_lo(cond.index));
            if cond.op == Op::MaskedEq {
                asm.and(lo);
            }
            asm.jump(JEQ, want_lo, p, f);
        }
        Op::Ne => {
            asm.jump(JEQ, hi, Jump::Next, p);
            asm.load(bpf::arg_lo(cond.index));
            asm.jump(JEQ, lo, f, p);
        }
        // arg > value: a greater high word decides; an equal one leaves it
        // to the low words. (>= is the same with JGE on the low word.)
        Op::Gt | Op::Ge => {
            asm.jump(JGT, hi, p, Jump::Next);
            asm.jump(JEQ, hi, Jump::Next, f);
            asm.load(bpf::arg_lo(cond.index));
            asm.jump(if cond.op == Op::Gt { JGT } else { JGE }, lo, p, f);
        }
        // arg < value is !(arg >= value); arg <= value is !(arg > value).
        Op::Lt | Op::Le => {
            asm.jump(JGT, hi, f, Jump::Next);
            asm.jump(JEQ, hi, Jump::Next, p);
            asm.load(bpf::arg_lo(cond.index));
            asm.jump(if cond.op == Op::Lt { JGE } else { JGT }, lo, f, p);
        }
    }
    asm.place(pass);
}
// ANCHOR_END: compare
