//! What `create` leaves for the commands after it, under
//! `/run/contain-rs-workshop/ID/`:
//!
//! - `state.json`: the container's [`Record`];
//! - `config.json`: the bundle's config as `create` read it (for `exec`,
//!   `delete`'s poststop hooks, and `state`'s annotations);
//! - `exec.fifo`: the FIFO the container's init blocks on until `start`
//!   (present: the container is `created`).
//!
//! Every command takes an exclusive `flock(2)` on the directory first, so
//! two commands on one ID run one after the other: two `create`s of one ID,
//! or a `delete` racing a `start`, cannot interleave.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::fcntl::{Flock, FlockArg};
use oci_spec::runtime::{ContainerState, Spec};
use serde::{Deserialize, Serialize};

/// Where containers' state lives unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/contain-rs-workshop";

/// The name of the FIFO `start` opens.
pub const EXEC_FIFO: &str = "exec.fifo";

/// What `state` reports and the other commands need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// The container's init, as the host sees it.
    pub pid: i32,
    /// Its start time (field 22 of /proc/PID/stat): a PID can be reused
    /// once the container has ended; the start time tells them apart.
    pub start_time: u64,
    pub bundle: PathBuf,
    /// The container's cgroup directories.
    pub cgroups: Vec<PathBuf>,
    /// RFC 3339, when `create` finished.
    pub created: String,
}

// ANCHOR: lock
/// The container's directory, locked.
#[derive(Debug)]
pub struct Container {
    pub dir: PathBuf,
    _lock: Flock<File>,
}

/// Checks a container ID: it becomes a directory name.
pub fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c));
    if !ok {
        bail!("container ID {id:?} is not valid: use letters, digits and - _ . + (as runc does)");
    }
    Ok(())
}

fn lock(dir: &Path) -> anyhow::Result<Flock<File>> {
    let file = File::open(dir).with_context(|| format!("open {}", dir.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("flock {}: {e}", dir.display()))
}

impl Container {
    /// Makes the directory of a new container. `mkdir` is the atomic test:
    /// of two `create`s of one ID, one fails here.
    pub fn create(root: &Path, id: &str) -> anyhow::Result<Container> {
        check_id(id)?;
        std::fs::create_dir_all(root).with_context(|| format!("mkdir {}", root.display()))?;
        let dir = root.join(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                "container {id:?} already exists: pick another ID, or remove it with: step10 delete --force {id}"
            ),
            Err(e) => return Err(e).with_context(|| format!("mkdir {}", dir.display())),
        }
        let lock = lock(&dir)?;
        Ok(Container { dir, _lock: lock })
    }

    /// Opens and locks an existing container: waits while another command
    /// holds it.
    pub fn open(root: &Path, id: &str) -> anyhow::Result<Container> {
        check_id(id)?;
        let dir = root.join(id);
        let missing =
            || anyhow::anyhow!("container {id:?} does not exist (step10 list shows those that do)");
        let lock = lock(&dir).map_err(|_| missing())?;
        // A `delete` that held the lock before us removed it.
        if !dir.join("state.json").exists() {
            bail!(missing());
        }
        Ok(Container { dir, _lock: lock })
    }
    // ANCHOR_END: lock

    pub fn record(&self) -> anyhow::Result<Record> {
        let file = self.dir.join("state.json");
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", file.display()))
    }

    /// Writes `state.json` through a temporary file and a rename: a
    /// reader sees the old record or the new one, never half of one.
    pub fn save(&self, record: &Record) -> anyhow::Result<()> {
        write_atomic(
            &self.dir.join("state.json"),
            &serde_json::to_vec_pretty(record)?,
        )
    }

    pub fn save_config(&self, spec: &Spec) -> anyhow::Result<()> {
        write_atomic(&self.dir.join("config.json"), &serde_json::to_vec(spec)?)
    }

    pub fn config(&self) -> anyhow::Result<Spec> {
        let file = self.dir.join("config.json");
        Spec::load(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
    }

    /// The lock's descriptor, for a forked child to close.
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self._lock.as_raw_fd()
    }

    pub fn fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    /// The container's status now, from its record and the process table.
    pub fn status(&self, record: &Record) -> ContainerState {
        crate::lifecycle::status(record, self.fifo().exists())
    }

    /// Removes the directory (the lock goes with the last descriptor).
    pub fn remove(self) -> anyhow::Result<()> {
        std::fs::remove_dir_all(&self.dir).with_context(|| format!("rm -r {}", self.dir.display()))
    }
}

/// Field 22 of /proc/PID/stat, `None` if there is no such process or it is
/// a zombie (it has ended; only its parent's wait is missing).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// The start time from a /proc/PID/stat line, `None` for a zombie. The
/// command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself: the fields after it are counted from the last `)`.
pub fn parse_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); field 22 is index 19.
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The state the runtime spec defines, for `state` and for hooks' stdin.
pub fn oci_state(
    id: &str,
    status: ContainerState,
    pid: Option<i32>,
    bundle: &Path,
    spec: &Spec,
) -> serde_json::Value {
    let mut state = serde_json::json!({
        "ociVersion": spec.version(),
        "id": id,
        "status": status.to_string(),
        "bundle": bundle,
    });
    if let (Some(pid), true) = (pid, status != ContainerState::Stopped) {
        state["pid"] = pid.into();
    }
    if let Some(annotations) = spec.annotations() {
        state["annotations"] = serde_json::to_value(annotations).unwrap_or_default();
    }
    state
}

/// `path` written whole or not at all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
    file.write_all(bytes)?;
    nix::unistd::fsync(file.as_fd()).ok();
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))
}

/// Every container under `root`, for `list`.
pub fn ids(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("state.json").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids
}

/// Now, as RFC 3339 in UTC (no date crate needed for one format).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_start_time_counts_from_the_last_parenthesis() {
        let line = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_stat(line), Some(123_456));
    }

    #[test]
    fn a_zombie_has_no_start_time() {
        let line = "42 (sh) Z 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 0 0";
        assert_eq!(parse_stat(line), None);
    }

    #[test]
    fn ids_are_directory_names_and_nothing_more() {
        assert!(check_id("web-1_a.b+c").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "../x"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_has_the_shape() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }
}
