//! The command's environment: what it is told, and nothing of the host's.
//!
//! `execve` passes an environment to the new program, and until this step
//! the command got the runtime's own: whatever `cargo`, `sudo -E` and the
//! learner's shell had (`SSH_AUTH_SOCK`, tokens, `HOME=/home/you`). See
//! environ(7), execve(2).
//!
//! This step gives it Docker's: `PATH`, `HOSTNAME`, `HOME`, `TERM` when it
//! has a terminal, then `--env-file FILE` and `-e/--env KEY=VALUE`, in that
//! order, a later one replacing an earlier one of the same name.

use std::path::PathBuf;

// ANCHOR: opt
/// `-e/--env` and `--env-file`, flattened into step06's arguments.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct EnvOpt {
    /// Set a variable in the container (repeatable): KEY=VALUE, or KEY alone
    /// to pass the runtime's own value of KEY (left out when it has none).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Read variables from FILE, one KEY=VALUE (or KEY) a line; blank lines
    /// and lines starting with # are skipped (repeatable).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
}
// ANCHOR_END: opt

/// Docker's `PATH` for a container without an image that sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ANCHOR: resolve
/// The whole environment of the command, in order. `host` looks a name up
/// in the runtime's environment (for `-e KEY` without a value); `read`
/// reads an env file. Both are parameters so the rules are tested without
/// touching either.
pub fn resolve(
    opt: &EnvOpt,
    hostname: &str,
    tty: bool,
    host: impl Fn(&str) -> Option<String>,
    read: impl Fn(&std::path::Path) -> std::io::Result<String>,
) -> Result<Vec<(String, String)>, String> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), "/root".into()),
    ];
    if tty {
        env.push(("TERM".into(), "xterm".into()));
    }
    let mut given: Vec<(String, String)> = Vec::new();
    for file in &opt.env_file {
        let text = read(file)
            .map_err(|e| format!("--env-file {}: {e}; give a readable file", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let what = format!("--env-file {} line {}", file.display(), n + 1);
            given.extend(parse(line, &what, &host)?);
        }
    }
    for arg in &opt.env {
        given.extend(parse(arg, &format!("-e {arg:?}"), &host)?);
    }
    for (key, value) in given {
        match env.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => env.push((key, value)),
        }
    }
    Ok(env)
}

/// One `KEY=VALUE` or `KEY`: `None` for a `KEY` the host does not have.
fn parse(
    item: &str,
    what: &str,
    host: &impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, String> {
    let (key, value) = match item.split_once('=') {
        Some((k, v)) => (k, Some(v.to_owned())),
        None => (item.trim_end(), None),
    };
    if key.is_empty() {
        return Err(format!("{what}: a variable needs a name before the ="));
    }
    if key.contains(char::is_whitespace) || item.contains('\0') {
        return Err(format!(
            "{what}: {key:?} is not a variable name (no spaces or NUL bytes)"
        ));
    }
    Ok(match value {
        Some(v) => Some((key.to_owned(), v)),
        None => host(key).map(|v| (key.to_owned(), v)),
    })
}
// ANCHOR_END: resolve

// ANCHOR: apply
/// Command side, just before exec: the environment becomes exactly `env`.
/// `execvp` then searches the command in the container's `PATH`, not the
/// host's.
pub fn apply(env: &[(String, String)]) {
    let names: Vec<String> = env.iter().map(|(k, _)| k.clone()).collect();
    workshop::explain!("environment: clearenv, then {}", names.join(" "));
    // SAFETY: this is the command's process, forked from PID 1 and
    // single-threaded, so no other thread can read the environment while it
    // changes; clearenv only frees the environment's own memory.
    unsafe {
        libc::clearenv();
        for (key, value) in env {
            std::env::set_var(key, value);
        }
    }
}
// ANCHOR_END: apply

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str) -> Option<String> {
        (name == "FROM_HOST").then(|| "h".to_owned())
    }

    fn no_files(_: &std::path::Path) -> std::io::Result<String> {
        Err(std::io::Error::from_raw_os_error(libc::ENOENT))
    }

    fn opt(env: &[&str], files: &[&str]) -> EnvOpt {
        EnvOpt {
            env: env.iter().map(|s| s.to_string()).collect(),
            env_file: files.iter().map(PathBuf::from).collect(),
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_is_dockers() {
        let env = resolve(&opt(&[], &[]), "box", false, host, no_files).unwrap();
        assert_eq!(
            env,
            pairs(&[
                ("PATH", DEFAULT_PATH),
                ("HOSTNAME", "box"),
                ("HOME", "/root")
            ])
        );
        let env = resolve(&opt(&[], &[]), "box", true, host, no_files).unwrap();
        assert_eq!(env.last().unwrap(), &("TERM".into(), "xterm".into()));
    }

    #[test]
    fn dash_e_sets_replaces_and_passes_host_values() {
        let env = resolve(
            &opt(&["A=1", "HOME=/x", "FROM_HOST", "NOT_ON_HOST", "B="], &[]),
            "box",
            false,
            host,
            no_files,
        )
        .unwrap();
        assert_eq!(
            env,
            pairs(&[
                ("PATH", DEFAULT_PATH),
                ("HOSTNAME", "box"),
                ("HOME", "/x"),
                ("A", "1"),
                ("FROM_HOST", "h"),
                ("B", ""),
            ])
        );
    }

    #[test]
    fn env_files_come_first_and_skip_comments() {
        let read = |_: &std::path::Path| Ok("# comment\n\nA=file\n  C=x=y\nFROM_HOST\n".to_owned());
        let env = resolve(&opt(&["A=flag"], &["f"]), "b", false, host, read).unwrap();
        assert!(env.contains(&("A".into(), "flag".into())));
        assert!(env.contains(&("C".into(), "x=y".into())));
        assert!(env.contains(&("FROM_HOST".into(), "h".into())));
    }

    #[test]
    fn bad_input_is_named() {
        let e = resolve(&opt(&["=1"], &[]), "b", false, host, no_files).unwrap_err();
        assert!(e.contains("needs a name"), "{e}");
        let e = resolve(&opt(&["A B=1"], &[]), "b", false, host, no_files).unwrap_err();
        assert!(e.contains("not a variable name"), "{e}");
        let e = resolve(&opt(&[], &["/nope"]), "b", false, host, no_files).unwrap_err();
        assert!(e.contains("--env-file /nope"), "{e}");
    }
}
