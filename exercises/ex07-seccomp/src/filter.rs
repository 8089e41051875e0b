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

// Given: what the steps above use.
#[allow(unused_imports)]
use crate::seccomp::bpf::{self, Asm, JEQ, JGE, JGT, Jump, Label, ret};
#[allow(unused_imports)]
use crate::seccomp::{Action, Arch, Cond, Op, Rule};

/// (1) Kills every call that is not of `arch`'s ABI (`seccomp_data.arch`
/// other than `arch.audit`, or on x86_64 a number with `arch.x32_bit` set),
/// and leaves the syscall number in A.
// The stub does not use its arguments yet; your code will.
#[allow(unused_variables)]
pub fn check_arch(asm: &mut Asm, arch: &Arch) {
    // TODO: load the arch word (bpf::ARCH); if it is arch.audit, jump past
    // a `ret KILL_PROCESS` (a label placed after it).

    // TODO: load the syscall number (bpf::NR): it stays in A from here on.

    // TODO: if arch.x32_bit is Some(bit): a number >= bit is an x32 call:
    // KILL_PROCESS too.

    todo!("the ABI check: ld arch, jeq native, kill; ld nr; x32: kill")
}

/// (2) One syscall's block, with the number in A: not `nr`, on to the next
/// block with A untouched; `nr`, the first rule whose conditions all hold
/// returns its action, and when none does, `default`.
// The stub does not use its arguments yet; your code will.
#[allow(unused_variables)]
pub fn decide(asm: &mut Asm, nr: u32, rules: &[Rule], default: Action) {
    // TODO: a label for the next syscall's block; jeq nr, else jump there.

    // TODO: each rule in order: a label for the next rule; `compare` each
    // condition with that label as `fail`; then `ret` the rule's action
    // (`rule.action.ret()`), and place the label.

    // TODO: no rule matched: `ret default`. Then place the next block's
    // label.

    todo!("jeq nr; the rules in order; the default")
}

/// (3) Whether argument `cond.index` compares with `cond.value` as
/// `cond.op` says, on all 64 bits, unsigned (`MaskedEq`: `(arg & value) ==
/// value_two`). Falls through when it holds, jumps to `fail` when not.
// The stub does not use its arguments yet, and nothing calls it until your
// `decide` does; your code will.
#[allow(unused_variables, dead_code)]
pub fn compare(asm: &mut Asm, cond: &Cond, fail: Label) {
    // TODO: split cond.value (and value_two) into high and low 32-bit words;
    // a `pass` label, placed at the end.

    // TODO: load the high word (bpf::arg_hi(cond.index)). Eq: differs →
    // fail; then the low word (bpf::arg_lo): equal → pass, else fail.
    // MaskedEq: the same with `and` by the mask's word after each load.
    // Ne: the opposite answers.

    // TODO: Gt/Ge: a greater high word passes, a smaller one fails, an
    // equal one leaves it to the low word (JGT for Gt, JGE for Ge).
    // Lt/Le: the same with the answers swapped (Lt is !Ge, Le is !Gt).

    todo!("one 64-bit condition out of 32-bit loads and jumps")
}
