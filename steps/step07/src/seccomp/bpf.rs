//! Classic BPF, as much of it as a seccomp filter uses: the instructions,
//! an assembler with labels (jumps in BPF are forward offsets of at most
//! 255 instructions), a printer for the book and `--explain`, and an
//! interpreter that runs a program on a `seccomp_data` the way the kernel
//! does, so that the tests can ask the very program the kernel receives.
//!
//! A seccomp filter is a list of `struct sock_filter { u16 code; u8 jt; u8
//! jf; u32 k; }`. It has one register, A, and reads only the `struct
//! seccomp_data` of the call being made:
//!
//! ```text
//! offset  0  int   nr                  the syscall number
//! offset  4  u32   arch                AUDIT_ARCH_X86_64, AUDIT_ARCH_AARCH64, ...
//! offset  8  u64   instruction_pointer
//! offset 16  u64   args[6]             each as two 32-bit words, low word first
//! ```

pub use libc::sock_filter;

/// `BPF_LD | BPF_W | BPF_ABS`: A = the 32-bit word at offset k.
pub const LD_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`: A &= k.
pub const AND: u16 = 0x54;
/// `BPF_JMP | BPF_JA`: jump k forward, always.
pub const JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`: A == k ? jt : jf.
pub const JEQ: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`: A > k ? jt : jf (unsigned).
pub const JGT: u16 = 0x25;
/// `BPF_JMP | BPF_JGE | BPF_K`: A >= k ? jt : jf (unsigned).
pub const JGE: u16 = 0x35;
/// `BPF_JMP | BPF_JSET | BPF_K`: A & k != 0 ? jt : jf.
pub const JSET: u16 = 0x45;
/// `BPF_RET | BPF_K`: the filter's answer is k.
pub const RET: u16 = 0x06;

/// The kernel's limit on a filter's length (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Offsets into `struct seccomp_data`.
pub const NR: u32 = 0;
/// See [`NR`].
pub const ARCH: u32 = 4;

/// Offset of the low 32-bit word of argument `index` (little-endian).
pub fn arg_lo(index: u8) -> u32 {
    16 + 8 * u32::from(index)
}

/// Offset of the high 32-bit word of argument `index`.
pub fn arg_hi(index: u8) -> u32 {
    arg_lo(index) + 4
}

/// The `SECCOMP_RET_*` values a filter returns (`linux/seccomp.h`). When
/// several filters are stacked the kernel takes the first of these in this
/// order: kill process, kill thread, trap, errno, user notification,
/// trace, log, allow.
pub mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    pub const KILL_THREAD: u32 = 0x0000_0000;
    pub const TRAP: u32 = 0x0003_0000;
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const TRACE: u32 = 0x7ff0_0000;
    pub const LOG: u32 = 0x7ffc_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
    /// The action part of a return value; the rest (`SECCOMP_RET_DATA`) is
    /// the errno or the tracer's message.
    pub const ACTION_FULL: u32 = 0xffff_0000;
}

/// A place in the program a jump can go to, known before it is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

/// Where a conditional jump goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jump {
    /// The next instruction (offset 0).
    Next,
    /// A label.
    To(Label),
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    code: u16,
    k: u32,
    jt: Jump,
    jf: Jump,
}

/// Builds a program with labels and resolves them into offsets.
#[derive(Debug, Default)]
pub struct Asm {
    insns: Vec<Pending>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    pub fn new() -> Self {
        Self::default()
    }

    /// A label to jump to; [`Asm::place`] it later.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// The next instruction emitted is where `label` points.
    pub fn place(&mut self, label: Label) {
        self.labels[label.0] = Some(self.insns.len());
    }

    fn emit(&mut self, code: u16, k: u32, jt: Jump, jf: Jump) {
        self.insns.push(Pending { code, k, jt, jf });
    }

    /// `ld [offset]`: A = a 32-bit word of `seccomp_data`.
    pub fn load(&mut self, offset: u32) {
        self.emit(LD_ABS, offset, Jump::Next, Jump::Next);
    }

    /// `and #k`.
    pub fn and(&mut self, k: u32) {
        self.emit(AND, k, Jump::Next, Jump::Next);
    }

    /// A conditional jump (`JEQ`, `JGT`, `JGE`, `JSET`) on A against `k`.
    pub fn jump(&mut self, code: u16, k: u32, jt: Jump, jf: Jump) {
        self.emit(code, k, jt, jf);
    }

    /// `ret #value`.
    pub fn ret(&mut self, value: u32) {
        self.emit(RET, value, Jump::Next, Jump::Next);
    }

    /// Instructions emitted so far.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// The program, with every label turned into a forward offset.
    pub fn finish(self) -> Result<Vec<sock_filter>, String> {
        if self.insns.len() > MAX_INSNS {
            return Err(format!(
                "the filter has {} instructions; the kernel takes at most {MAX_INSNS}",
                self.insns.len()
            ));
        }
        let offset = |at: usize, jump: Jump| -> Result<u8, String> {
            let Jump::To(label) = jump else { return Ok(0) };
            let target = self.labels[label.0].ok_or("a jump to a label never placed")?;
            let off = target
                .checked_sub(at + 1)
                .ok_or("a jump backwards: BPF jumps only forwards")?;
            u8::try_from(off).map_err(|_| format!("a jump of {off} instructions (at most 255)"))
        };
        self.insns
            .iter()
            .enumerate()
            .map(|(at, p)| {
                Ok(sock_filter {
                    code: p.code,
                    jt: offset(at, p.jt)?,
                    jf: offset(at, p.jf)?,
                    k: p.k,
                })
            })
            .collect()
    }
}

/// One call as the filter sees it: `struct seccomp_data`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: i32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 32-bit word at `offset`, as `ld [offset]` reads it.
    fn word(&self, offset: u32) -> Option<u32> {
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&self.nr.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.arch.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.instruction_pointer.to_le_bytes());
        for (i, arg) in self.args.iter().enumerate() {
            bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_le_bytes());
        }
        let at = offset as usize;
        if at % 4 != 0 || at + 4 > bytes.len() {
            return None;
        }
        Some(u32::from_le_bytes(bytes[at..at + 4].try_into().ok()?))
    }
}

/// Runs `program` on `data` as the kernel would, and returns its answer.
/// Only the instructions above are known; anything else (which the kernel's
/// checker would refuse) is an error here.
pub fn run(program: &[sock_filter], data: &SeccompData) -> Result<u32, String> {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    while let Some(insn) = program.get(pc) {
        pc += 1;
        let taken = match insn.code {
            LD_ABS => {
                a = data
                    .word(insn.k)
                    .ok_or(format!("ld [{}]: outside seccomp_data", insn.k))?;
                continue;
            }
            AND => {
                a &= insn.k;
                continue;
            }
            RET => return Ok(insn.k),
            JA => {
                pc += insn.k as usize;
                continue;
            }
            JEQ => a == insn.k,
            JGT => a > insn.k,
            JGE => a >= insn.k,
            JSET => a & insn.k != 0,
            code => return Err(format!("instruction {} has code {code:#x}", pc - 1)),
        };
        pc += usize::from(if taken { insn.jt } else { insn.jf });
    }
    Err("the program ran off its end without a ret".into())
}

/// The name of a filter's return value: `ALLOW`, `ERRNO(1)`, `KILL_PROCESS`.
pub fn ret_name(value: u32) -> String {
    let data = value & 0xffff;
    match value & ret::ACTION_FULL {
        ret::KILL_PROCESS => "KILL_PROCESS".into(),
        ret::KILL_THREAD => "KILL_THREAD".into(),
        ret::TRAP => "TRAP".into(),
        ret::ERRNO => format!("ERRNO({data})"),
        ret::USER_NOTIF => "USER_NOTIF".into(),
        ret::TRACE => format!("TRACE({data})"),
        ret::LOG => "LOG".into(),
        ret::ALLOW => "ALLOW".into(),
        _ => format!("{value:#x}"),
    }
}

/// What `ld [k]` reads, for the printer.
fn field_name(offset: u32) -> String {
    match offset {
        NR => "nr".into(),
        ARCH => "arch".into(),
        8 => "ip (low)".into(),
        12 => "ip (high)".into(),
        16..=63 => {
            let i = (offset - 16) / 8;
            let half = if (offset - 16) % 8 == 0 {
                "low"
            } else {
                "high"
            };
            format!("args[{i}] ({half})")
        }
        _ => "?".into(),
    }
}

/// The program in the notation of the kernel's `bpf_dbg`/`bpfc`, one
/// instruction a line, with the syscall's name next to its number when
/// `name_of` knows it.
pub fn disassemble(
    program: &[sock_filter],
    name_of: impl Fn(u32) -> Option<&'static str>,
) -> String {
    let mut out = String::new();
    let mut loaded = NR;
    for (i, insn) in program.iter().enumerate() {
        let target = |off: u8| i + 1 + usize::from(off);
        let line = match insn.code {
            LD_ABS => {
                loaded = insn.k;
                format!("ld  [{}]{:<10}; {}", insn.k, "", field_name(insn.k))
            }
            AND => format!("and #{:#x}", insn.k),
            RET => {
                // What follows a ret is reached by a jump only, and in the
                // programs step07 builds every such jump carries the number.
                loaded = NR;
                format!("ret #{:#010x}{:<4}; {}", insn.k, "", ret_name(insn.k))
            }
            JA => format!("ja  {}", i + 1 + insn.k as usize),
            code => {
                let op = match code {
                    JEQ => "jeq",
                    JGT => "jgt",
                    JGE => "jge",
                    JSET => "jset",
                    _ => "???",
                };
                let note = match (loaded, name_of(insn.k)) {
                    (NR, Some(name)) if code == JEQ => format!("; {name}"),
                    (NR, _) if code == JGE && insn.k == 0x4000_0000 => "; x32 (bit 30 set)".into(),
                    (ARCH, _) => match insn.k {
                        AUDIT_ARCH_X86_64 => "; AUDIT_ARCH_X86_64".into(),
                        AUDIT_ARCH_AARCH64 => "; AUDIT_ARCH_AARCH64".into(),
                        _ => String::new(),
                    },
                    _ => String::new(),
                };
                let k = format!("#{:#x}", insn.k);
                format!(
                    "{op:<4}{k:<12} jt {:<4} jf {:<4}{note}",
                    target(insn.jt),
                    target(insn.jf)
                )
            }
        };
        out.push_str(&format!("{i:4}: {line}\n"));
    }
    out
}

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_AARCH64` (`EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// `AUDIT_ARCH_I386`: what a 32-bit call (`int $0x80`) on x86_64 shows.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_forward_offsets() {
        let mut asm = Asm::new();
        let deny = asm.label();
        asm.load(NR);
        asm.jump(JEQ, 39, Jump::Next, Jump::To(deny));
        asm.ret(ret::ALLOW);
        asm.place(deny);
        asm.ret(ret::ERRNO | 1);
        let prog = asm.finish().unwrap();
        assert_eq!((prog[1].jt, prog[1].jf), (0, 1));
        let call = |nr| {
            run(
                &prog,
                &SeccompData {
                    nr,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        assert_eq!(call(39), ret::ALLOW);
        assert_eq!(call(40), ret::ERRNO | 1);
    }

    #[test]
    fn jumps_past_255_are_refused() {
        let mut asm = Asm::new();
        let far = asm.label();
        asm.jump(JEQ, 0, Jump::To(far), Jump::Next);
        for _ in 0..256 {
            asm.ret(0);
        }
        asm.place(far);
        asm.ret(0);
        assert!(asm.finish().unwrap_err().contains("256"));
    }

    #[test]
    fn the_interpreter_reads_argument_words_low_first() {
        let data = SeccompData {
            args: [0x1_0000_0002, 0, 0, 0, 0, 0],
            ..Default::default()
        };
        let mut asm = Asm::new();
        asm.load(arg_hi(0));
        asm.jump(JEQ, 1, Jump::Next, Jump::Next);
        asm.load(arg_lo(0));
        asm.and(0xff);
        asm.ret(0);
        // A program whose answer is A itself is not expressible with `ret #k`,
        // so check the words through the jumps instead.
        assert_eq!(data.word(arg_lo(0)), Some(2));
        assert_eq!(data.word(arg_hi(0)), Some(1));
        assert!(run(&asm.finish().unwrap(), &data).is_ok());
    }

    #[test]
    fn the_printer_names_fields_and_actions() {
        let mut asm = Asm::new();
        asm.load(ARCH);
        asm.jump(JEQ, AUDIT_ARCH_X86_64, Jump::Next, Jump::Next);
        asm.ret(ret::ERRNO | 38);
        let text = disassemble(&asm.finish().unwrap(), |_| None);
        assert!(text.contains("; arch"), "{text}");
        assert!(text.contains("AUDIT_ARCH_X86_64"), "{text}");
        assert!(text.contains("ERRNO(38)"), "{text}");
    }
}
