//! Two runtime commands on one container ID at the same time run one
//! after the other (step10 takes a lock on the container's directory):
//! they cannot both create it, and a `delete --force` racing a `start`
//! leaves nothing behind, whichever wins.

mod common;

use std::time::Duration;

use common::{Ctr, LIMIT, RUNTIME_FAILED, cgroups_named, eventually};

#[test]
fn two_creates_of_one_id_one_wins() {
    // A few rounds: a race that is lost only sometimes must show.
    for round in 0..5 {
        let ctr = Ctr::new("race-create", &["sleep", "60"], &|_| {});
        let bundle = ctr.bundle.to_str().unwrap().to_owned();
        let args = ["create", "--bundle", &bundle, &ctr.id];
        let (a, b) = (ctr.spawn(&args), ctr.spawn(&args));
        let (a, b) = (a.wait(LIMIT), b.wait(LIMIT));
        let mut codes = [a.code, b.code];
        codes.sort();
        assert_eq!(
            codes,
            [0, RUNTIME_FAILED],
            "round {round}: not exactly one create succeeded: {a:?} {b:?}"
        );
        let loser = if a.code == 0 { &b } else { &a };
        loser.failed_with("exists");
        let state = ctr.state();
        assert_eq!(state["status"], "created", "round {round}: {state}");
        let pid = state["pid"].as_u64().unwrap() as u32;
        ctr.remember(pid);
        assert!(testkit::host::alive(pid));
        // One container's processes: init alone, in one cgroup per hierarchy.
        let procs = common::processes_of(&ctr.id, &ctr.rootfs());
        assert_eq!(
            procs,
            vec![pid],
            "round {round}: processes of the container"
        );
        for dir in cgroups_named(&ctr.id) {
            let listed = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
            assert_eq!(
                listed.trim(),
                pid.to_string(),
                "round {round}: {}",
                dir.display()
            );
        }
        // And the winner's container works.
        ctr.step10(&["start", &ctr.id]).ok();
        assert_eq!(ctr.status(), "running");
    }
}

#[test]
fn delete_force_racing_start_leaves_nothing() {
    let mounts_before = testkit::host::mounts();
    for round in 0..5 {
        let ctr = Ctr::new(
            "race-delete",
            &["sh", "-c", "echo ran > /ran; sleep 60"],
            &|_| {},
        );
        let pid = ctr.create();
        let start = ctr.spawn(&["start", &ctr.id]);
        let delete = ctr.spawn(&["delete", "--force", &ctr.id]);
        let (start, delete) = (start.wait(LIMIT), delete.wait(LIMIT));
        delete.ok();
        match start.code {
            // start came first: the command ran, then delete killed it.
            0 => {}
            // delete came first: start found no container.
            RUNTIME_FAILED => {
                start.failed_with("does not exist");
                assert!(
                    !ctr.marker("ran").exists(),
                    "round {round}: start failed but the command ran"
                );
            }
            other => panic!("round {round}: start exited {other}: {start:?}"),
        }
        assert!(
            eventually(Duration::from_secs(5), || !testkit::host::alive(pid)),
            "round {round}: init {pid} outlived delete --force"
        );
        ctr.assert_nothing_left();
        ctr.step10(&["state", &ctr.id])
            .failed_with("does not exist");
    }
    common::assert_mounts_unchanged(&mounts_before);
}

#[test]
fn state_waits_for_a_create_in_progress() {
    // While one command holds the ID, `state` of it either sees no
    // container yet or a whole one: never a half-written record.
    let ctr = Ctr::new("race-state", &["sleep", "60"], &|_| {});
    let bundle = ctr.bundle.to_str().unwrap().to_owned();
    let create = ctr.spawn(&["create", "--bundle", &bundle, &ctr.id]);
    let mut seen = Vec::new();
    while create.child.id() > 0 && seen.len() < 200 {
        let out = ctr.step10(&["state", &ctr.id]);
        if out.code == 0 {
            let state: serde_json::Value = serde_json::from_str(&out.stdout)
                .unwrap_or_else(|e| panic!("state printed half a record ({e}): {out:?}"));
            assert_eq!(state["status"], "created", "{state}");
            seen.push(true);
            break;
        }
        out.failed_with("does not exist");
        seen.push(false);
    }
    create.wait(LIMIT).ok();
    ctr.remember(ctr.pid());
    assert_eq!(ctr.status(), "created");
}
