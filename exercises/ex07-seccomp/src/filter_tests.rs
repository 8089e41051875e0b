//! Your program, run without root on chosen calls through step07's BPF
//! interpreter (`crate::seccomp::bpf::run`, which runs a program on a
//! `struct seccomp_data` the way the kernel does). Each function is tested
//! on its own, inside a few instructions of the test's: a failure names the
//! call, the answer it should get, the answer your program gave, and prints
//! the program tested. The same tests run against the solution.

use crate::seccomp::bpf::{self, Asm, JEQ, Jump, SeccompData, ret, sock_filter};
use crate::seccomp::{AARCH64, Action, Arch, Cond, Op, Rule, X86_64};

use crate::filter::{check_arch, compare, decide};

/// The program, or a failure that says why it cannot be assembled.
fn finish(asm: Asm, what: &str) -> Vec<sock_filter> {
    asm.finish()
        .unwrap_or_else(|e| panic!("{what}: the instructions do not assemble: {e}"))
}

/// What `program` answers to `data`, by name: ALLOW, ERRNO(1), KILL_PROCESS.
fn answer(program: &[sock_filter], data: &SeccompData) -> String {
    match bpf::run(program, data) {
        Ok(value) => bpf::ret_name(value),
        Err(e) => format!("no answer ({e})"),
    }
}

/// Fails, in words, unless `program` answers `want` to `data`.
#[track_caller]
fn expect(program: &[sock_filter], data: SeccompData, want: u32, what: &str) {
    let got = answer(program, &data);
    let want = bpf::ret_name(want);
    assert!(
        got == want,
        "{what} must get {want}: your program returned {got}.\n\
         The program tested (yours, inside the test's own instructions):\n{}",
        bpf::disassemble(program, |_| None)
    );
}

fn call(arch: u32, nr: u32, args: [u64; 6]) -> SeccompData {
    SeccompData {
        nr: nr as i32,
        arch,
        instruction_pointer: 0,
        args,
    }
}

// ---- check_arch --------------------------------------------------------

/// The number the ABI tests call with.
const PROBE: u32 = 39;

/// Your check_arch, then the test's `jeq #39 → ret ALLOW, else ret
/// ERRNO(1)`: a call that passes the check gets ALLOW with number 39 and
/// ERRNO(1) with another, provided check_arch left the number in A.
fn arch_program(arch: &Arch) -> Vec<sock_filter> {
    let mut asm = Asm::new();
    check_arch(&mut asm, arch);
    let other = asm.label();
    asm.jump(JEQ, PROBE, Jump::Next, Jump::To(other));
    asm.ret(ret::ALLOW);
    asm.place(other);
    asm.ret(ret::ERRNO | 1);
    finish(asm, "check_arch")
}

#[test]
fn check_arch_lets_native_calls_through_with_the_number_in_a() {
    for (arch, name) in [
        (&X86_64, "AUDIT_ARCH_X86_64"),
        (&AARCH64, "AUDIT_ARCH_AARCH64"),
    ] {
        let prog = arch_program(arch);
        expect(
            &prog,
            call(arch.audit, PROBE, [0; 6]),
            ret::ALLOW,
            &format!(
                "a native call ({}: arch {name}, nr {PROBE}) passes the ABI check and leaves \
                 its number in A (ld [0] last), so the test's `jeq #{PROBE}` that follows",
                arch.name
            ),
        );
        expect(
            &prog,
            call(arch.audit, PROBE + 1, [0; 6]),
            ret::ERRNO | 1,
            &format!(
                "a native call ({}: arch {name}, nr {}) passes the ABI check and, being \
                 another number, the test's `jeq #{PROBE}` sends it on, so it",
                arch.name,
                PROBE + 1
            ),
        );
    }
    // The highest number below x32's bit is an ordinary native number.
    expect(
        &arch_program(&X86_64),
        call(bpf::AUDIT_ARCH_X86_64, 0x3fff_ffff, [0; 6]),
        ret::ERRNO | 1,
        "a native x86_64 call with nr 0x3fffffff (below x32's bit 30, so not x32) passes \
         the ABI check and",
    );
}

#[test]
fn check_arch_kills_calls_of_other_abis() {
    let x86 = arch_program(&X86_64);
    for (arch, what) in [
        (
            bpf::AUDIT_ARCH_I386,
            "an i386 call (arch AUDIT_ARCH_I386, int $0x80)",
        ),
        (
            bpf::AUDIT_ARCH_AARCH64,
            "an aarch64 call (arch AUDIT_ARCH_AARCH64)",
        ),
        (0, "a call with arch 0"),
    ] {
        expect(
            &x86,
            call(arch, PROBE, [0; 6]),
            ret::KILL_PROCESS,
            &format!("in x86_64's filter, {what} with nr {PROBE}"),
        );
    }
    expect(
        &arch_program(&AARCH64),
        call(bpf::AUDIT_ARCH_X86_64, PROBE, [0; 6]),
        ret::KILL_PROCESS,
        &format!(
            "in aarch64's filter, an x86_64 call (arch AUDIT_ARCH_X86_64) with nr {PROBE} \
             (compare with arch.audit, not a constant)"
        ),
    );
}

#[test]
fn check_arch_kills_x32_calls() {
    let prog = arch_program(&X86_64);
    for (nr, what) in [
        (0x4000_0000 | PROBE, "x32's getpid: nr 0x40000027"),
        (0x4000_0000, "x32's read: nr 0x40000000, exactly bit 30"),
        (0x4000_0200, "an x32 call: nr 0x40000200"),
    ] {
        expect(
            &prog,
            call(bpf::AUDIT_ARCH_X86_64, nr, [0; 6]),
            ret::KILL_PROCESS,
            &format!(
                "an x32 call ({what}, arch AUDIT_ARCH_X86_64: x32 calls carry the native \
                 arch; only arch.x32_bit in the number tells)"
            ),
        );
    }
}

// ---- decide ------------------------------------------------------------

/// What the test's program returns when no block claimed the call: the
/// `ret` after the last block (in the real program, the policy's default).
const PAST_ALL_BLOCKS: u32 = ret::TRAP;

/// The test's `ld [0]` (A = the number), your decide for each block with
/// `default`, then the test's `ret TRAP`: the mark of a call no block
/// claimed.
fn blocks(blocks: &[(u32, Vec<Rule>)], default: Action) -> Vec<sock_filter> {
    let mut asm = Asm::new();
    asm.load(bpf::NR);
    for (nr, rules) in blocks {
        decide(&mut asm, *nr, rules, default);
    }
    asm.ret(PAST_ALL_BLOCKS);
    finish(asm, "decide")
}

fn rule(conds: &[Cond], action: Action) -> Rule {
    Rule {
        conds: conds.to_vec(),
        action,
    }
}

fn cond(index: u8, op: Op, value: u64) -> Cond {
    Cond {
        index,
        op,
        value,
        value_two: 0,
    }
}

fn x86(nr: u32, args: [u64; 6]) -> SeccompData {
    call(bpf::AUDIT_ARCH_X86_64, nr, args)
}

#[test]
fn decide_claims_only_its_own_syscall() {
    let prog = blocks(
        &[
            (39, vec![rule(&[], Action::Allow)]),
            (40, vec![rule(&[], Action::Errno(13))]),
        ],
        Action::Errno(1),
    );
    expect(
        &prog,
        x86(39, [0; 6]),
        ret::ALLOW,
        "with blocks for 39 (ALLOW) and 40 (ERRNO(13)), a call of 39",
    );
    expect(
        &prog,
        x86(40, [0; 6]),
        ret::ERRNO | 13,
        "with blocks for 39 (ALLOW) and 40 (ERRNO(13)), a call of 40 (block 39 must jump \
         past itself with A untouched when A is not 39)",
    );
    expect(
        &prog,
        x86(41, [0; 6]),
        PAST_ALL_BLOCKS,
        "with blocks for 39 and 40, a call of 41 runs past both (the test's TRAP after the \
         last block stands for the policy's default) and",
    );
}

#[test]
fn decide_tries_the_rules_in_order_then_the_default() {
    let prog = blocks(
        &[
            (
                39,
                vec![
                    rule(&[cond(0, Op::Eq, 1)], Action::Errno(13)),
                    rule(&[cond(0, Op::Le, 5)], Action::Allow),
                    rule(&[cond(1, Op::Eq, 7)], Action::Errno(22)),
                ],
            ),
            (40, vec![rule(&[], Action::Errno(38))]),
        ],
        Action::Errno(1),
    );
    let rules = "syscall 39's rules (1. arg0 == 1 → ERRNO(13), 2. arg0 <= 5 → ALLOW, \
                 3. arg1 == 7 → ERRNO(22), default ERRNO(1))";
    expect(
        &prog,
        x86(39, [1, 0, 0, 0, 0, 0]),
        ret::ERRNO | 13,
        &format!("with {rules}, arg0 = 1 matches rules 1 and 2: the first decides, so it"),
    );
    expect(
        &prog,
        x86(39, [3, 0, 0, 0, 0, 0]),
        ret::ALLOW,
        &format!("with {rules}, arg0 = 3 matches rule 2 only, so it"),
    );
    expect(
        &prog,
        x86(39, [9, 7, 0, 0, 0, 0]),
        ret::ERRNO | 22,
        &format!("with {rules}, arg0 = 9, arg1 = 7 matches rule 3 only, so it"),
    );
    expect(
        &prog,
        x86(39, [9, 0, 0, 0, 0, 0]),
        ret::ERRNO | 1,
        &format!(
            "with {rules}, arg0 = 9, arg1 = 0 matches no rule: `ret default` inside the block \
             (not on to the next block: A holds an argument now), so it"
        ),
    );
    expect(
        &prog,
        x86(40, [1, 0, 0, 0, 0, 0]),
        ret::ERRNO | 38,
        "a call of 40 (its block: ERRNO(38)) passes syscall 39's block with its rules, and",
    );
}

#[test]
fn decide_needs_every_condition_of_a_rule() {
    let prog = blocks(
        &[(
            39,
            vec![rule(
                &[cond(0, Op::Eq, 1), cond(1, Op::Eq, 2)],
                Action::Allow,
            )],
        )],
        Action::Errno(1),
    );
    let rules = "the rule `arg0 == 1 and arg1 == 2 → ALLOW` (default ERRNO(1))";
    for (args, want, which) in [
        (
            [1, 2, 0, 0, 0, 0],
            ret::ALLOW,
            "arg0 = 1, arg1 = 2 (both hold)",
        ),
        (
            [1, 3, 0, 0, 0, 0],
            ret::ERRNO | 1,
            "arg0 = 1, arg1 = 3 (the second fails)",
        ),
        (
            [0, 2, 0, 0, 0, 0],
            ret::ERRNO | 1,
            "arg0 = 0, arg1 = 2 (the first fails)",
        ),
    ] {
        expect(
            &prog,
            x86(39, args),
            want,
            &format!("with {rules}, a call with {which}"),
        );
    }
}

// ---- compare -----------------------------------------------------------

/// Your compare of `conds` in a row with one `fail` label, then the test's
/// `ret ALLOW` (all held); `fail:` `ret ERRNO(1)`.
fn conditions(conds: &[Cond]) -> Vec<sock_filter> {
    let mut asm = Asm::new();
    let fail = asm.label();
    for c in conds {
        compare(&mut asm, c, fail);
    }
    asm.ret(ret::ALLOW);
    asm.place(fail);
    asm.ret(ret::ERRNO | 1);
    finish(asm, "compare")
}

fn describe(c: &Cond) -> String {
    let arg = format!("arg{}", c.index);
    match c.op {
        Op::Eq => format!("{arg} == {:#x}", c.value),
        Op::Ne => format!("{arg} != {:#x}", c.value),
        Op::Gt => format!("{arg} > {:#x}", c.value),
        Op::Ge => format!("{arg} >= {:#x}", c.value),
        Op::Lt => format!("{arg} < {:#x}", c.value),
        Op::Le => format!("{arg} <= {:#x}", c.value),
        Op::MaskedEq => format!("({arg} & {:#x}) == {:#x}", c.value, c.value_two),
    }
}

/// For each `(argument, holds)`: the condition on argument 2 holds or not,
/// all 64 bits of it, unsigned.
#[track_caller]
fn check_samples(c: Cond, samples: &[(u64, bool)]) {
    let prog = conditions(&[c]);
    for &(arg, holds) in samples {
        let mut args = [0; 6];
        args[usize::from(c.index)] = arg;
        let (want, verdict) = if holds {
            (ret::ALLOW, "holds: fall through")
        } else {
            (ret::ERRNO | 1, "does not hold: jump to fail")
        };
        expect(
            &prog,
            x86(0, args),
            want,
            &format!(
                "`{}` ({:?}) with arg{} = {arg:#x} {verdict}; so the call",
                describe(&c),
                c.op,
                c.index
            ),
        );
    }
}

#[test]
fn compare_eq_on_64_bits() {
    check_samples(
        cond(2, Op::Eq, 0x1_0000_0005),
        &[
            (0x1_0000_0005, true),
            (0x5, false),
            (0x2_0000_0005, false),
            (0x1_0000_0006, false),
        ],
    );
}

#[test]
fn compare_ne_on_64_bits() {
    check_samples(
        cond(2, Op::Ne, 0x1_0000_0007),
        &[
            (0x1_0000_0007, false),
            (0x7, true),
            (0x1_0000_0008, true),
            (0x0, true),
        ],
    );
}

#[test]
fn compare_gt_on_64_bits() {
    check_samples(
        cond(2, Op::Gt, 0x1_0000_0005),
        &[
            (0x1_0000_0006, true),
            (0x1_0000_0005, false),
            (0x1_0000_0004, false),
            (0x2_0000_0000, true),
            (0xffff_ffff, false),
            (0x9, false),
            (u64::MAX, true),
        ],
    );
}

#[test]
fn compare_ge_on_64_bits() {
    check_samples(
        cond(2, Op::Ge, 0x1_0000_0005),
        &[
            (0x1_0000_0005, true),
            (0x1_0000_0006, true),
            (0x1_0000_0004, false),
            (0x2_0000_0000, true),
            (0x9, false),
        ],
    );
}

#[test]
fn compare_lt_on_64_bits() {
    check_samples(
        cond(2, Op::Lt, 0x1_0000_0005),
        &[
            (0x1_0000_0004, true),
            (0x1_0000_0005, false),
            (0x1_0000_0006, false),
            (0x9, true),
            (0x2_0000_0000, false),
            (0x0, true),
        ],
    );
}

#[test]
fn compare_le_on_64_bits() {
    check_samples(
        cond(2, Op::Le, 0x1_0000_0005),
        &[
            (0x1_0000_0005, true),
            (0x1_0000_0004, true),
            (0x1_0000_0006, false),
            (0x9, true),
            (0x2_0000_0000, false),
        ],
    );
}

#[test]
fn compare_masked_eq_on_64_bits() {
    let masked = |mask: u64, want: u64| Cond {
        index: 2,
        op: Op::MaskedEq,
        value: mask,
        value_two: want,
    };
    check_samples(
        masked(0xff00_0000_00ff, 0x1200_0000_0034),
        &[
            (0x12ab_cdef_0034, true),
            (0x1200_0000_0034, true),
            (0x1200_0000_0035, false),
            (0x1300_0000_0034, false),
            (0x34, false),
        ],
    );
    // clone's rule in Docker's profile: no namespace flag in the low word.
    check_samples(
        masked(0x7e02_0000, 0),
        &[(0x11, true), (0x1_0000_0011, true), (0x1000_0011, false)],
    );
}

#[test]
fn compare_reads_its_own_argument() {
    for index in [0, 5] {
        let c = cond(index, Op::Eq, 7);
        let prog = conditions(&[c]);
        let mut only_it = [0; 6];
        only_it[usize::from(index)] = 7;
        let mut all_but_it = [7; 6];
        all_but_it[usize::from(index)] = 0;
        expect(
            &prog,
            x86(0, only_it),
            ret::ALLOW,
            &format!("`arg{index} == 7` with arg{index} = 7 and the others 0 holds, so the call"),
        );
        expect(
            &prog,
            x86(0, all_but_it),
            ret::ERRNO | 1,
            &format!(
                "`arg{index} == 7` with arg{index} = 0 and the others 7 does not hold \
                 (bpf::arg_lo(cond.index), bpf::arg_hi(cond.index)), so the call"
            ),
        );
        // The high word is the argument's own too: here only it differs.
        let c = cond(index, Op::Eq, 0x1_0000_0007);
        let prog = conditions(&[c]);
        let mut high_differs = [0x1_0000_0007; 6];
        high_differs[usize::from(index)] = 7;
        expect(
            &prog,
            x86(0, high_differs),
            ret::ERRNO | 1,
            &format!(
                "`arg{index} == 0x100000007` with arg{index} = 7 (the same low word) and the \
                 others 0x100000007 does not hold (the high word is bpf::arg_hi(cond.index)), \
                 so the call"
            ),
        );
    }
}

#[test]
fn compare_falls_through_when_the_condition_holds() {
    let prog = conditions(&[cond(0, Op::Eq, 1), cond(1, Op::Gt, 2)]);
    let both = "`arg0 == 1` then `arg1 > 2`, each jumping to the same fail label";
    for (args, want, which) in [
        (
            [1, 3, 0, 0, 0, 0],
            ret::ALLOW,
            "arg0 = 1, arg1 = 3: both hold",
        ),
        (
            [1, 2, 0, 0, 0, 0],
            ret::ERRNO | 1,
            "arg0 = 1, arg1 = 2: the first holds and falls through to the second, which fails",
        ),
        (
            [0, 3, 0, 0, 0, 0],
            ret::ERRNO | 1,
            "arg0 = 0, arg1 = 3: the first fails",
        ),
    ] {
        expect(
            &prog,
            x86(0, args),
            want,
            &format!("{both}, {which}; so the call"),
        );
    }
}
