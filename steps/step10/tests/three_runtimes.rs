//! One bundle, three runtimes: runc, crun and step10 run the same
//! config.json on the same rootfs, and what the container sees from
//! inside must agree: hostname, user, capabilities, no_new_privs, seccomp,
//! /dev, PID 1's command line, rlimits, umask, environment, masked and
//! read-only paths.
//!
//! runc and crun must be installed (`apt-get install -y runc crun`): this
//! test fails, it does not skip, without them.
//!
//! crun 1.8.1 refuses a hybrid cgroup host (v1 controllers plus a cgroup2
//! mount at /sys/fs/cgroup/unified). As `cargo xtask conformance` does,
//! every runtime here runs in a private mount namespace in which an empty
//! tmpfs covers /sys/fs/cgroup/unified, so all three use the v1
//! controllers; the host's own mounts are never changed. The namespace is
//! made by `unshare(1)` for each command, not by this test process, which
//! has threads (unshare(CLONE_NEWNS) wants a single-threaded caller).

mod common;

use std::path::{Path, PathBuf};

use common::{Ctr, LIMIT, Out, spawn, unique};

/// What the container prints: one section per fact, so that a
/// difference names what differs.
const PROBE: &str = r#"
echo "== hostname"; hostname
echo "== id"; id
echo "== status"; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status
echo "== dev"; ls -a /dev
echo "== cmdline"; tr '\0' ' ' < /proc/1/cmdline; echo
echo "== pid"; echo $$
echo "== nofile"; ulimit -n
echo "== umask"; umask
echo "== cwd"; pwd
echo "== env"; env | sort
echo "== masked"; for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do if [ -e $f ]; then wc -c < $f; else echo absent; fi; done; ls /sys/firmware | wc -l
echo "== readonly"; (echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null && echo writable || echo refused
echo "== net"; ls /sys/class/net
"#;

/// Is a hybrid host's cgroup2 mounted at /sys/fs/cgroup/unified?
fn hybrid() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup/unified")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// `program args`, in a private mount namespace where the cgroup2 mount of
/// a hybrid host is covered (see the module's comment).
fn in_private_cgroup_view(dir: &Path, program: &str, args: &[&str]) -> Out {
    if !hybrid() {
        return common::run_in(dir, program, args);
    }
    let mut all = vec![
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        r#"mount -t tmpfs -o size=4k,mode=0555 step10-test /sys/fs/cgroup/unified && exec "$@""#,
        "sh",
        program,
    ];
    all.extend_from_slice(args);
    spawn(dir, "unshare", &all).wait(LIMIT)
}

/// runc's or crun's container, deleted (and its cgroup removed) on drop.
struct Other {
    program: PathBuf,
    root: PathBuf,
    id: String,
    dir: PathBuf,
    /// Leading flags (crun's --cgroup-manager).
    flags: Vec<&'static str>,
}

impl Other {
    fn run(&self, bundle: &Path) -> Out {
        let mut args: Vec<&str> = vec!["--root", self.root.to_str().unwrap()];
        args.extend(self.flags.iter().copied());
        args.extend(["run", "--bundle", bundle.to_str().unwrap(), &self.id]);
        in_private_cgroup_view(&self.dir, self.program.to_str().unwrap(), &args)
    }
}

impl Drop for Other {
    fn drop(&mut self) {
        let mut args: Vec<&str> = vec!["--root", self.root.to_str().unwrap()];
        args.extend(self.flags.iter().copied());
        args.extend(["delete", "--force", &self.id]);
        let _ = in_private_cgroup_view(&self.dir, self.program.to_str().unwrap(), &args);
        // Without cgroupsPath, runc and crun name the cgroup after the ID
        // (unique to this test): remove it if they left it.
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                let _ = std::fs::remove_dir(h.path().join(&self.id));
            }
        }
    }
}

/// The output's sections, by name.
fn sections(out: &str) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = Vec::new();
    for line in out.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            all.push((name.to_owned(), String::new()));
        } else if let Some((_, body)) = all.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    all
}

/// What legitimately differs between the runtimes, taken out.
fn normalise(out: &str) -> Vec<(String, String)> {
    sections(out)
        .into_iter()
        .map(|(name, body)| {
            let body = match name.as_str() {
                // runc adds /dev/core -> /proc/kcore (a compatibility link
                // from Docker's early days); the runtime spec's list of
                // default devices and links does not have it, and crun
                // does not make it.
                "dev" => body
                    .lines()
                    .filter(|l| *l != "core")
                    .map(|l| format!("{l}\n"))
                    .collect(),
                _ => body,
            };
            (name, body)
        })
        .collect()
}

#[test]
fn runc_crun_and_step10_agree_on_one_bundle() {
    let mut missing = Vec::new();
    for tool in ["runc", "crun"] {
        if testkit::rootless::on_path(tool).is_none() {
            missing.push(tool);
        }
    }
    assert!(
        missing.is_empty(),
        "{} not on PATH: this test compares step10 with runc and crun; \
         install them with: apt-get install -y runc crun",
        missing.join(" and ")
    );
    let ctr = Ctr::new("three", &["sh", "/probe.sh"], &|c| {
        c["hostname"] = "three-runtimes".into();
    });
    std::fs::write(ctr.rootfs().join("probe.sh"), PROBE).unwrap();
    let other = |program: &str, flags: Vec<&'static str>| Other {
        program: testkit::rootless::on_path(program).unwrap(),
        root: ctr.dir.path().join(format!("{program}-root")),
        id: unique(program),
        dir: ctr.dir.path().to_path_buf(),
        flags,
    };
    let runc = other("runc", vec![]);
    let crun = other("crun", vec!["--cgroup-manager=cgroupfs"]);

    let runc_out = runc.run(&ctr.bundle);
    let crun_out = crun.run(&ctr.bundle);
    let mut args: Vec<&str> = vec!["--root", ctr.root.to_str().unwrap()];
    args.extend(["run", "--bundle", ctr.bundle.to_str().unwrap(), &ctr.id]);
    let step10_out = in_private_cgroup_view(ctr.dir.path(), common::STEP10, &args);

    for (name, out) in [
        ("runc", &runc_out),
        ("crun", &crun_out),
        ("step10", &step10_out),
    ] {
        assert_eq!(out.code, 0, "{name} failed: {out:?}");
        assert!(out.stderr.is_empty(), "{name} printed on stderr: {out:?}");
        assert!(
            out.stdout.contains("== net"),
            "{name}'s container did not run the whole probe: {out:?}"
        );
    }
    let runc_n = normalise(&runc_out.stdout);
    let crun_n = normalise(&crun_out.stdout);
    let step10_n = normalise(&step10_out.stdout);
    // runc and crun agreeing is what makes their answer the reference.
    let differences = |a: &[(String, String)], b: &[(String, String)]| -> Vec<String> {
        a.iter()
            .zip(b)
            .filter(|(x, y)| x != y)
            .map(|((name, x), (_, y))| format!("== {name}\n{x}-- vs --\n{y}"))
            .collect()
    };
    let runc_crun = differences(&runc_n, &crun_n);
    assert!(
        runc_crun.is_empty() && runc_n.len() == crun_n.len(),
        "runc and crun disagree (the normalisation misses something):\n{}",
        runc_crun.join("\n")
    );
    let runc_step10 = differences(&runc_n, &step10_n);
    assert!(
        runc_step10.is_empty() && runc_n.len() == step10_n.len(),
        "step10 differs from runc (and crun):\n{}\n\nrunc's whole output:\n{}\nstep10's:\n{}",
        runc_step10.join("\n"),
        runc_out.stdout,
        step10_out.stdout
    );
    // The answers are the ones a default config asks for.
    let find = |name: &str| {
        step10_n
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    };
    assert_eq!(find("hostname"), "three-runtimes\n");
    assert_eq!(find("pid"), "1\n");
    assert!(
        find("status").contains("NoNewPrivs:\t1"),
        "{}",
        find("status")
    );
    ctr.assert_nothing_left();
}
