//! Seccomp profiles in Docker's JSON format (moby's
//! `profiles/seccomp/default.json` is one), read and resolved into a
//! [`Policy`] for this machine the way Docker and runc do:
//!
//! - an entry applies only if its `includes` hold (every capability listed
//!   is in the container's set, this architecture is listed, the kernel is
//!   at least `minKernel`) and its `excludes` do not (no capability listed
//!   is in the set, this architecture is not listed);
//! - an entry's `args` are all required at once, except when two of them
//!   compare the same argument: then each is a rule of its own (runc does
//!   this, so that `personality` can list several allowed values);
//! - a name this architecture has no number for is skipped, as runc skips
//!   what libseccomp does not know;
//! - `SCMP_ACT_ERRNO` without `errnoRet` fails with EPERM.
//!
//! step07 filters the native ABI only (see [`super::check_arch`]):
//! `archMap` and `architectures` are read but calls from the other ABIs
//! they list (i386 and x32 on x86_64) are killed, where Docker would let
//! them through the same rules.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Action, Arch, Cond, Op, Policy, Rule, Syscall, syscalls};

/// A whole profile.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: ActionName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch_map: Option<Vec<ArchMap>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<Vec<Entry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
}

/// `archMap`: an architecture and the ABIs it also runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One entry of `syscalls`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// The old form: one name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: ActionName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<Arg>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Conditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Conditions>,
}

/// `includes` / `excludes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arches: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// One argument condition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u8,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: OpName,
}

/// libseccomp's action names.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum ActionName {
    SCMP_ACT_KILL,
    SCMP_ACT_KILL_PROCESS,
    SCMP_ACT_KILL_THREAD,
    SCMP_ACT_TRAP,
    #[default]
    SCMP_ACT_ERRNO,
    SCMP_ACT_TRACE,
    SCMP_ACT_ALLOW,
    SCMP_ACT_LOG,
    SCMP_ACT_NOTIFY,
}

/// libseccomp's comparison names.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum OpName {
    SCMP_CMP_NE,
    SCMP_CMP_LT,
    SCMP_CMP_LE,
    SCMP_CMP_EQ,
    SCMP_CMP_GE,
    SCMP_CMP_GT,
    SCMP_CMP_MASKED_EQ,
}

impl From<OpName> for Op {
    fn from(op: OpName) -> Op {
        match op {
            OpName::SCMP_CMP_NE => Op::Ne,
            OpName::SCMP_CMP_LT => Op::Lt,
            OpName::SCMP_CMP_LE => Op::Le,
            OpName::SCMP_CMP_EQ => Op::Eq,
            OpName::SCMP_CMP_GE => Op::Ge,
            OpName::SCMP_CMP_GT => Op::Gt,
            OpName::SCMP_CMP_MASKED_EQ => Op::MaskedEq,
        }
    }
}

/// The action, with `errno` (`errnoRet`) where it takes one. `at` names the
/// field in errors.
fn action(name: ActionName, errno: Option<u16>, at: &str) -> Result<Action, String> {
    Ok(match name {
        ActionName::SCMP_ACT_KILL | ActionName::SCMP_ACT_KILL_THREAD => Action::KillThread,
        ActionName::SCMP_ACT_KILL_PROCESS => Action::KillProcess,
        ActionName::SCMP_ACT_TRAP => Action::Trap,
        ActionName::SCMP_ACT_ERRNO => Action::Errno(errno.unwrap_or(libc::EPERM as u16)),
        ActionName::SCMP_ACT_TRACE => Action::Trace(errno.unwrap_or(libc::EPERM as u16)),
        ActionName::SCMP_ACT_ALLOW => Action::Allow,
        ActionName::SCMP_ACT_LOG => Action::Log,
        ActionName::SCMP_ACT_NOTIFY => {
            return Err(format!(
                "{at}: SCMP_ACT_NOTIFY needs a listener process, which step07 does not have; \
                 use SCMP_ACT_ERRNO or SCMP_ACT_LOG"
            ));
        }
    })
}

/// What an entry's conditions are checked against.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub arch: &'a Arch,
    /// The container's capabilities, `CAP_SYS_ADMIN` etc.
    pub caps: HashSet<String>,
    /// The kernel's (major, minor).
    pub kernel: (u32, u32),
}

/// Reads a profile; errors name the file and the field, on one line.
pub fn load(path: &Path) -> Result<Profile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "seccomp profile {}: {e}; give a JSON file in Docker's format, or seccomp=unconfined",
            path.display()
        )
    })?;
    parse(&text).map_err(|e| format!("seccomp profile {}: {e}", path.display()))
}

/// Parses a profile's text; an error names the field (`syscalls[3].action`).
pub fn parse(text: &str) -> Result<Profile, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let profile: Profile = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let what = inner.to_string();
        if path == "." {
            what
        } else {
            format!("{path}: {what}")
        }
    })?;
    if let Some(flags) = profile.flags.as_deref().filter(|f| !f.is_empty()) {
        return Err(format!(
            "flags: {flags:?} are not supported by step07; remove the field"
        ));
    }
    if profile.listener_path.is_some() {
        return Err("listenerPath: step07 has no seccomp agent; remove the field".into());
    }
    for (i, entry) in profile.syscalls.iter().flatten().enumerate() {
        if entry.names.as_ref().is_none_or(|n| n.is_empty()) && entry.name.is_none() {
            return Err(format!("syscalls[{i}].names: the entry names no syscall"));
        }
        for (j, arg) in entry.args.iter().flatten().enumerate() {
            if arg.index > 5 {
                return Err(format!(
                    "syscalls[{i}].args[{j}].index: {} is not an argument (0 to 5)",
                    arg.index
                ));
            }
        }
        let at = format!("syscalls[{i}].action");
        action(entry.action, entry.errno_ret, &at)?;
        for cond in [&entry.includes, &entry.excludes].into_iter().flatten() {
            if let Some(v) = &cond.min_kernel {
                super::parse_version(v).ok_or(format!(
                    "syscalls[{i}].includes.minKernel: {v:?} is not a version like \"4.8\""
                ))?;
            }
        }
    }
    action(
        profile.default_action,
        profile.default_errno_ret,
        "defaultAction",
    )?;
    Ok(profile)
}

impl Conditions {
    fn caps(&self) -> &[String] {
        self.caps.as_deref().unwrap_or_default()
    }
    fn arches(&self) -> &[String] {
        self.arches.as_deref().unwrap_or_default()
    }
}

impl Entry {
    /// Whether this entry applies on this machine to this container.
    fn applies(&self, ctx: &Context) -> bool {
        if let Some(inc) = &self.includes {
            if !inc.arches().is_empty() && !inc.arches().iter().any(|a| a == ctx.arch.name) {
                return false;
            }
            if !inc.caps().iter().all(|c| ctx.caps.contains(c)) {
                return false;
            }
            let min = inc.min_kernel.as_deref().and_then(super::parse_version);
            if min.is_some_and(|min| ctx.kernel < min) {
                return false;
            }
        }
        if let Some(exc) = &self.excludes {
            if exc.arches().iter().any(|a| a == ctx.arch.name) {
                return false;
            }
            if exc.caps().iter().any(|c| ctx.caps.contains(c)) {
                return false;
            }
        }
        true
    }

    /// The rules this entry adds to each of its syscalls.
    fn rules(&self, action: Action) -> Vec<Rule> {
        let conds: Vec<Cond> = self
            .args
            .iter()
            .flatten()
            .map(|a| Cond {
                index: a.index,
                op: a.op.into(),
                value: a.value,
                value_two: a.value_two,
            })
            .collect();
        let mut seen = HashSet::new();
        let same_arg_twice = conds.iter().any(|c| !seen.insert(c.index));
        if same_arg_twice {
            conds
                .into_iter()
                .map(|c| Rule {
                    conds: vec![c],
                    action,
                })
                .collect()
        } else {
            vec![Rule { conds, action }]
        }
    }
}

impl Profile {
    /// The policy for `ctx`: each entry that applies adds its rules to its
    /// syscalls, in the profile's order. Also returns the names this
    /// architecture has no number for.
    pub fn resolve(&self, ctx: &Context) -> (Policy, Vec<String>) {
        // Checked by `parse` (or built in code, as the default is).
        let default = action(self.default_action, self.default_errno_ret, "")
            .unwrap_or(Action::Errno(libc::EPERM as u16));
        let mut syscalls: BTreeMap<u32, Syscall> = BTreeMap::new();
        let mut unknown = Vec::new();
        for entry in self.syscalls.iter().flatten() {
            if !entry.applies(ctx) {
                continue;
            }
            let Ok(act) = action(entry.action, entry.errno_ret, "") else {
                continue;
            };
            let names = entry.names.iter().flatten().chain(entry.name.iter());
            for name in names {
                let Some(nr) = syscalls::number(ctx.arch.table, name) else {
                    unknown.push(name.clone());
                    continue;
                };
                let name = syscalls::name(ctx.arch.table, nr).unwrap_or("?");
                let syscall = syscalls.entry(nr).or_insert(Syscall {
                    name,
                    rules: Vec::new(),
                });
                syscall.rules.extend(entry.rules(act));
            }
        }
        unknown.sort();
        unknown.dedup();
        (Policy { default, syscalls }, unknown)
    }
}
