//! # Exercise 7: seccomp (the filter's program)
//!
//! Read first: chapter 7 of the book, `book/src/ch07-seccomp.md`.
//!
//! Everything around the program is given: step07 reads Docker's default
//! profile (or `--security-opt seccomp=FILE`) into a `Policy` (a default
//! action and, per syscall number, rules: argument conditions and an
//! action), and hands the finished program to the kernel with
//! `seccomp(SECCOMP_SET_MODE_FILTER)` last thing before `execve`. The
//! program itself is yours: step07's `compile` calls your
//! [`check_arch`] once, your [`decide`] once per syscall of the policy, then
//! ends with `ret <default>`:
//!
//! ```text
//!  check_arch   ld [4] (arch); not the native ABI → ret KILL_PROCESS;
//!               ld [0] (nr); x86_64: an x32 number → ret KILL_PROCESS
//!  decide 0     jeq #0   (read):  its rules, else on to the next block
//!  decide 56    jeq #56  (clone): its rules: compare, compare, ret ...
//!  ...
//!  ret <default>
//! ```
//!
//! You write with step07's assembler, `crate::seccomp::bpf::Asm`:
//! `asm.load(offset)` (A = a 32-bit word of `struct seccomp_data`: `bpf::NR`,
//! `bpf::ARCH`, `bpf::arg_lo(i)`, `bpf::arg_hi(i)`), `asm.and(k)`,
//! `asm.jump(JEQ | JGT | JGE, k, if_true, if_false)` where each target is
//! `Jump::Next` or `Jump::To(label)`, `asm.ret(value)` (`bpf::ret::*`,
//! `Action::ret()`), and labels: `asm.label()` makes one, `asm.place(label)`
//! puts it at the next instruction. BPF jumps only forwards, so every label
//! is placed after the jumps to it. A is the only register.
//!
//! - [`check_arch`]: a syscall number means nothing without its ABI (on
//!   x86_64, 2 is `open`, but `fork` for an i386 `int $0x80` call, and x32
//!   calls come with bit 30 set). Kill every call that is not of `arch`'s
//!   ABI, then leave the syscall number in A.
//! - [`decide`]: one syscall's block, with the number in A. Not `nr`: on to
//!   the next block, A untouched. `nr`: try the rules in order; the first
//!   whose conditions all hold returns its action; none: `default`.
//! - [`compare`]: one condition on a 64-bit argument, made of 32-bit
//!   instructions (the high word, then the low one), unsigned. Falls
//!   through when it holds, jumps to `fail` when it does not.
//!
//! Done when `cargo test -p ex07` passes. `cargo test -p ex07 filter_tests`
//! runs only the fast tests (no root): your program on chosen calls through
//! step07's BPF interpreter, each failure saying which call got which
//! answer. The rest are the black-box checks of chapters 1 to 7. Stuck?
//! `exercises/hints.toml` has hints, each more specific than the last. Your
//! program as the kernel gets it: `cargo run -p ex07 -- -x true` prints
//! its summary.
//!
//! SOLUTION: this is the instructor's copy; the filled gaps are marked
//! `// SOLUTION:`. It is step07's own `check_arch`, `decide` and `compare`.

// Given: what the steps above use.
use crate::seccomp::bpf::{self, Asm, JEQ, JGE, JGT, Jump, Label, ret};
use crate::seccomp::{Action, Arch, Cond, Op, Rule};

/// (1) Kills every call that is not of `arch`'s ABI (`seccomp_data.arch`
/// other than `arch.audit`, or on x86_64 a number with `arch.x32_bit` set),
/// and leaves the syscall number in A.
pub fn check_arch(asm: &mut Asm, arch: &Arch) {
    // SOLUTION: the arch word first: a number is only read once its ABI is
    // known to be ours.
    let native = asm.label();
    asm.load(bpf::ARCH);
    asm.jump(JEQ, arch.audit, Jump::To(native), Jump::Next);
    asm.ret(ret::KILL_PROCESS);
    asm.place(native);
    asm.load(bpf::NR);
    // SOLUTION: x32 calls carry the native arch; only the number tells:
    // everything at or above the bit is one.
    if let Some(x32) = arch.x32_bit {
        let native_numbers = asm.label();
        asm.jump(JGE, x32, Jump::Next, Jump::To(native_numbers));
        asm.ret(ret::KILL_PROCESS);
        asm.place(native_numbers);
    }
}

/// (2) One syscall's block, with the number in A: not `nr`, on to the next
/// block with A untouched; `nr`, the first rule whose conditions all hold
/// returns its action, and when none does, `default`.
pub fn decide(asm: &mut Asm, nr: u32, rules: &[Rule], default: Action) {
    // SOLUTION: past this block when A is another number; A stays the
    // number, because nothing in between is reached then.
    let next_syscall = asm.label();
    asm.jump(JEQ, nr, Jump::Next, Jump::To(next_syscall));
    for rule in rules {
        // SOLUTION: a condition that fails skips to the next rule; all of
        // them holding falls through to the rule's ret.
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
    // SOLUTION: no rule matched: the default, inside the block (A now holds
    // an argument word, not the number: no other block may see it).
    if rules.last().is_none_or(|r| !r.conds.is_empty()) {
        asm.ret(default.ret());
    }
    asm.place(next_syscall);
}

/// (3) Whether argument `cond.index` compares with `cond.value` as
/// `cond.op` says, on all 64 bits, unsigned (`MaskedEq`: `(arg & value) ==
/// value_two`). Falls through when it holds, jumps to `fail` when not.
pub fn compare(asm: &mut Asm, cond: &Cond, fail: Label) {
    let (hi, lo) = ((cond.value >> 32) as u32, cond.value as u32);
    let pass = asm.label();
    let (f, p) = (Jump::To(fail), Jump::To(pass));
    // SOLUTION: the high word decides unless it is equal; then the low.
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
        // SOLUTION: different as soon as one word differs.
        Op::Ne => {
            asm.jump(JEQ, hi, Jump::Next, p);
            asm.load(bpf::arg_lo(cond.index));
            asm.jump(JEQ, lo, f, p);
        }
        // SOLUTION: arg > value: a greater high word decides; an equal one
        // leaves it to the low words. (>= is the same with JGE on the low
        // word.)
        Op::Gt | Op::Ge => {
            asm.jump(JGT, hi, p, Jump::Next);
            asm.jump(JEQ, hi, Jump::Next, f);
            asm.load(bpf::arg_lo(cond.index));
            asm.jump(if cond.op == Op::Gt { JGT } else { JGE }, lo, p, f);
        }
        // SOLUTION: arg < value is !(arg >= value); arg <= value is
        // !(arg > value).
        Op::Lt | Op::Le => {
            asm.jump(JGT, hi, f, Jump::Next);
            asm.jump(JEQ, hi, Jump::Next, p);
            asm.load(bpf::arg_lo(cond.index));
            asm.jump(if cond.op == Op::Lt { JGE } else { JGT }, lo, f, p);
        }
    }
    asm.place(pass);
}
