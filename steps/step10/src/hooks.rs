//! The bundle's hooks: programs the runtime runs at points of the
//! container's life, each given the container's state as JSON on its
//! stdin. Where each kind runs, and what its failure does:
//!
//! | hook | when | where | a failure |
//! |---|---|---|---|
//! | `prestart` (deprecated), `createRuntime` | `create`, namespaces made, before pivot_root | the runtime's namespaces | fails `create` |
//! | `createContainer` | `create`, after the mounts, before pivot_root | the container's namespaces | fails `create` |
//! | `startContainer` | `start`, before the command's exec | inside the container | fails the command |
//! | `poststart` | `start`, after the command started | the runtime's namespaces | a warning |
//! | `poststop` | `delete`, after the container is gone | the runtime's namespaces | a warning |

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use oci_spec::runtime::Hook;

// ANCHOR: run
/// Runs `hooks` in order, each with `state` on stdin; the first that fails
/// (non-zero exit, killed, over its `timeout`) ends the run with an error
/// that names it.
pub fn run(kind: &str, hooks: Option<&Vec<Hook>>, state: &serde_json::Value) -> anyhow::Result<()> {
    let input = serde_json::to_vec(state)?;
    for hook in hooks.into_iter().flatten() {
        run_one(hook, &input).with_context(|| format!("{kind} hook {}", hook.path().display()))?;
    }
    Ok(())
}

fn run_one(hook: &Hook, input: &[u8]) -> anyhow::Result<()> {
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    // The hook's environment is exactly `env`, nothing of ours.
    cmd.env_clear();
    for pair in hook.env().iter().flatten() {
        if let Some((k, v)) = pair.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().context("could not be started")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is no error.
        let _ = stdin.write_all(input);
    }
    let limit = hook.timeout().map(|s| Duration::from_secs(s.max(1) as u64));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if limit.is_some_and(|l| start.elapsed() > l) {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "ran over its timeout of {} s and was killed",
                hook.timeout().unwrap_or(0)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if !status.success() {
        bail!("failed: {status}");
    }
    Ok(())
}
// ANCHOR_END: run

/// Runs `hooks` as [`run`] does, but a failure is only a warning: what the
/// spec asks of poststart and poststop hooks.
pub fn run_warn(kind: &str, hooks: Option<&Vec<Hook>>, state: &serde_json::Value) {
    let input = serde_json::to_vec(state).unwrap_or_default();
    for hook in hooks.into_iter().flatten() {
        if let Err(err) = run_one(hook, &input) {
            eprintln!(
                "{}: warning: {kind} hook {}: {err:#}",
                workshop::explain::program(),
                hook.path().display()
            );
        }
    }
}
