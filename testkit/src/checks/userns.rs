//! Chapter 9: user namespaces. The runtime run by an ordinary user
//! (rootless), and by root with `--userns remap`.
//!
//! The rootless checks run the real binary as the fixture's unprivileged
//! users ([`crate::rootless`]): `contain-rs-rootless`, who has 65536
//! subordinate ids (so the runtime gives the container the full map through
//! newuidmap/newgidmap), and `contain-rs-rootless1`, who has none (the
//! single map `0 <uid> 1`). Each check has its own temp dir as the user's
//! `XDG_DATA_HOME` (so the run directories land in
//! `<it>/contain-rs-workshop/containers`) and its own copy of the test
//! rootfs owned by the user (`WORKSHOP_ROOTFS`). They look from inside (what
//! the command prints) and from the host (the container's processes in
//! /proc, the owners of the files in the run's upper layer, the helpers the
//! runtime started), and every "refused" comes with its positive control:
//! the same thing allowed where it should be.

use std::io::BufRead;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Check, expect_code, expect_one_line};
use crate::rootless::{self, Rootless, User};
use crate::run::{Output, RUN_LIMIT, Target, run_command, wait_limited};

/// The checks of chapter 9.
pub const CHECKS: &[Check] = &[
    Check {
        name: "userns::root_inside_the_users_ids_outside",
        since: 9,
        run: root_inside_the_users_ids_outside,
    },
    Check {
        name: "userns::single_map_without_subordinate_ids",
        since: 9,
        run: single_map_without_subordinate_ids,
    },
    Check {
        name: "userns::explain_narrates_the_maps",
        since: 9,
        run: explain_narrates_the_maps,
    },
    Check {
        name: "userns::defaults_are_the_users_own_dirs",
        since: 9,
        run: defaults_are_the_users_own_dirs,
    },
    Check {
        name: "userns::files_land_with_mapped_owners",
        since: 9,
        run: files_land_with_mapped_owners,
    },
    Check {
        name: "userns::chown_needs_the_full_map",
        since: 9,
        run: chown_needs_the_full_map,
    },
    Check {
        name: "userns::capabilities_stop_at_the_namespace",
        since: 9,
        run: capabilities_stop_at_the_namespace,
    },
    Check {
        name: "userns::hostname_is_the_containers",
        since: 9,
        run: hostname_is_the_containers,
    },
    Check {
        name: "userns::network_none_has_only_lo",
        since: 9,
        run: network_none_has_only_lo,
    },
    Check {
        name: "userns::user_mode_network_has_a_default_route",
        since: 9,
        run: user_mode_network_has_a_default_route,
    },
    Check {
        name: "userns::network_falls_back_from_pasta_to_none",
        since: 9,
        run: network_falls_back_from_pasta_to_none,
    },
    Check {
        name: "userns::veth_needs_root",
        since: 9,
        run: veth_needs_root,
    },
    Check {
        name: "userns::limits_need_a_delegated_cgroup",
        since: 9,
        run: limits_need_a_delegated_cgroup,
    },
    Check {
        name: "userns::remap_gives_root_the_subordinate_range",
        since: 9,
        run: remap_gives_root_the_subordinate_range,
    },
    Check {
        name: "userns::remap_without_a_range_is_125",
        since: 9,
        run: remap_without_a_range_is_125,
    },
    Check {
        name: "userns::userns_host_is_refused_for_users",
        since: 9,
        run: userns_host_is_refused_for_users,
    },
    Check {
        name: "userns::root_owned_rootfs_is_refused",
        since: 9,
        run: root_owned_rootfs_is_refused,
    },
    Check {
        name: "userns::run_dirs_removed_after_run_and_sigkill",
        since: 9,
        run: run_dirs_removed_after_run_and_sigkill,
    },
];

fn err(e: impl std::fmt::Display) -> String {
    format!("{e:#}")
}

// ---------------------------------------------------------------- helpers

fn ranged() -> Result<User, String> {
    rootless::with_range().map_err(|e| format!("the rootless fixture: {e:#}"))
}

fn single() -> Result<User, String> {
    rootless::without_range().map_err(|e| format!("the rootless fixture: {e:#}"))
}

fn lines(out: &Output) -> Vec<&str> {
    out.stdout.lines().collect()
}

/// stderr's non-empty lines.
fn err_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// A started runtime: stdout line by line, stderr collected; SIGTERMed and
/// waited for when dropped, so a failed check leaves nothing running.
struct Running {
    child: Option<Child>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    pid: u32,
}

impl Running {
    fn start(mut cmd: Command) -> Result<Running, String> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr_pipe = child.stderr.take().ok_or("no stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr_pipe)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&line);
                    s.push('\n');
                }
            }
        });
        let pid = child.id();
        Ok(Running {
            child: Some(child),
            lines: rx,
            stderr,
            pid,
        })
    }

    /// Waits (15 s at most) for a line `ready`; the lines before it.
    fn until_ready(&mut self) -> Result<Vec<String>, String> {
        use std::sync::mpsc::RecvTimeoutError;
        let mut before = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l == "ready" => return Ok(before),
                Ok(l) => before.push(l),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "the container did not print `ready` within 15 s (it printed {before:?}, \
                         stderr: {:?})",
                        self.stderr().trim()
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // stdout closed: the runtime ended (or is ending).
                    let code = self
                        .child
                        .take()
                        .and_then(|mut c| wait_limited(&mut c, Duration::from_secs(5)).ok())
                        .map(crate::run::code);
                    std::thread::sleep(Duration::from_millis(100));
                    return Err(format!(
                        "the container ended without printing `ready` (it printed {before:?}; \
                         the runtime exited {}, stderr: {:?})",
                        code.map_or("?".into(), |c| c.to_string()),
                        self.stderr().trim()
                    ));
                }
            }
        }
    }

    fn stderr(&self) -> String {
        // The reader may still be appending: give it a moment after an exit.
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// SIGTERM, then wait (10 s at most); the exit status.
    fn stop(&mut self) -> Result<i32, String> {
        let mut child = self.child.take().ok_or("already stopped")?;
        crate::run::stop(&mut child);
        match child.try_wait() {
            Ok(Some(status)) => Ok(crate::run::code(status)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err("the runtime did not end within 10 s of SIGTERM".into())
            }
        }
    }

    /// SIGKILL to the runtime alone, then reap it.
    fn kill9(&mut self) -> Result<(), String> {
        let mut child = self.child.take().ok_or("already stopped")?;
        child.kill().map_err(|e| format!("kill -9: {e}"))?;
        child.wait().map_err(|e| format!("wait: {e}"))?;
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            crate::run::stop(&mut child);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The runtime's descendants that live in another PID namespace than the
/// host's: the container's processes.
fn container_pids(runtime: u32) -> Vec<u32> {
    let host = crate::host::namespace("pid");
    rootless::descendants(runtime)
        .into_iter()
        .filter(|p| {
            let ns = rootless::namespace_of(*p, "pid");
            !ns.is_empty() && ns != host
        })
        .collect()
}

/// The container's processes, or an error saying none was found.
fn some_container_pids(runtime: u32) -> Result<Vec<u32>, String> {
    let pids = container_pids(runtime);
    if pids.is_empty() {
        Err(format!(
            "while the container ran, the runtime (pid {runtime}) had no descendant in another \
             PID namespace: the container's processes must be the runtime's children"
        ))
    } else {
        Ok(pids)
    }
}

/// The `ws-*` entries of a container dir (none when it does not exist).
fn ws_entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("ws-"))
                .collect()
        })
        .unwrap_or_default()
}

/// The one run directory while a container runs.
fn the_run_dir(dir: &Path) -> Result<PathBuf, String> {
    let ws = ws_entries(dir);
    match ws.as_slice() {
        [one] => Ok(dir.join(one)),
        _ => Err(format!(
            "while the container ran, {} held {ws:?}, expected one ws-<pid>: keep the run's \
             upper, work and merged under $XDG_DATA_HOME/contain-rs-workshop/containers",
            dir.display()
        )),
    }
}

/// Fails unless the container dir is empty (or absent) and no host mount
/// lies under it.
fn container_dir_clean(dir: &Path, after: &str) -> Result<(), String> {
    container_dir_clean_but(dir, after, "")
}

/// [`container_dir_clean`], with entries starting `keep` allowed (the
/// shifted copies `--userns remap` keeps: `remap-<uid>.<gid>`).
fn container_dir_clean_but(dir: &Path, after: &str, keep: &str) -> Result<(), String> {
    let left: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| keep.is_empty() || !n.starts_with(keep))
                .collect()
        })
        .unwrap_or_default();
    if !left.is_empty() {
        return Err(format!(
            "{after}, {} still holds {left:?}: remove the run's directory when the container \
             ends (its files may belong to subordinate ids: remove them from inside a user \
             namespace with the same map)",
            dir.display()
        ));
    }
    let prefix = dir.to_string_lossy().into_owned();
    let mounts: Vec<String> = crate::host::mounts()
        .into_iter()
        .filter(|m| m.contains(&prefix))
        .collect();
    if !mounts.is_empty() {
        return Err(format!(
            "{after}, the host has mounts under {}: {mounts:?}: mount only inside the container's \
             own mount namespace",
            dir.display()
        ));
    }
    Ok(())
}

/// (uid, gid) of `path` as the host sees it.
fn owner(path: &Path) -> Result<(u32, u32), String> {
    let m = std::fs::symlink_metadata(path).map_err(|e| {
        format!(
            "{} is missing while the container runs ({e}): the container's writes belong in \
             the run's upper layer",
            path.display()
        )
    })?;
    Ok((m.uid(), m.gid()))
}

/// Fails unless every container process has all four uids `uid` and all
/// four gids `gid` on the host.
fn processes_owned_by(pids: &[u32], uid: u32, gid: u32, who: &str) -> Result<(), String> {
    for pid in pids {
        let (Some(u), Some(g)) = (
            rootless::status_ids(*pid, "Uid"),
            rootless::status_ids(*pid, "Gid"),
        ) else {
            continue; // it ended meanwhile
        };
        if u.iter().any(|x| *x != uid) || g.iter().any(|x| *x != gid) {
            return Err(format!(
                "the container's process {pid} ({}) has Uid {u:?} and Gid {g:?} on the host, \
                 expected {uid} and {gid} ({who}): container root must be an ordinary id outside",
                rootless::comm(*pid)
            ));
        }
    }
    Ok(())
}

/// A directory holding symlinks to `programs` (those found on the
/// fixture's PATH), to be a run's whole PATH.
fn path_with(r: &Rootless, name: &str, programs: &[&str]) -> Result<PathBuf, String> {
    let dir = r.dir.join(name);
    std::fs::create_dir(&dir).map_err(err)?;
    for p in programs {
        let real = rootless::on_path(p).ok_or_else(|| {
            format!("{p} is not installed; install it (apt-get install uidmap passt slirp4netns)")
        })?;
        symlink(&real, dir.join(p)).map_err(err)?;
    }
    Ok(dir)
}

// ---------------------------------------------------------------- identity

/// As the user with subordinate ids: `id -u` is 0 inside, the uid and gid
/// maps are the full ones (`0 <uid> 1`, `1 <subuid> 65536`), the user
/// namespace is not the host's; from the host, every container process
/// belongs to the user's uid and gid, never 0, and its maps read the same.
pub fn root_inside_the_users_ids_outside(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let script = "id -u; id -g; echo --; cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; \
                  echo --; readlink /proc/self/ns/user; echo ready; exec sleep 30";
    let mut run = Running::start(r.command(&["sh", "-c", script]))?;
    let before = run.until_ready()?;
    let pids = some_container_pids(run.pid)?;
    processes_owned_by(&pids, user.uid, user.gid, &format!("user {}", user.name))?;
    if let Some(u) = rootless::status_ids(run.pid, "Uid")
        && u.iter().any(|x| *x != user.uid)
    {
        return Err(format!(
            "the runtime itself runs with Uid {u:?}, expected {}: the fixture did not drop to \
             the user (a testkit bug)",
            user.uid
        ));
    }
    let host_view = rootless::id_map(pids[0], "uid_map");
    run.stop()?;
    let text = before.join("\n");
    let parts: Vec<Vec<String>> = text
        .split("--")
        .map(|p| rootless::normalize_map(p.trim()))
        .collect();
    let part = |i: usize| parts.get(i).cloned().unwrap_or_default();
    if part(0) != ["0", "0"] {
        return Err(format!(
            "`id -u; id -g` printed {:?} inside, expected 0 and 0: after the maps are written \
             the child must setresgid(0,0,0) and setresuid(0,0,0)",
            part(0)
        ));
    }
    if part(1) != user.uid_map() {
        return Err(format!(
            "/proc/self/uid_map inside was {:?}, expected {:?}: {} has {} subordinate uids in \
             /etc/subuid, so run newuidmap <pid> 0 {} 1 1 {} {}",
            part(1),
            user.uid_map(),
            user.name,
            rootless::RANGE,
            user.uid,
            user.subuid.unwrap_or(0),
            rootless::RANGE
        ));
    }
    if part(2) != user.gid_map() {
        return Err(format!(
            "/proc/self/gid_map inside was {:?}, expected {:?}: run newgidmap with the user's \
             gid and its /etc/subgid range",
            part(2),
            user.gid_map()
        ));
    }
    let host_ns = crate::host::namespace("user");
    if part(3).first().is_none_or(|ns| *ns == host_ns) {
        return Err(format!(
            "the container's user namespace was {:?}, the host's is {host_ns}: clone with CLONE_NEWUSER",
            part(3)
        ));
    }
    if host_view != user.uid_map() {
        return Err(format!(
            "from the host, the container's /proc/PID/uid_map read {host_view:?}, expected {:?}",
            user.uid_map()
        ));
    }
    Ok(())
}

/// As a user with no subordinate ids, and as the user with them but no
/// newuidmap on PATH: the single map `0 <uid> 1` / `0 <gid> 1` with
/// setgroups denied, and `id -u` still 0 inside.
pub fn single_map_without_subordinate_ids(t: &Target) -> Result<(), String> {
    let script = "id -u; echo --; cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; \
                  echo --; cat /proc/self/setgroups";
    let check = |r: &Rootless, cmd: Command, what: &str| -> Result<(), String> {
        let out = run_command(cmd, RUN_LIMIT).map_err(|e| format!("{what}: {e}"))?;
        expect_code(&out, 0, what)?;
        let parts: Vec<Vec<String>> = out
            .stdout
            .split("--")
            .map(|p| rootless::normalize_map(p.trim()))
            .collect();
        let want = [
            vec!["0".to_owned()],
            vec![format!("0 {} 1", r.user.uid)],
            vec![format!("0 {} 1", r.user.gid)],
            vec!["deny".to_owned()],
        ];
        if parts != want {
            return Err(format!(
                "{what}: id -u, uid_map, gid_map and setgroups inside were {parts:?}, expected \
                 {want:?}: without newuidmap or a subordinate range, write \"deny\" to \
                 /proc/PID/setgroups, then \"0 <gid> 1\" to gid_map and \"0 <uid> 1\" to uid_map"
            ));
        }
        Ok(())
    };
    let user = single()?;
    let r = Rootless::new(t, &user)?;
    check(
        &r,
        r.command(&["sh", "-c", script]),
        &format!("as {}, who has no subordinate ids", user.name),
    )?;
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let mut cmd = r.command(&["--network", "none", "sh", "-c", script]);
    cmd.env("PATH", path_with(&r, "bin-no-newuidmap", &[])?);
    check(
        &r,
        cmd,
        &format!("as {} with newuidmap and newgidmap not on PATH", user.name),
    )
}

/// `--explain` narrates how the maps were written: the newuidmap and
/// newgidmap command lines for the full map, the writes to
/// /proc/PID/uid_map (with `0 <uid> 1`) for the single one.
pub fn explain_narrates_the_maps(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let out = r.run(&["--explain", "true"])?;
    expect_code(&out, 0, "--explain true (full map)")?;
    for word in ["newuidmap", "newgidmap"] {
        if !out.stderr.contains(word) {
            return Err(format!(
                "--explain as {} did not mention {word}: narrate each newuidmap/newgidmap \
                 command line as it is run",
                user.name
            ));
        }
    }
    let user = single()?;
    let r = Rootless::new(t, &user)?;
    let out = r.run(&["--explain", "true"])?;
    expect_code(&out, 0, "--explain true (single map)")?;
    let map = format!("0 {} 1", user.uid);
    let narrated = out
        .stderr
        .lines()
        .any(|l| l.contains("uid_map") && l.contains(&map));
    let setgroups = out
        .stderr
        .lines()
        .any(|l| l.contains("setgroups") && l.contains("deny"));
    if !narrated || !setgroups {
        return Err(format!(
            "--explain as {} did not narrate the writes `setgroups \"deny\"` and `uid_map \
             \"{map}\"` (stderr: {:?})",
            user.name,
            out.stderr.trim()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- files

/// Without `--rootfs`/`WORKSHOP_ROOTFS` and `--container-dir`, a user's
/// run takes its rootfs from `$XDG_DATA_HOME/contain-rs-workshop/rootfs`
/// and keeps its run directory in `.../containers` beside it; without
/// `XDG_DATA_HOME`, under `~/.local/share/contain-rs-workshop`. A marker
/// file in each copy proves which rootfs the container saw.
pub fn defaults_are_the_users_own_dirs(t: &Target) -> Result<(), String> {
    let user = single()?;
    let r = Rootless::new(t, &user)?;
    for (base, with_xdg) in [
        (r.data_home(), true),
        (r.dir.join("home/.local/share"), false),
    ] {
        let data = base.join("contain-rs-workshop");
        let rootfs = data.join("rootfs");
        let dirs_before: Vec<PathBuf> = base
            .ancestors()
            .take_while(|p| *p != r.dir)
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(&data).map_err(err)?;
        rootless::copy_tree(&r.rootfs(), &rootfs).map_err(err)?;
        let which = if with_xdg { "xdg" } else { "home" };
        std::fs::write(rootfs.join("etc/which-rootfs"), which).map_err(err)?;
        for dir in dirs_before
            .iter()
            .chain([&data, &rootfs.join("etc/which-rootfs")])
        {
            std::os::unix::fs::lchown(dir, Some(user.uid), Some(user.gid)).map_err(err)?;
        }
        let mut cmd = r.command(&[
            "sh",
            "-c",
            "cat /etc/which-rootfs; echo; echo ready; exec sleep 30",
        ]);
        cmd.env_remove("WORKSHOP_ROOTFS");
        if !with_xdg {
            cmd.env_remove("XDG_DATA_HOME");
        }
        let what = if with_xdg {
            "with XDG_DATA_HOME set"
        } else {
            "without XDG_DATA_HOME"
        };
        let mut run = Running::start(cmd).map_err(|e| format!("{what}: {e}"))?;
        let before = run.until_ready().map_err(|e| format!("{what}: {e}"))?;
        if before != [which] {
            return Err(format!(
                "{what} and no --rootfs, the container read /etc/which-rootfs as {before:?}, \
                 expected {which:?}: the default rootfs of an ordinary user is {}",
                rootfs.display()
            ));
        }
        let containers = data.join("containers");
        the_run_dir(&containers).map_err(|e| format!("{what}: {e}"))?;
        run.stop()?;
        container_dir_clean(&containers, &format!("{what}, after the run"))?;
    }
    Ok(())
}

/// Files the container creates land in the run's upper layer owned by
/// the ids the map gives: the user's uid for container root, the
/// subordinate range for `chown 1:1` and `1000:1000` (full map); the
/// user's for everything with the single map. The rootfs the user gave is
/// byte-for-byte unchanged, and the container dir is empty afterwards.
pub fn files_land_with_mapped_owners(t: &Target) -> Result<(), String> {
    for user in [ranged()?, single()?] {
        let r = Rootless::new(t, &user)?;
        let before = super::images::tree(&r.rootfs())?;
        let full = user.subuid.is_some();
        let script = if full {
            "echo a > /tmp/mine && echo b > /tmp/sub && chown 1:1 /tmp/sub && mkdir /tmp/d && \
             chown 1000:1000 /tmp/d && echo c >> /etc/os-release && echo ready; exec sleep 30"
        } else {
            "echo a > /tmp/mine && echo c >> /etc/os-release && echo ready; exec sleep 30"
        };
        let mut run = Running::start(r.command(&["sh", "-c", script]))?;
        run.until_ready()?;
        let ws = the_run_dir(&r.container_dir())?;
        let upper = ws.join("upper");
        let mut want = vec![
            ("tmp/mine", 0, 0, "a file container root wrote"),
            (
                "etc/os-release",
                0,
                0,
                "a lower file container root appended to",
            ),
        ];
        if full {
            want.push(("tmp/sub", 1, 1, "a file chowned to 1:1"));
            want.push(("tmp/d", 1000, 1000, "a directory chowned to 1000:1000"));
        }
        for (rel, uid, gid, what) in want {
            let got = owner(&upper.join(rel))?;
            let host = (
                user.host_uid(uid).unwrap_or(u32::MAX),
                user.host_gid(gid).unwrap_or(u32::MAX),
            );
            if got != host {
                return Err(format!(
                    "as {}, {what} ({}) is owned by {}:{} on the host, expected {}:{} (inside \
                     {uid}:{gid} through the map {:?})",
                    user.name,
                    upper.join(rel).display(),
                    got.0,
                    got.1,
                    host.0,
                    host.1,
                    user.uid_map()
                ));
            }
        }
        run.stop()?;
        let after = super::images::tree(&r.rootfs())?;
        if before != after {
            return Err(format!(
                "as {}, the run changed the rootfs it was given: {:?} entries differ: every \
                 write belongs in the run's upper layer",
                user.name,
                before
                    .iter()
                    .filter(|(k, v)| after.get(*k) != Some(v))
                    .map(|(k, _)| k.clone())
                    .take(5)
                    .collect::<Vec<_>>()
            ));
        }
        container_dir_clean(
            &r.container_dir(),
            &format!("after {}'s container ended", user.name),
        )?;
    }
    Ok(())
}

/// With the full map `chown 1:1` works inside and `stat` shows 1:1; with
/// the single map it fails (EINVAL: id 1 is not mapped) while files are
/// still created as 0:0 (the positive control).
pub fn chown_needs_the_full_map(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let out = r.run(&[
        "sh",
        "-c",
        "touch /tmp/x && chown 1:1 /tmp/x && stat -c %u:%g /tmp/x",
    ])?;
    expect_code(&out, 0, "chown 1:1 /tmp/x with the full map").map_err(|e| {
        format!("{e}: with 65536 subordinate ids mapped, uid 1 exists in the container")
    })?;
    if out.out() != "1:1" {
        return Err(format!(
            "after chown 1:1, stat printed {:?}, expected \"1:1\"",
            out.out()
        ));
    }
    let user = single()?;
    let r = Rootless::new(t, &user)?;
    let out = r.run(&[
        "sh",
        "-c",
        "touch /tmp/x && stat -c %u:%g /tmp/x && chown 1:1 /tmp/x; echo rc=$?",
    ])?;
    expect_code(&out, 0, "touch, stat and chown with the single map")?;
    let l = lines(&out);
    if l.first() != Some(&"0:0") {
        return Err(format!(
            "with the single map a new file was {:?}, expected 0:0 (container root is the user)",
            l.first()
        ));
    }
    let stderr = out.stderr.to_lowercase();
    if l.get(1) == Some(&"rc=0")
        || !(stderr.contains("invalid argument") || stderr.contains("not permitted"))
    {
        return Err(format!(
            "with the single map `chown 1:1` printed {:?} and {:?}, expected a failure with \
             EINVAL or EPERM: uid 1 is not mapped, so the kernel must refuse it",
            l.get(1),
            out.stderr.trim()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- privilege

/// Inside, the capabilities are Docker's set (CapEff non-zero, CAP_MKNOD
/// and all), but they are the user namespace's only: `mknod` of a device
/// fails with EPERM (it works for the same command run by root, the
/// positive control), and with `--cap-add SYS_ADMIN` a tmpfs mounts while
/// debugfs (not mountable in a user namespace) is refused.
pub fn capabilities_stop_at_the_namespace(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let out = r.run(&["cat", "/proc/self/status"])?;
    expect_code(&out, 0, "cat /proc/self/status")?;
    let cap_eff = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(str::trim)
        .unwrap_or("");
    if cap_eff != super::caps::DOCKER_DEFAULT_MASK {
        return Err(format!(
            "CapEff inside a rootless container was {cap_eff:?}, expected Docker's set {}: \
             apply step06's capability sets inside the user namespace too",
            super::caps::DOCKER_DEFAULT_MASK
        ));
    }
    let mknod = "mknod /tmp/probe-node c 1 3 && echo made || echo refused";
    let as_root = t.run(&["sh", "-c", mknod])?;
    if as_root.out() != "made" {
        return Err(format!(
            "run by root (no user namespace), `mknod /tmp/probe-node c 1 3` printed {:?}, \
             expected \"made\" (CAP_MKNOD is in Docker's set): the positive control failed",
            as_root.out()
        ));
    }
    let out = r.run(&["sh", "-c", mknod])?;
    if out.out() != "refused" || !out.stderr.to_lowercase().contains("not permitted") {
        return Err(format!(
            "run by {}, `mknod` of a device printed {:?} (stderr {:?}), expected \"refused\" \
             with EPERM: CAP_MKNOD in a user namespace must not make devices",
            user.name,
            out.out(),
            out.stderr.trim()
        ));
    }
    let mounts = "mount -t tmpfs t /mnt && echo tmpfs-mounted || echo tmpfs-refused; \
                  mount -t debugfs d /mnt 2>/dev/null && echo debugfs-mounted || echo debugfs-refused";
    let out = r.run(&["--cap-add", "SYS_ADMIN", "sh", "-c", mounts])?;
    if lines(&out) != ["tmpfs-mounted", "debugfs-refused"] {
        return Err(format!(
            "run by {} with --cap-add SYS_ADMIN, mounting tmpfs then debugfs printed {:?}, \
             expected [tmpfs-mounted, debugfs-refused]: CAP_SYS_ADMIN of the container's user \
             namespace mounts what a namespace may (tmpfs) and nothing of the host's kernel",
            user.name, out.stdout
        ));
    }
    Ok(())
}

/// `--hostname` is set in the container's own UTS namespace, and with
/// `--cap-add SYS_ADMIN` the container may change its hostname itself;
/// the host's never changes.
pub fn hostname_is_the_containers(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let host_before = crate::host::hostname();
    let out = r.run(&["--hostname", "box-9", "hostname"])?;
    expect_code(&out, 0, "--hostname box-9 hostname")?;
    if out.out() != "box-9" {
        return Err(format!(
            "--hostname box-9 as {} gave {:?} inside: sethostname after the maps are written, \
             as root of the user namespace that owns the UTS namespace",
            user.name,
            out.out()
        ));
    }
    let out = r.run(&[
        "--cap-add",
        "SYS_ADMIN",
        "sh",
        "-c",
        "hostname inner && hostname",
    ])?;
    expect_code(&out, 0, "--cap-add SYS_ADMIN hostname inner")?;
    if out.out() != "inner" {
        return Err(format!(
            "`hostname inner` with --cap-add SYS_ADMIN gave {:?}: the container's root owns its \
             UTS namespace",
            out.out()
        ));
    }
    let host_after = crate::host::hostname();
    if host_before != host_after {
        return Err(format!(
            "the host's hostname changed from {host_before:?} to {host_after:?}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- network

/// The interfaces of /proc/net/dev.
fn interfaces(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|l| Some(l.split(':').next()?.trim().to_owned()))
        .filter(|n| !n.is_empty())
        .collect()
}

/// What the container saw of its network, and the helpers running for it.
#[derive(Debug)]
struct NetView {
    interfaces: Vec<String>,
    /// (interface, address) of `ip -o -4 addr`, lo excepted.
    addresses: Vec<(String, String)>,
    /// The interface of the default route, if any.
    default_route: Option<String>,
    /// comm of each user-mode network helper found for the run.
    helpers: Vec<String>,
    helper_pids: Vec<u32>,
}

fn net_view(r: &Rootless, cmd: Command, what: &str) -> Result<NetView, String> {
    let mut run = Running::start(cmd)?;
    let before = run.until_ready().map_err(|e| format!("{what}: {e}"))?;
    let pids = container_pids(run.pid);
    let helper_pids = helpers(r, &pids);
    let helpers_comm = helper_pids.iter().map(|p| rootless::comm(*p)).collect();
    run.stop()?;
    let text = before.join("\n");
    let parts: Vec<&str> = text.split("--").collect();
    let part = |i: usize| parts.get(i).copied().unwrap_or("");
    let addresses = part(1)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let i = f.iter().position(|x| *x == "inet")?;
            Some((f.get(1)?.to_string(), f.get(i + 1)?.to_string()))
        })
        .filter(|(n, _)| n != "lo")
        .collect();
    let default_route = part(2).lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&"00000000") && f.get(7) == Some(&"00000000")).then(|| f[0].to_owned())
    });
    Ok(NetView {
        interfaces: interfaces(part(0)),
        addresses,
        default_route,
        helpers: helpers_comm,
        helper_pids,
    })
}

const NET_SCRIPT: &str = "cat /proc/net/dev; echo --; ip -o -4 addr show; echo --; \
                          cat /proc/net/route; echo ready; exec sleep 30";

fn is_pasta(comm: &str) -> bool {
    comm.starts_with("pasta") || comm.starts_with("passt")
}

/// The user-mode network helpers (pasta, slirp4netns) running for a run:
/// processes carrying the run's marker in their environment, or owned by
/// the user with a container PID on their command line.
fn helpers(r: &Rootless, container: &[u32]) -> Vec<u32> {
    let mut found: Vec<u32> = rootless::processes_with(&r.marker())
        .into_iter()
        .filter(|p| {
            let c = rootless::comm(*p);
            is_pasta(&c) || c == "slirp4netns"
        })
        .collect();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let c = rootless::comm(pid);
        if !(is_pasta(&c) || c == "slirp4netns") || found.contains(&pid) {
            continue;
        }
        if rootless::status_ids(pid, "Uid").and_then(|u| u.first().copied()) != Some(r.user.uid) {
            continue;
        }
        let mentions = rootless::cmdline(pid).iter().any(|arg| {
            arg.split(|ch: char| !ch.is_ascii_digit())
                .filter_map(|n| n.parse::<u32>().ok())
                .any(|n| container.contains(&n))
        });
        if mentions {
            found.push(pid);
        }
    }
    found
}

/// Fails unless the helpers are gone within 5 s.
fn helpers_gone(pids: &[u32], what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| crate::host::alive(*p))
            .collect();
        if alive.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let named: Vec<String> = alive
                .iter()
                .map(|p| format!("{p} {}", rootless::comm(*p)))
                .collect();
            // They are this check's: gone with it.
            for p in &alive {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*p as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            return Err(format!(
                "{what}: the network helper(s) {named:?} still ran 5 s after the container \
                 ended: stop them when the container ends (and make sure they can be stopped: \
                 spawn them with an empty signal mask)"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--network none`: only `lo`, and no helper started; the positive
/// control is the default network, which has more than `lo`.
pub fn network_none_has_only_lo(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let v = net_view(
        &r,
        r.command(&["--network", "none", "sh", "-c", NET_SCRIPT]),
        "--network none",
    )?;
    if v.interfaces != ["lo"] {
        return Err(format!(
            "--network none as {} gave the interfaces {:?}, expected only lo",
            user.name, v.interfaces
        ));
    }
    if !v.helpers.is_empty() {
        return Err(format!(
            "--network none started {:?}: none means no user-mode network helper",
            v.helpers
        ));
    }
    if rootless::on_path("pasta").is_some() || rootless::on_path("slirp4netns").is_some() {
        let out = r.run(&["cat", "/proc/net/dev"])?;
        expect_code(&out, 0, "cat /proc/net/dev on the default network")?;
        if interfaces(&out.stdout).len() < 2 {
            return Err(format!(
                "with pasta or slirp4netns installed, the default network as {} gave only {:?}: \
                 the positive control failed",
                user.name,
                interfaces(&out.stdout)
            ));
        }
    }
    Ok(())
}

/// With pasta (the default when installed) and with slirp4netns, the
/// container has a non-lo interface with an IPv4 address and a default
/// route through it; the helper runs as the user while the container runs
/// and ends with it.
pub fn user_mode_network_has_a_default_route(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let mut cases: Vec<(Vec<&str>, &str)> = Vec::new();
    if rootless::on_path("pasta").is_some() {
        cases.push((vec![], "pasta"));
        cases.push((vec!["--network", "pasta"], "pasta"));
    }
    if rootless::on_path("slirp4netns").is_some() {
        cases.push((vec!["--network", "slirp4netns"], "slirp4netns"));
    }
    if cases.is_empty() {
        return Err(
            "neither pasta nor slirp4netns is installed: install them (apt-get install passt \
             slirp4netns) to test the user-mode network"
                .into(),
        );
    }
    for (flags, helper) in cases {
        let what = if flags.is_empty() {
            "the default network (pasta is installed)".to_owned()
        } else {
            flags.join(" ")
        };
        let mut args = flags.clone();
        args.extend(["sh", "-c", NET_SCRIPT]);
        let v = net_view(&r, r.command(&args), &what)?;
        let Some(route_if) = &v.default_route else {
            return Err(format!(
                "{what} as {}: no default route inside (interfaces {:?}): the helper must \
                 configure the tap device with an address and a default route",
                user.name, v.interfaces
            ));
        };
        if !v.addresses.iter().any(|(n, _)| n == route_if) {
            return Err(format!(
                "{what} as {}: the default route is via {route_if}, which has no IPv4 address \
                 ({:?})",
                user.name, v.addresses
            ));
        }
        let right = match helper {
            "pasta" => v.helpers.iter().any(|c| is_pasta(c)),
            _ => v.helpers.iter().any(|c| c == helper),
        };
        if !right {
            return Err(format!(
                "{what} as {}: no {helper} process ran for the container (found {:?}): start \
                 {helper} for the container's network namespace",
                user.name, v.helpers
            ));
        }
        for pid in &v.helper_pids {
            if let Some(u) = rootless::status_ids(*pid, "Uid")
                && u.first() != Some(&user.uid)
            {
                return Err(format!(
                    "{what}: the helper {pid} runs as uid {u:?}, expected the user's {}",
                    user.uid
                ));
            }
        }
        helpers_gone(&v.helper_pids, &what)?;
    }
    Ok(())
}

/// The default network falls back: slirp4netns when pasta is not on PATH
/// (no message), and `none` with exactly one line naming both packages
/// when neither is. When the user cannot open /dev/net/tun (a 0600 node, in
/// the run's private mount namespace), the default is `none` with one line
/// naming /dev/net/tun, and an explicit `--network pasta` is 125.
pub fn network_falls_back_from_pasta_to_none(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    if rootless::on_path("pasta").is_some() {
        let closed = rootless::Spawn {
            tun: rootless::Tun::Closed,
            ..Default::default()
        };
        let cmd = r.command_with(&closed, &["cat", "/proc/net/dev"]);
        let out = run_command(cmd, RUN_LIMIT)?;
        expect_code(&out, 0, "the default network when /dev/net/tun is 0600")?;
        let tun_lines: Vec<&str> = err_lines(&out.stderr)
            .into_iter()
            .filter(|l| l.contains("/dev/net/tun"))
            .collect();
        if tun_lines.len() != 1 || interfaces(&out.stdout) != ["lo"] {
            return Err(format!(
                "when the user cannot open /dev/net/tun, the default network gave {:?} with \
                 stderr {:?}, expected only lo and one line naming /dev/net/tun (pasta and \
                 slirp4netns need it)",
                interfaces(&out.stdout),
                out.stderr.trim()
            ));
        }
        let cmd = r.command_with(&closed, &["--network", "pasta", "true"]);
        let out = run_command(cmd, RUN_LIMIT)?;
        expect_code(&out, 125, "--network pasta when /dev/net/tun is 0600")?;
        expect_one_line(
            &out,
            &["/dev/net/tun"],
            "--network pasta when /dev/net/tun is 0600",
        )?;
        container_dir_clean(&r.container_dir(), "after --network pasta was refused")?;
    }
    if rootless::on_path("slirp4netns").is_some() {
        let mut cmd = r.command(&["sh", "-c", NET_SCRIPT]);
        cmd.env(
            "PATH",
            path_with(&r, "bin-slirp", &["newuidmap", "newgidmap", "slirp4netns"])?,
        );
        let v = net_view(&r, cmd, "the default network with only slirp4netns on PATH")?;
        if !v.helpers.iter().any(|c| c == "slirp4netns") || v.default_route.is_none() {
            return Err(format!(
                "with slirp4netns but not pasta on PATH, the default network ran {:?} and gave \
                 the default route {:?}: fall back to slirp4netns",
                v.helpers, v.default_route
            ));
        }
        helpers_gone(&v.helper_pids, "slirp4netns as the fallback")?;
    }
    let mut cmd = r.command(&["cat", "/proc/net/dev"]);
    cmd.env(
        "PATH",
        path_with(&r, "bin-nonet", &["newuidmap", "newgidmap"])?,
    );
    let out = run_command(cmd, RUN_LIMIT)?;
    expect_code(&out, 0, "a run with neither pasta nor slirp4netns on PATH")?;
    let net_lines: Vec<&str> = err_lines(&out.stderr)
        .into_iter()
        .filter(|l| !l.contains("no cgroup"))
        .collect();
    if net_lines.len() != 1
        || !net_lines[0].contains("pasta")
        || !net_lines[0].contains("slirp4netns")
    {
        return Err(format!(
            "with neither pasta nor slirp4netns on PATH, stderr was {:?}, expected one line \
             naming both (and that the run uses --network none)",
            out.stderr.trim()
        ));
    }
    if interfaces(&out.stdout) != ["lo"] {
        return Err(format!(
            "with neither helper on PATH the container had {:?}, expected only lo",
            interfaces(&out.stdout)
        ));
    }
    Ok(())
}

/// `--network veth` as a user: 125 with one line, nothing left behind;
/// `--network none` with the same flags runs (the positive control).
pub fn veth_needs_root(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let out = r.run(&["--network", "veth", "true"])?;
    expect_code(&out, 125, "--network veth as an ordinary user")?;
    expect_one_line(&out, &["veth"], "--network veth as an ordinary user")?;
    if !out.stderr.contains("pasta") && !out.stderr.contains("none") {
        return Err(format!(
            "--network veth as {} said {:?}: name what works without root (--network \
             pasta|slirp4netns|none)",
            user.name,
            out.stderr.trim()
        ));
    }
    container_dir_clean(&r.container_dir(), "after --network veth was refused")?;
    let out = r.run(&["--network", "none", "true"])?;
    expect_code(&out, 0, "--network none true (the positive control)")
}

// ---------------------------------------------------------------- cgroups

/// Without a delegated cgroup v2 subtree (any cgroup v1 host, and a v2
/// host where the runtime's cgroup is root's), a run prints exactly one
/// line starting `step09: no cgroup:` and runs; `--memory 64m` is 125 with
/// one line. On a cgroup v2 host the check then delegates a subtree to the
/// user (as systemd's Delegate=yes does), starts the runtime in it, and
/// `--memory 64m` must give the container's cgroup (found from
/// /proc/PID/cgroup) `memory.max` 67108864, with no "no cgroup" line, and
/// the cgroup must be gone after the run. On a v1 host that part cannot
/// run: `cargo xtask vm-test` runs it on v2.
pub fn limits_need_a_delegated_cgroup(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let out = r.run(&["echo", "ran"])?;
    expect_code(&out, 0, "a run without a delegated cgroup")?;
    if out.out() != "ran" {
        return Err(format!("`echo ran` printed {:?}", out.out()));
    }
    let l = err_lines(&out.stderr);
    // The runtime names itself first: step09, ex09, a learner's binary.
    let name = t.bin.file_name().unwrap_or_default().to_string_lossy();
    let want = format!("{name}: no cgroup:");
    if l.len() != 1 || !l[0].starts_with(&want) {
        return Err(format!(
            "without a delegated cgroup, stderr was {:?}, expected exactly one line starting \
             \"{want}\" (the reason; the run goes on without limits)",
            out.stderr.trim()
        ));
    }
    let out = r.run(&["--memory", "64m", "true"])?;
    expect_code(&out, 125, "--memory 64m without a delegated cgroup")?;
    expect_one_line(&out, &[], "--memory 64m without a delegated cgroup")?;
    container_dir_clean(&r.container_dir(), "after --memory was refused")?;
    if !crate::host::cgroup_v2() {
        return Ok(());
    }
    let deleg = rootless::Delegated::new(&user)?;
    let procs = deleg.runner_procs();
    let spawn = rootless::Spawn {
        cgroup_procs: Some(procs),
        ..Default::default()
    };
    let cmd = r.command_with(
        &spawn,
        &["--memory", "64m", "sh", "-c", "echo ready; exec sleep 30"],
    );
    let mut run = Running::start(cmd)?;
    run.until_ready()?;
    let pids = some_container_pids(run.pid)?;
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", pids[0])).map_err(err)?;
    let path = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("")
        .to_owned();
    let dir = PathBuf::from(format!("{}{path}", rootless::CGROUP2));
    let under = deleg.delegated().join("contain-rs-workshop");
    if !dir.starts_with(&under) || dir == under {
        return Err(format!(
            "in a delegated subtree, the container's cgroup was {}, expected one under {}: make \
             <delegated dir>/contain-rs-workshop/ws-<pid>",
            dir.display(),
            under.display()
        ));
    }
    let max = std::fs::read_to_string(dir.join("memory.max")).unwrap_or_default();
    let stderr = run.stderr();
    run.stop()?;
    if max.trim() != "67108864" {
        return Err(format!(
            "--memory 64m in a delegated subtree: {}/memory.max was {:?}, expected 67108864",
            dir.display(),
            max.trim()
        ));
    }
    if stderr.contains("no cgroup") {
        return Err(format!(
            "with a delegated subtree the runtime still said {:?}: find the nearest ancestor \
             of your own cgroup that you own, and use it",
            stderr.trim()
        ));
    }
    if dir.exists() {
        return Err(format!(
            "{} is still there after the run: remove the container's cgroup when it ends",
            dir.display()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- remap

/// Root with `--userns remap`: container root is the first uid of root's
/// range in /etc/subuid. Inside `id -u` is 0 and uid_map is
/// `0 <start> 65536`; from the host the container's processes and the files
/// it creates (in the run's upper layer) belong to the range; afterwards
/// the container dir is empty, and the shared rootfs still belongs to root
/// (the shift is done on a copy).
pub fn remap_gives_root_the_subordinate_range(t: &Target) -> Result<(), String> {
    let (subuid, subgid) =
        rootless::root_range().map_err(|e| format!("the rootless fixture: {e:#}"))?;
    let rootfs = t.rootfs.clone().ok_or("chapter 9 checks need a rootfs")?;
    let tmp = tempfile::Builder::new()
        .prefix("testkit-remap-")
        .tempdir()
        .map_err(err)?;
    let containers = tmp.path().join("containers");
    std::fs::create_dir(&containers).map_err(err)?;
    let containers_s = containers.to_string_lossy().into_owned();
    let script = "id -u; cat /proc/self/uid_map; echo x > /tmp/made; echo y > /tmp/made7; \
                  chown 7:7 /tmp/made7; echo ready; exec sleep 30";
    let mut cmd = t.command(&[
        "--userns",
        "remap",
        "--container-dir",
        &containers_s,
        "sh",
        "-c",
        script,
    ]);
    cmd.env_remove("WORKSHOP_CONTAINER_DIR");
    let mut run = Running::start(cmd)?;
    let before = run.until_ready()?;
    let want_map = format!("0 {subuid} {}", rootless::RANGE);
    let inside: Vec<String> = rootless::normalize_map(&before.join("\n"));
    if inside != ["0".to_owned(), want_map.clone()] {
        return Err(format!(
            "--userns remap: `id -u; cat /proc/self/uid_map` printed {inside:?}, expected \
             [\"0\", {want_map:?}]: map container root to root's first range in /etc/subuid"
        ));
    }
    let pids = some_container_pids(run.pid)?;
    processes_owned_by(
        &pids,
        subuid,
        subgid,
        "the start of root's subordinate range",
    )?;
    let upper = the_run_dir(&containers)?.join("upper");
    for (rel, uid, gid) in [
        ("tmp/made", subuid, subgid),
        ("tmp/made7", subuid + 7, subgid + 7),
    ] {
        let got = owner(&upper.join(rel))?;
        if got != (uid, gid) {
            return Err(format!(
                "--userns remap: {} is owned by {}:{} on the host, expected {uid}:{gid}",
                upper.join(rel).display(),
                got.0,
                got.1
            ));
        }
    }
    run.stop()?;
    container_dir_clean_but(&containers, "after a --userns remap run", "remap-")?;
    // The shifted copy of the rootfs: kept, and root's files are the range's.
    let shifted = containers.join(format!("remap-{subuid}.{subgid}"));
    let copies: Vec<PathBuf> = std::fs::read_dir(&shifted)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    for copy in &copies {
        let got = owner(copy)?;
        if got != (subuid, subgid) {
            return Err(format!(
                "the shifted copy {} belongs to {}:{}, expected {subuid}:{subgid} (root's \
                 files plus the range's start)",
                copy.display(),
                got.0,
                got.1
            ));
        }
    }
    for rel in ["", "bin/busybox", "etc/passwd"] {
        let got = owner(&rootfs.join(rel))?;
        if got != (0, 0) {
            return Err(format!(
                "after --userns remap, {} on the host belongs to {}:{}: shift a copy of the \
                 lower layers, never the rootfs itself",
                rootfs.join(rel).display(),
                got.0,
                got.1
            ));
        }
    }
    Ok(())
}

/// `--userns remap` when root has no range: 125, one line with the fix
/// (`usermod --add-subuids`). /etc/subuid and /etc/subgid are hidden behind
/// empty files in a private mount namespace of the runtime's own (the
/// host's files are never touched); the same run with them is the
/// positive control.
pub fn remap_without_a_range_is_125(t: &Target) -> Result<(), String> {
    rootless::root_range().map_err(|e| format!("the rootless fixture: {e:#}"))?;
    let rootfs = t.rootfs.clone().ok_or("chapter 9 checks need a rootfs")?;
    let tmp = tempfile::Builder::new()
        .prefix("testkit-remap-")
        .tempdir()
        .map_err(err)?;
    let containers = tmp.path().join("containers");
    std::fs::create_dir(&containers).map_err(err)?;
    let empty = tmp.path().join("empty");
    std::fs::write(&empty, "").map_err(err)?;
    let hidden = |hide: bool| -> Result<Output, String> {
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(if hide {
                "mount --bind \"$1\" /etc/subuid && mount --bind \"$1\" /etc/subgid && shift && exec \"$@\""
            } else {
                "shift && exec \"$@\""
            })
            .arg("sh")
            .arg(&empty)
            .arg(&t.bin)
            .arg("--rootfs")
            .arg(&rootfs)
            .args(["--userns", "remap", "--container-dir"])
            .arg(&containers)
            .arg("true")
            .env_remove("WORKSHOP_ROOTFS")
            .env_remove("WORKSHOP_CONTAINER_DIR")
            .stdin(Stdio::null());
        run_command(cmd, RUN_LIMIT).map_err(|e| format!("unshare --mount ... --userns remap: {e}"))
    };
    let out = hidden(false)?;
    expect_code(
        &out,
        0,
        "--userns remap with root's range (the positive control)",
    )?;
    let out = hidden(true)?;
    expect_code(
        &out,
        125,
        "--userns remap with no range for root in /etc/subuid",
    )?;
    expect_one_line(
        &out,
        &["usermod"],
        "--userns remap with no range for root in /etc/subuid",
    )?;
    container_dir_clean_but(&containers, "after --userns remap was refused", "remap-")
}

// ---------------------------------------------------------------- bad input

/// `--userns host` as an ordinary user: 125, one line, nothing in the
/// container dir; the same run without it works.
pub fn userns_host_is_refused_for_users(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let out = r.run(&["--userns", "host", "true"])?;
    expect_code(&out, 125, "--userns host as an ordinary user")?;
    expect_one_line(&out, &["userns"], "--userns host as an ordinary user")?;
    container_dir_clean(&r.container_dir(), "after --userns host was refused")?;
    let out = r.run(&["true"])?;
    expect_code(&out, 0, "the same user without --userns host")
}

/// A rootfs owned by root (not mapped in the user's namespace) is refused
/// as a user: 125, one line naming rootfs-fetcher (the fix: fetch your own
/// copy); the user's own copy runs (the positive control).
pub fn root_owned_rootfs_is_refused(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let out = r.run(&["true"])?;
    expect_code(&out, 0, "the user's own rootfs (the positive control)")?;
    let roots = r.dir.join("root-owned");
    let base = crate::rootfs::busybox_rootfs().map_err(err)?;
    rootless::copy_tree(&base, &roots).map_err(err)?;
    let roots_s = roots.to_string_lossy().into_owned();
    let out = r.run(&["--rootfs", &roots_s, "true"])?;
    expect_code(&out, 125, "a rootfs owned by root, run as a user")?;
    expect_one_line(
        &out,
        &["rootfs-fetcher"],
        "a rootfs owned by root, run as a user",
    )?;
    container_dir_clean(
        &r.container_dir(),
        "after the root-owned rootfs was refused",
    )
}

// ---------------------------------------------------------------- cleanup

/// After a normal run whose files belong to subordinate ids (a 0700
/// directory of uid 1000 inside), the container dir holds nothing; after
/// SIGKILL of the runtime the run dir stays (the positive control), the
/// container's processes and helpers end, and the next run removes it.
pub fn run_dirs_removed_after_run_and_sigkill(t: &Target) -> Result<(), String> {
    let user = ranged()?;
    let r = Rootless::new(t, &user)?;
    let dir = r.container_dir();
    let files = "mkdir -p /tmp/d/e && touch /tmp/d/e/f && chown -R 1000:1000 /tmp/d && \
                 chmod 700 /tmp/d /tmp/d/e";
    let out = r.run(&["sh", "-c", files])?;
    expect_code(&out, 0, "a run that makes a 0700 tree owned by 1000:1000")?;
    container_dir_clean(&dir, "after a run whose files belong to subordinate ids")?;
    let mut run =
        Running::start(r.command(&["sh", "-c", &format!("{files}; echo ready; exec sleep 30")]))?;
    run.until_ready()?;
    let ws = the_run_dir(&dir)?;
    let d = ws.join("upper/tmp/d");
    let want = user.host_uid(1000).unwrap_or(u32::MAX);
    if owner(&d)?.0 != want {
        return Err(format!(
            "{} belongs to uid {}, expected {want} (1000 inside)",
            d.display(),
            owner(&d)?.0
        ));
    }
    let pids = some_container_pids(run.pid)?;
    let helper_pids = helpers(&r, &pids);
    run.kill9()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| crate::host::alive(*p)) {
        if Instant::now() > deadline {
            return Err(format!(
                "5 s after kill -9 of the runtime its container's processes {pids:?} still ran: \
                 set PR_SET_PDEATHSIG on the container's init"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Said after the sweep is checked, so that one failure does not hide the other.
    let helpers_result = helpers_gone(&helper_pids, "after kill -9 of the runtime");
    let out = r.run(&["true"])?;
    expect_code(&out, 0, "the run after a kill -9")?;
    container_dir_clean(
        &dir,
        "after kill -9 of a runtime and another run (which must sweep ws-<pid> of dead runtimes)",
    )?;
    helpers_result?;
    let marked: Vec<String> = rootless::processes_with(&r.marker())
        .into_iter()
        .map(|p| format!("{p} {}", rootless::comm(p)))
        .collect();
    if !marked.is_empty() {
        return Err(format!(
            "after kill -9 of the runtime, processes it started still ran: {marked:?}"
        ));
    }
    Ok(())
}
