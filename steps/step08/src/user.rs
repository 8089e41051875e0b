//! What an image's config asks of the command: its command line
//! (`Entrypoint` and `Cmd`), environment (`Env`), user (`User`) and
//! working directory (`WorkingDir`), with docker's rules.

use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, chdir, setgid, setgroups, setuid};
use workshop::{SyscallError, call};

/// Docker's rule: the Entrypoint, then the command given after the flags,
/// or the image's Cmd when none was given. `None` when that is empty.
pub fn command(entrypoint: &[String], cmd: &[String], given: &[String]) -> Option<Vec<String>> {
    let tail = if given.is_empty() { cmd } else { given };
    let argv: Vec<String> = entrypoint.iter().chain(tail).cloned().collect();
    (!argv.is_empty()).then_some(argv)
}

/// The image's `Env` (`KEY=value` entries) over the runtime's defaults;
/// what `-e` or `--env-file` set (anything in `env` that differs from
/// `defaults`) stays as the user gave it.
pub fn merge_env(env: &mut Vec<(String, String)>, defaults: &[(String, String)], image: &[String]) {
    for entry in image {
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        if key.is_empty() {
            continue;
        }
        let given = |k: &str, v: &str| !defaults.iter().any(|(dk, dv)| dk == k && dv == v);
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) if given(&slot.0, &slot.1) => {}
            Some(slot) => slot.1 = value.to_owned(),
            None => env.push((key.to_owned(), value.to_owned())),
        }
    }
}

/// `HOME` from the image's /etc/passwd, unless the user set it.
pub fn set_home(env: &mut [(String, String)], defaults: &[(String, String)], home: &str) {
    if let Some(slot) = env.iter_mut().find(|(k, _)| k == "HOME")
        && defaults.iter().any(|(k, v)| *k == slot.0 && *v == slot.1)
    {
        slot.1 = home.to_owned();
    }
}

/// A user to run the command as, resolved in the parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups: the groups of /etc/group that list the user.
    pub groups: Vec<u32>,
    /// From /etc/passwd, when the user is in it.
    pub home: Option<String>,
}

/// `User` as docker reads it: `name`, `uid`, `name:group`, `uid:gid`
/// (either side a name or a number). Names are looked up in the image's
/// `/etc/passwd` and `/etc/group`; a number needs no entry (its group is
/// then 0, or the one /etc/passwd gives it).
pub fn resolve(spec: &str, layers: &[PathBuf]) -> Result<User, String> {
    let (who, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read_in_layers(layers, "etc/passwd").unwrap_or_default();
    let groups = read_in_layers(layers, "etc/group").unwrap_or_default();
    // name:password:uid:gid:gecos:home:shell
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && (f[0] == who || (who.parse::<u32>().is_ok() && f[2] == who)));
    let uid = match (who.parse::<u32>(), &entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some(f)) => f[2]
            .parse()
            .map_err(|_| format!("bad uid in /etc/passwd: {f:?}"))?,
        (Err(_), None) => {
            return Err(format!(
                "no user {who:?} in the image's /etc/passwd; use a numeric uid"
            ));
        }
    };
    // name:password:gid:member,member
    let group_entries: Vec<Vec<&str>> = groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let gid = match group {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries
                .iter()
                .find(|f| f[0] == g)
                .and_then(|f| f[2].parse().ok())
                .ok_or_else(|| format!("no group {g:?} in the image's /etc/group"))?,
        },
        None => entry.as_ref().and_then(|f| f[3].parse().ok()).unwrap_or(0),
    };
    let name = entry.as_ref().map(|f| f[0]);
    let mut supplementary: Vec<u32> = match name {
        Some(name) => group_entries
            .iter()
            .filter(|f| f[3].split(',').any(|m| m == name))
            .filter_map(|f| f[2].parse().ok())
            .collect(),
        None => Vec::new(),
    };
    supplementary.retain(|&g| g != gid);
    Ok(User {
        uid,
        gid,
        groups: supplementary,
        home: entry.as_ref().map(|f| f[5].to_owned()),
    })
}

/// A file as the merged root will show it, read from the layers top down:
/// the first layer that has the path decides; a whiteout there (a device
/// node 0:0) means the file was deleted. (Opaque directories are not
/// consulted: /etc is never made opaque by the images we know.)
fn read_in_layers(layers: &[PathBuf], rel: &str) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    for layer in layers.iter().rev() {
        let path = layer.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_char_device() => return None,
            Ok(meta) if meta.is_file() => return std::fs::read_to_string(&path).ok(),
            Ok(_) => return None,
            Err(_) => continue,
        }
    }
    None
}

// ANCHOR: switch
/// Becomes `user`: supplementary groups, group, then user, in that order
/// (once the uid is not 0, the right to change groups is gone).
pub fn switch(user: &User) -> Result<(), SyscallError> {
    let groups: Vec<Gid> = user.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    call("setgroups", format!("{:?}", user.groups), || {
        setgroups(&groups)
    })?;
    call("setgid", user.gid.to_string(), || {
        setgid(Gid::from_raw(user.gid))
    })?;
    call("setuid", user.uid.to_string(), || {
        setuid(Uid::from_raw(user.uid))
    })
    .map_err(|e| e.with_hint("setuid needs CAP_SETUID in the effective set: do not --cap-drop it"))
}
// ANCHOR_END: switch

/// In PID 1, after pivot_root: the working directory exists (docker and
/// runc create a missing one, owned by root).
pub fn make_working_dir(cwd: &str) -> anyhow::Result<()> {
    let path = Path::new("/").join(cwd.trim_start_matches('/'));
    std::fs::create_dir_all(&path)
        .map_err(|e| anyhow::anyhow!("cannot create the image's WorkingDir {cwd:?}: {e}"))
}

/// In the command's process, as its user.
pub fn enter_working_dir(cwd: &str) -> Result<(), SyscallError> {
    let path = Path::new("/").join(cwd.trim_start_matches('/'));
    call("chdir", format!("{path:?}"), || chdir(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn command_follows_docker() {
        let ep = v(&["/entry"]);
        assert_eq!(command(&ep, &v(&["a"]), &[]), Some(v(&["/entry", "a"])));
        assert_eq!(
            command(&ep, &v(&["a"]), &v(&["b"])),
            Some(v(&["/entry", "b"]))
        );
        assert_eq!(command(&[], &v(&["sh"]), &[]), Some(v(&["sh"])));
        assert_eq!(command(&[], &[], &[]), None);
    }

    #[test]
    fn image_env_over_defaults_under_flags() {
        let defaults = vec![
            ("PATH".to_string(), "/bin".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let mut env = defaults.clone();
        env.push(("GIVEN".into(), "flag".into()));
        merge_env(
            &mut env,
            &defaults,
            &v(&["PATH=/img", "GIVEN=image", "NEW=1"]),
        );
        assert_eq!(
            env,
            vec![
                ("PATH".to_string(), "/img".to_string()),
                ("HOME".to_string(), "/root".to_string()),
                ("GIVEN".to_string(), "flag".to_string()),
                ("NEW".to_string(), "1".to_string()),
            ]
        );
    }

    #[test]
    fn users_resolve_in_the_top_layer() {
        let base = tempfile::tempdir().unwrap();
        let top = tempfile::tempdir().unwrap();
        std::fs::create_dir(base.path().join("etc")).unwrap();
        std::fs::create_dir(top.path().join("etc")).unwrap();
        std::fs::write(base.path().join("etc/passwd"), "old:x:5:5::/old:/bin/sh\n").unwrap();
        std::fs::write(
            top.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            top.path().join("etc/group"),
            "app:x:1000:\nwheel:x:10:root,app\nstaff:x:50:\n",
        )
        .unwrap();
        let layers = [base.path().to_path_buf(), top.path().to_path_buf()];
        let app = resolve("app", &layers).unwrap();
        assert_eq!(
            (app.uid, app.gid, app.groups.clone()),
            (1000, 1000, vec![10])
        );
        assert_eq!(app.home.as_deref(), Some("/home/app"));
        assert_eq!(resolve("app:staff", &layers).unwrap().gid, 50);
        let n = resolve("4242:7", &layers).unwrap();
        assert_eq!((n.uid, n.gid, n.home), (4242, 7, None));
        assert_eq!(resolve("1000", &layers).unwrap().gid, 1000);
        assert!(resolve("old", &layers).unwrap_err().contains("no user"));
        assert!(
            resolve("app:nogroup", &layers)
                .unwrap_err()
                .contains("no group")
        );
    }
}
