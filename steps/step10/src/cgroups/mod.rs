//! The container's cgroup: `linux.cgroupsPath` and `linux.resources`.

use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

/// The container's cgroup: one directory on cgroup v2, one per hierarchy on v1.
#[derive(Debug, Clone)]
pub struct Cgroups {
    paths: Vec<PathBuf>,
}

impl Cgroups {
    /// Creates the cgroup `cgroups_path` names (`None`: the runtime's default
    /// place for container `id`) and writes `resources` into it.
    pub fn create(
        cgroups_path: Option<&Path>,
        id: &str,
        resources: Option<&LinuxResources>,
    ) -> anyhow::Result<Cgroups> {
        let _ = (cgroups_path, id, resources);
        Ok(Cgroups { paths: Vec::new() })
    }

    /// Moves `pid` into the cgroup (every hierarchy's directory on v1).
    pub fn add(&self, pid: Pid) -> anyhow::Result<()> {
        let _ = pid;
        Ok(())
    }

    /// The directories, to keep in the container's state.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The cgroup of a container `create` made earlier.
    pub fn from_paths(paths: Vec<PathBuf>) -> Cgroups {
        Cgroups { paths }
    }

    /// Removes the directories (the container's processes are gone).
    pub fn remove(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
