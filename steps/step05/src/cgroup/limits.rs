//! `--memory`, `--cpus`, `--pids`: what the learner types, checked before
//! any cgroup file is touched, and turned into what the kernel files want.

use std::fmt;

// ANCHOR: opt
/// `--memory`, `--cpus` and `--pids`, flattened into step05's arguments.
///
/// Example: `step05 --memory 64m --cpus 0.5 --pids 32 -- sh` gives the shell
/// 64 MiB of memory, half of one CPU and at most 32 processes.
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct LimitsOpt {
    /// Memory limit, in bytes or with a k, m, g or t suffix (binary: 1k =
    /// 1024 bytes, 1m = 1024k), e.g. --memory 64m or --memory 1.5g. Past it
    /// the kernel reclaims what it can, then OOM-kills the command (exit
    /// 137); swap is limited too, so it cannot dodge the limit.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    pub memory: Option<u64>,

    /// CPU time, in CPUs, e.g. --cpus 0.5: at most 50 ms of CPU time in
    /// every 100 ms period (--cpus 2: two CPUs' worth). A command that wants
    /// more is throttled (slowed down), never killed.
    #[arg(long, value_name = "N", value_parser = parse_cpus, allow_hyphen_values = true)]
    pub cpus: Option<f64>,

    /// Most processes and threads the container may have at once, e.g.
    /// --pids 64. Past it fork() and clone() fail with EAGAIN ("Resource
    /// temporarily unavailable"), which stops a fork bomb.
    #[arg(long, value_name = "N", value_parser = parse_pids, allow_hyphen_values = true)]
    pub pids: Option<u64>,
}
// ANCHOR_END: opt

impl LimitsOpt {
    /// Were any limits asked for?
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.cpus.is_none() && self.pids.is_none()
    }

    /// The controllers these limits need, by their kernel names.
    pub fn controllers(&self) -> Vec<&'static str> {
        let mut needed = Vec::new();
        if self.memory.is_some() {
            needed.push("memory");
        }
        if self.cpus.is_some() {
            needed.push("cpu");
        }
        if self.pids.is_some() {
            needed.push("pids");
        }
        needed
    }

    /// Checks values that did not come through the parsers (a `LimitsOpt`
    /// built in code) against the same rules.
    pub fn check(&self) -> Result<(), LimitError> {
        if self.memory == Some(0) {
            return Err(LimitError::new(
                "--memory",
                "0",
                "is zero: a limit must be at least 1 byte",
            ));
        }
        if let Some(cpus) = self.cpus {
            check_cpus(&cpus.to_string(), cpus)?;
        }
        if let Some(pids) = self.pids {
            check_pids(&pids.to_string(), pids)?;
        }
        Ok(())
    }
}

/// A bad `--memory`, `--cpus` or `--pids` value: names the flag, the value,
/// what is wrong, and shows a value that works.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {input:?} {why}; use e.g. {example}")]
pub struct LimitError {
    /// `--memory`, `--cpus` or `--pids`.
    pub flag: &'static str,
    /// What was typed.
    pub input: String,
    /// What is wrong with it ("is not a size").
    pub why: String,
    /// A value that would work.
    pub example: &'static str,
}

impl LimitError {
    fn new(flag: &'static str, input: &str, why: impl Into<String>) -> Self {
        let example = match flag {
            "--memory" => "64m or 1g",
            "--cpus" => "0.5 or 2",
            _ => "64",
        };
        LimitError {
            flag,
            input: input.to_owned(),
            why: why.into(),
            example,
        }
    }
}

/// The period of `cpu.max` and `cpu.cfs_period_us`: 100 ms, the kernel's
/// default. `--cpus N` allows N × 100 ms of CPU time in each period.
pub const CPU_PERIOD_US: u64 = 100_000;

/// The kernel refuses a quota under 1 ms (`min_cfs_quota_period`), which is
/// 0.01 of a 100 ms period.
const MIN_CPUS: f64 = 0.01;

/// A bound well past any machine, and far inside the kernel's own limit on
/// quotas (about 2^44 µs), so the arithmetic below cannot overflow.
const MAX_CPUS: f64 = 1_000_000.0;

/// `pids.max` accepts at most `PID_MAX_LIMIT` (4194304, 2^22).
const MAX_PIDS: u64 = 4_194_304;

// ANCHOR: parse_size
/// Parses a `--memory` value: bytes (`1048576`, `100b`), or a number with a
/// binary suffix, any case, with an optional `b`/`ib`: `k` = 1024, `m` =
/// 1024², `g` = 1024³, `t` = 1024⁴ (`64m`, `64MB`, `64MiB`, `1.5g`). Rejects
/// zero, negative numbers, junk and anything past 2^64 - 1 bytes.
pub fn parse_size(s: &str) -> Result<u64, LimitError> {
    let bad = |why: &str| LimitError::new("--memory", s, why);
    let text = s.trim();
    if text.starts_with('-') {
        return Err(bad("is negative: a limit must be at least 1 byte"));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad("is not a size")),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty()
        || !digits_only(whole)
        || !digits_only(fraction)
        || number.ends_with('.')
    {
        return Err(bad("is not a size"));
    }
    if !fraction.is_empty() && multiplier == 1 {
        return Err(bad("is not a whole number of bytes"));
    }
    // u128 holds any u64 times 2^40 exactly; a longer number overflows it
    // too, so the number of digits is the first check.
    if whole.len() > 25 {
        return Err(bad("is too large: the most is 2^64 - 1 bytes (16 EiB)"));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad("is not a size"))?
    };
    // Only the first 12 decimals matter: past them the bytes are below 1.
    let fraction = &fraction[..fraction.len().min(12)];
    let fraction_bytes = if fraction.is_empty() {
        0
    } else {
        let scale = 10u128.pow(fraction.len() as u32);
        fraction.parse::<u128>().map_err(|_| bad("is not a size"))? * multiplier / scale
    };
    let bytes = whole * multiplier + fraction_bytes;
    if bytes == 0 {
        return Err(bad("is zero: a limit must be at least 1 byte"));
    }
    u64::try_from(bytes).map_err(|_| bad("is too large: the most is 2^64 - 1 bytes (16 EiB)"))
}
// ANCHOR_END: parse_size

/// Parses a `--cpus` value: a finite number from 0.01 (the kernel's smallest
/// quota, 1 ms in 100 ms) up.
pub fn parse_cpus(s: &str) -> Result<f64, LimitError> {
    let text = s.trim();
    // f64's parser also takes "inf" and "NaN"; only plain decimals are numbers here.
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+');
    let cpus: f64 = match text.parse() {
        Ok(v) if plain => v,
        _ => return Err(LimitError::new("--cpus", s, "is not a number of CPUs")),
    };
    check_cpus(s, cpus)
}

fn check_cpus(input: &str, cpus: f64) -> Result<f64, LimitError> {
    let bad = |why: &str| LimitError::new("--cpus", input, why);
    if !cpus.is_finite() {
        return Err(bad("is not a number of CPUs"));
    }
    if cpus <= 0.0 {
        return Err(bad("must be more than 0"));
    }
    if cpus < MIN_CPUS {
        return Err(bad(
            "is below 0.01: the kernel's smallest quota is 1 ms per 100 ms period",
        ));
    }
    if cpus > MAX_CPUS {
        return Err(bad("is too large: at most 1000000"));
    }
    Ok(cpus)
}

/// Parses a `--pids` value: a whole number from 1 to 4194304 (`PID_MAX_LIMIT`).
pub fn parse_pids(s: &str) -> Result<u64, LimitError> {
    let text = s.trim();
    if text.starts_with('-') {
        return Err(LimitError::new("--pids", s, "must be at least 1"));
    }
    let pids: u64 = text
        .parse()
        .map_err(|_| LimitError::new("--pids", s, "is not a whole number of processes"))?;
    check_pids(s, pids)
}

fn check_pids(input: &str, pids: u64) -> Result<u64, LimitError> {
    if pids == 0 {
        return Err(LimitError::new(
            "--pids",
            input,
            "must be at least 1 (the command itself is a process)",
        ));
    }
    if pids > MAX_PIDS {
        return Err(LimitError::new(
            "--pids",
            input,
            "is too large: pids.max takes at most 4194304 (PID_MAX_LIMIT)",
        ));
    }
    Ok(pids)
}

/// `--cpus` as a CFS quota per [`CPU_PERIOD_US`], in microseconds (0.5 → 50000).
pub fn cpu_quota_us(cpus: f64) -> u64 {
    // check_cpus bounds cpus to [0.01, 1e6], so this is in [1000, 1e11].
    (cpus * CPU_PERIOD_US as f64).round() as u64
}

/// The line cgroup v2's `cpu.max` takes: `"$QUOTA $PERIOD"` (0.5 → `"50000 100000"`).
pub fn cpu_max(cpus: f64) -> String {
    format!("{} {}", cpu_quota_us(cpus), CPU_PERIOD_US)
}

/// A size the way people read it, in binary units: `64 MiB`, `1.5 GiB`,
/// `512 KiB`, `100 bytes` (at most two decimals, trailing zeros dropped).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("PiB", 1 << 50),
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (name, unit) in UNITS {
        if bytes >= unit {
            let value = format!("{:.2}", bytes as f64 / unit as f64);
            let value = value.trim_end_matches('0').trim_end_matches('.');
            return format!("{value} {name}");
        }
    }
    match bytes {
        1 => "1 byte".to_owned(),
        n => format!("{n} bytes"),
    }
}

/// The one line the runtime prints when the kernel's OOM killer struck in
/// the container's cgroup. As with `docker run`, the command's own exit
/// status stands: `command_status` 137 (SIGKILL) means the command itself
/// was the victim (`container was OOM-killed: memory limit 64 MiB`); any
/// other status means the kernel killed another process of the container
/// and the command lived on, which the line says too.
pub fn oom_message(memory_limit: Option<u64>, command_status: i32) -> String {
    let limit = match memory_limit {
        Some(limit) => format!("memory limit {}", human_size(limit)),
        None => "no --memory limit was set: the host ran out of memory".to_owned(),
    };
    if command_status == 137 {
        match memory_limit {
            Some(_) => format!("container was OOM-killed: {limit}"),
            None => format!("container was OOM-killed ({limit})"),
        }
    } else {
        format!(
            "the kernel OOM-killed a process of the container ({limit}); \
             the command itself exited {command_status}"
        )
    }
}

/// `64 MiB, 0.5 CPUs, 10 pids` for narration and `--help`-style summaries.
impl fmt::Display for LimitsOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(m) = self.memory {
            parts.push(format!("memory {}", human_size(m)));
        }
        if let Some(c) = self.cpus {
            parts.push(format!("{c} CPUs"));
        }
        if let Some(p) = self.pids {
            parts.push(format!("{p} pids"));
        }
        if parts.is_empty() {
            f.write_str("no limits")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_bytes_and_binary_units() {
        assert_eq!(parse_size("1048576"), Ok(1048576));
        assert_eq!(parse_size("100b"), Ok(100));
        assert_eq!(parse_size("512k"), Ok(512 * 1024));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("512kb"), Ok(512 * 1024));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size(" 64m "), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size(".5k"), Ok(512));
        assert_eq!(parse_size("2t"), Ok(2 << 40));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn bad_sizes_name_the_flag_and_show_an_example() {
        let err = parse_size("10zz").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--memory: \"10zz\" is not a size; use e.g. 64m or 1g"
        );
        for junk in [
            "", "m", "abc", "1.2.3m", "1e6", "64 m", "+5m", "5.m", "0x10", "64mm",
        ] {
            let err = parse_size(junk).unwrap_err();
            assert!(err.to_string().contains("is not a size"), "{junk}: {err}");
        }
        assert!(parse_size("0").unwrap_err().why.contains("zero"));
        assert!(parse_size("0m").unwrap_err().why.contains("zero"));
        assert!(parse_size("-5m").unwrap_err().why.contains("negative"));
        assert!(parse_size("1.5").unwrap_err().why.contains("whole number"));
        assert!(
            parse_size("18446744073709551616")
                .unwrap_err()
                .why
                .contains("too large")
        );
        assert!(
            parse_size("16777216t")
                .unwrap_err()
                .why
                .contains("too large")
        );
        assert!(
            parse_size(&"9".repeat(40))
                .unwrap_err()
                .why
                .contains("too large")
        );
    }

    #[test]
    fn cpus_are_positive_finite_and_not_below_one_percent() {
        assert_eq!(parse_cpus("0.5"), Ok(0.5));
        assert_eq!(parse_cpus("2"), Ok(2.0));
        assert_eq!(parse_cpus("0.01"), Ok(0.01));
        for bad in [
            "0", "-1", "0.001", "inf", "NaN", "abc", "", "1e400", "2000000",
        ] {
            let err = parse_cpus(bad).unwrap_err();
            assert!(err.to_string().starts_with("--cpus: "), "{bad}: {err}");
            assert!(
                err.to_string().ends_with("use e.g. 0.5 or 2"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn pids_are_between_one_and_pid_max_limit() {
        assert_eq!(parse_pids("1"), Ok(1));
        assert_eq!(parse_pids("4194304"), Ok(4194304));
        for bad in ["0", "-3", "4194305", "1.5", "ten", ""] {
            let err = parse_pids(bad).unwrap_err();
            assert!(err.to_string().starts_with("--pids: "), "{bad}: {err}");
        }
    }

    #[test]
    fn cpu_max_is_quota_and_period_in_microseconds() {
        assert_eq!(cpu_max(0.5), "50000 100000");
        assert_eq!(cpu_max(1.0), "100000 100000");
        assert_eq!(cpu_max(2.5), "250000 100000");
        assert_eq!(cpu_max(0.01), "1000 100000");
        assert_eq!(cpu_quota_us(1.0 / 3.0), 33333);
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(human_size(64 << 20), "64 MiB");
        assert_eq!(human_size(3 << 29), "1.5 GiB");
        assert_eq!(human_size(512 << 10), "512 KiB");
        assert_eq!(human_size(1000), "1000 bytes");
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(5 << 28), "1.25 GiB");
        assert_eq!(
            oom_message(Some(64 << 20), 137),
            "container was OOM-killed: memory limit 64 MiB"
        );
        assert!(oom_message(None, 137).contains("no --memory limit"));
        assert_eq!(
            oom_message(Some(64 << 20), 0),
            "the kernel OOM-killed a process of the container (memory limit 64 MiB); \
             the command itself exited 0"
        );
    }

    #[test]
    fn limits_built_in_code_are_checked_too() {
        assert!(LimitsOpt::default().check().is_ok());
        let zero_cpus = LimitsOpt {
            cpus: Some(0.0),
            ..Default::default()
        };
        assert!(
            zero_cpus
                .check()
                .unwrap_err()
                .to_string()
                .starts_with("--cpus")
        );
        let zero_memory = LimitsOpt {
            memory: Some(0),
            ..Default::default()
        };
        assert!(zero_memory.check().is_err());
        let nan = LimitsOpt {
            cpus: Some(f64::NAN),
            ..Default::default()
        };
        assert!(nan.check().is_err());
    }

    #[test]
    fn flags_parse_through_clap_with_help_text() {
        use clap::{CommandFactory, Parser};
        #[derive(Parser, Debug)]
        struct Cli {
            #[command(flatten)]
            limits: LimitsOpt,
        }
        let cli =
            Cli::try_parse_from(["t", "--memory", "64m", "--cpus", "0.5", "--pids", "10"]).unwrap();
        assert_eq!(cli.limits.memory, Some(64 << 20));
        assert_eq!(cli.limits.cpus, Some(0.5));
        assert_eq!(cli.limits.pids, Some(10));
        assert_eq!(cli.limits.controllers(), ["memory", "cpu", "pids"]);
        let err = Cli::try_parse_from(["t", "--memory", "10zz"]).unwrap_err();
        assert!(err.to_string().contains("use e.g. 64m or 1g"), "{err}");
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("--memory <SIZE>") && help.contains("e.g. --memory 64m"));
        assert!(help.contains("--cpus <N>") && help.contains("--pids <N>"));
    }
}
