//! The behaviour every implementation of a chapter must show, checked from
//! inside the container (what the command prints) and from outside (the
//! host's mounts, links, cgroups and processes).
//!
//! Each check is a plain function `fn(&Target) -> Result<(), String>`; the
//! error is one sentence a learner can act on ("hostname inside the container
//! was 'vm', expected 'box-1'"). The steps' tests, the exercises' tests and
//! the grader all run these same functions:
//!
//! - `testkit::step_tests!(env!("CARGO_BIN_EXE_step03"), 3);` in a test file
//!   makes one `#[test]` per check of chapters 1 to 3;
//! - [`for_step`] lists them for the grader.

use crate::run::{Output, Target};

pub mod caps;
pub mod cgroup;
pub mod defaults;
pub mod images;
pub mod mount;
pub mod net;
pub mod oci;
pub mod pid;
pub mod seccomp;
pub mod userns;
pub mod uts;

/// Chapter 8's overlay checks live beside the image checks.
pub use self::images as overlay;

/// One behaviour, named, with the chapter that introduces it.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// `group::name`, as the test is called.
    pub name: &'static str,
    /// The chapter from which on an implementation must show it.
    pub since: u8,
    /// The check itself.
    pub run: fn(&Target) -> Result<(), String>,
}

/// Every check, in chapter order.
pub fn all() -> Vec<Check> {
    [
        uts::CHECKS,
        pid::CHECKS,
        mount::CHECKS,
        net::CHECKS,
        cgroup::CHECKS,
        caps::CHECKS,
        defaults::CHECKS,
        seccomp::CHECKS,
        images::CHECKS,
        userns::CHECKS,
        oci::CHECKS,
    ]
    .concat()
}

/// The chapter from which on the runtime is an OCI runtime: a bundle and
/// the lifecycle commands (`create`, `start`, ...), not `stepNN [flags]
/// COMMAND`.
pub const OCI_FROM: u8 = 10;

/// The checks an implementation of chapter `step` must pass: those of
/// chapters 1 to `step`, each of the same command line. Chapters 1 to 9
/// drive `stepNN [flags] COMMAND`, which an OCI runtime (chapter
/// [`OCI_FROM`] on) does not take; it is held to chapter 10's checks.
pub fn for_step(step: u8) -> Vec<Check> {
    let first = if step >= OCI_FROM { OCI_FROM } else { 1 };
    all()
        .into_iter()
        .filter(|c| (first..=step).contains(&c.since))
        .collect()
}

/// Runs one check for a `#[test]`: root required, a failing check panics
/// with its sentence.
pub fn pass(bin: &str, step: u8, check: fn(&Target) -> Result<(), String>) {
    if let Err(why) = crate::run::require_root() {
        panic!("{why}");
    }
    let target = match Target::new(bin, step) {
        Ok(t) => t,
        Err(e) => panic!("cannot prepare the test rootfs: {e:#}"),
    };
    if let Err(why) = check(&target) {
        panic!("{why}");
    }
}

/// Fails unless the run exited with `want`; the message shows what it printed.
pub fn expect_code(out: &Output, want: i32, what: &str) -> Result<(), String> {
    if out.code == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: exit status was {}, expected {want} (stdout: {:?}, stderr: {:?})",
            out.code,
            out.stdout.trim_end(),
            out.stderr.trim_end()
        ))
    }
}

/// Fails unless a runtime error is exactly one line that mentions all of `words`.
pub fn expect_one_line(out: &Output, words: &[&str], what: &str) -> Result<(), String> {
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    if lines.len() != 1 {
        return Err(format!(
            "{what}: expected one line on stderr naming the cause, got {}: {:?}",
            lines.len(),
            out.stderr
        ));
    }
    for word in words {
        if !lines[0].contains(word) {
            return Err(format!(
                "{what}: the error line {:?} does not mention {word:?}",
                lines[0]
            ));
        }
    }
    Ok(())
}

/// Generates one `#[test]` per check of chapters 1 to `step` for a binary:
/// `testkit::step_tests!(env!("CARGO_BIN_EXE_step03"), 3);`
/// Every check runs against the binary as an implementation of chapter
/// `step` (so from chapter 3 on, with `--rootfs`).
#[macro_export]
macro_rules! step_tests {
    ($bin:expr, $step:tt) => {
        $crate::chapter_groups!($bin, $step, $step);
    };
}

/// The groups of checks of chapters 1 to `$upto`, for an implementation of `$step`.
#[doc(hidden)]
#[macro_export]
macro_rules! chapter_groups {
    ($bin:expr, $step:tt, 1) => {
        $crate::check_group!($bin, $step, uts: hostname_inside, host_hostname_unchanged, uts_namespace_differs,
            exit_status_passes_through, signal_death_is_128_plus_n, missing_command_is_127,
            long_hostname_is_125, not_root_is_125, only_std_fds);
    };
    ($bin:expr, $step:tt, 2) => {
        $crate::chapter_groups!($bin, $step, 1);
        $crate::check_group!($bin, $step, pid: command_is_pid_2_under_init, ps_shows_only_the_container,
            pid_namespace_differs, orphans_are_reaped, sigterm_reaches_the_command, sigint_reaches_the_command,
            sigint_works_when_caller_ignores_it,
            kill_9_of_runtime_kills_container, host_proc_untouched);
    };
    ($bin:expr, $step:tt, 3) => {
        $crate::chapter_groups!($bin, $step, 2);
        $crate::check_group!($bin, $step, mount: rootfs_is_root, host_files_unreachable,
            container_mounts_only, host_mounts_unchanged, host_mounts_unchanged_after_failure,
            minimal_dev, sys_is_read_only, ipc_namespace_differs, cwd_is_root,
            missing_rootfs_is_125, rootfs_file_is_125, empty_rootfs_is_125, bare_rootfs_runs,
            mount_point_symlinks_stay_inside);
    };
    ($bin:expr, $step:tt, 4) => {
        $crate::chapter_groups!($bin, $step, 3);
        $crate::check_group!($bin, $step, net: lo_and_eth0_are_up, container_reaches_host,
            host_reaches_container, network_none_has_only_lo, net_namespace_differs,
            concurrent_containers_get_own_subnets, host_end_gone_after_run, no_link_left_after_failure,
            host_end_refuses_redirects);
    };
    ($bin:expr, $step:tt, 5) => {
        $crate::chapter_groups!($bin, $step, 4);
        $crate::check_group!($bin, $step, cgroup: command_is_in_its_cgroup, oom_kill_is_137_with_message,
            oom_of_another_process_keeps_the_status,
            pids_limit_stops_fork_loop, cpu_limit_holds_busy_loop, cgroup_removed_after_run,
            cgroup_removed_after_failure, bad_limits_are_125);
    };
    ($bin:expr, $step:tt, 6) => {
        $crate::chapter_groups!($bin, $step, 5);
        $crate::check_group!($bin, $step, caps: docker_default_set, mount_and_hostname_are_refused,
            cap_add_sys_admin_allows_mount, cap_drop_net_raw_breaks_ping, unknown_capability_is_125,
            proc_sys_is_read_only, made_devices_cannot_be_opened);
        $crate::check_group!($bin, $step, defaults: own_session, host_terminal_never_enters,
            terminal_mode_restored, window_size_follows, pipes_pass_as_they_are, pid1_keeps_least_privilege,
            masked_paths_read_empty, clean_environment, env_flags, device_cgroup_refuses_kmsg);
    };
    ($bin:expr, $step:tt, 7) => {
        $crate::chapter_groups!($bin, $step, 6);
        $crate::check_group!($bin, $step, seccomp: filter_is_on, user_namespace_refused,
            cap_add_widens_the_filter, ordinary_programs_run, job_control_works,
            wget_reaches_the_host, profile_file_is_loaded, bad_profile_is_125);
    };
    ($bin:expr, $step:tt, 8) => {
        $crate::chapter_groups!($bin, $step, 7);
        $crate::check_group!($bin, $step, overlay: root_is_an_overlay, writes_end_with_the_run,
            base_rootfs_unchanged, concurrent_runs_see_own_writes, container_dir_used_then_emptied,
            container_dir_emptied_after_failure, container_dir_emptied_after_sigterm,
            container_dir_swept_after_sigkill);
        $crate::check_group!($bin, $step, images: config_is_honoured, user_name_from_image_passwd,
            unknown_user_is_125,
            command_replaces_cmd_keeps_entrypoint, layers_whiteouts_and_links,
            shared_layer_stored_once, concurrent_containers_on_one_image, token_auth_flow,
            concurrent_pulls_into_empty_store, pull_policies, unknown_tag_is_125,
            unknown_repository_is_125, registry_down_is_125, blob_digest_mismatch_is_125,
            truncated_blob_is_125, no_platform_entry_is_125, dotdot_layer_is_125,
            pull_never_with_empty_store_is_125);
    };
    ($bin:expr, $step:tt, 9) => {
        $crate::chapter_groups!($bin, $step, 8);
        $crate::check_group!($bin, $step, userns: root_inside_the_users_ids_outside,
            single_map_without_subordinate_ids, explain_narrates_the_maps,
            defaults_are_the_users_own_dirs, files_land_with_mapped_owners, chown_needs_the_full_map,
            capabilities_stop_at_the_namespace, hostname_is_the_containers,
            network_none_has_only_lo, user_mode_network_has_a_default_route,
            network_falls_back_from_pasta_to_none, veth_needs_root,
            limits_need_a_delegated_cgroup, remap_gives_root_the_subordinate_range,
            remap_without_a_range_is_125, userns_host_is_refused_for_users,
            root_owned_rootfs_is_refused, run_dirs_removed_after_run_and_sigkill);
    };
    // An OCI runtime: chapter 10's checks alone (see `for_step`).
    ($bin:expr, $step:tt, 10) => {
        $crate::check_group!($bin, $step, oci: create_start_kill_delete,
            resources_reach_the_cgroup, absolute_cgroups_path,
            deny_all_devices_keeps_the_defaults, exec_joins_the_cgroup);
    };
}

/// One module of `#[test]`s, each running `checks::<group>::<name>`.
#[doc(hidden)]
#[macro_export]
macro_rules! check_group {
    ($bin:expr, $step:tt, $group:ident : $($check:ident),+ $(,)?) => {
        mod $group {
            $(
                #[test]
                fn $check() {
                    $crate::checks::pass($bin, $step, $crate::checks::$group::$check);
                }
            )+
        }
    };
}
