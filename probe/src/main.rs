//! `probe`: runs inside a container and says what it sees there, so that
//! tests and graders can check a runtime from the inside as well as from the
//! host. It is linked statically (the test rootfs has busybox and nothing
//! else) and depends on libc and serde_json only.
//!
//! ```text
//! probe                      one JSON object on stdout (see `report`)
//! probe try-mount [DIR]      mount a tmpfs (on DIR, or a fresh temp dir), unmount it
//! probe try-sethostname NAME sethostname(NAME): changes the hostname of the
//!                            UTS namespace it runs in; never run it on a host
//! probe raw-socket           socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
//! probe attack NAME MARKER [KEY=VALUE...]
//!                            one of the escape lab's attacks (see attack.rs);
//!                            prints one line, `ESCAPED ...` or `BLOCKED ...`
//! probe attack list          the attacks' names, one a line
//! probe euid                 the effective uid (run by the setuid attack)
//! ```
//!
//! The `try-*` commands print `ok` (exit 0) or the errno's name, such as
//! `EPERM` (exit 1); a usage or set-up problem exits 2.

use std::ffi::{CStr, CString};
use std::path::Path;

use serde_json::{Map, Value, json};

mod attack;

const USAGE: &str = "usage: probe [report | try-mount [DIR] | try-sethostname NAME | raw-socket | attack NAME MARKER [KEY=VALUE...] | attack list | euid | syscall-cost N]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let code = match args.as_slice() {
        [] | ["report"] => {
            println!("{}", report());
            0
        }
        ["try-mount"] => try_mount(None),
        ["try-mount", dir] => try_mount(Some(dir)),
        ["try-sethostname", name] => outcome(sethostname(name)),
        ["raw-socket"] => outcome(raw_socket()),
        ["attack", "list"] => {
            for (name, what) in attack::ATTACKS {
                println!("{name}\t{what}");
            }
            0
        }
        ["attack", name, marker, extra @ ..] => match attack::run(name, Path::new(marker), extra) {
            Some(Ok(attack::Outcome::Escaped(detail))) => {
                println!("ESCAPED {detail}");
                0
            }
            Some(Ok(attack::Outcome::Blocked(detail))) => {
                println!("BLOCKED {detail}");
                0
            }
            Some(Err(setup)) => {
                println!("ERROR {setup}");
                2
            }
            None => {
                eprintln!("probe: unknown attack {name:?}; `probe attack list` names them");
                2
            }
        },
        ["syscall-cost", n] => match n.parse::<u32>() {
            Ok(n) if n > 0 => {
                syscall_cost(n);
                0
            }
            _ => {
                eprintln!("probe: syscall-cost takes a number of calls");
                2
            }
        },
        ["euid"] => {
            // SAFETY: geteuid cannot fail.
            println!("{}", unsafe { libc::geteuid() });
            0
        }
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

/// The time of one syscall, in nanoseconds, for the benchmark: `n` calls
/// of getppid (which a filter allows whatever its arguments, so since Linux
/// 5.11 the kernel's seccomp cache lets it skip the filter) and of
/// `personality(0xffffffff)` (a query; Docker's profile checks its argument,
/// so the filter runs on every call). The best of five rounds each.
fn syscall_cost(n: u32) {
    let time = |call: &dyn Fn()| -> f64 {
        (0..5)
            .map(|_| {
                let start = std::time::Instant::now();
                for _ in 0..n {
                    call();
                }
                start.elapsed().as_secs_f64() * 1e9 / f64::from(n)
            })
            .fold(f64::INFINITY, f64::min)
    };
    // SAFETY: getppid takes nothing and cannot fail.
    let getppid = time(&|| unsafe {
        libc::syscall(libc::SYS_getppid);
    });
    // SAFETY: personality(0xffffffff) only reads the current persona.
    let personality = time(&|| unsafe {
        libc::syscall(libc::SYS_personality, 0xffff_ffffu32 as libc::c_ulong);
    });
    println!("getppid {getppid:.1}");
    println!("personality {personality:.1}");
}

/// Everything the graders look at, as one JSON object. A field that cannot
/// be read (no /proc mounted, say) is `null`, and `errors` says why.
fn report() -> Value {
    let mut errors: Vec<String> = Vec::new();
    let mut note = |what: &str, e: std::io::Error| errors.push(format!("{what}: {e}"));

    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| note("/proc/self/status", e))
        .unwrap_or_default();
    let field = |key: &str| -> Value {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map_or(Value::Null, |v| Value::String(v.trim().to_owned()))
    };

    let cwd = match std::env::current_dir() {
        Ok(p) => json!(p.to_string_lossy()),
        Err(e) => {
            note("getcwd", e);
            Value::Null
        }
    };
    let mounts = match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(text) => json!(parse_mountinfo(&text)),
        Err(e) => {
            note("/proc/self/mountinfo", e);
            Value::Null
        }
    };
    let cgroup = match std::fs::read_to_string("/proc/self/cgroup") {
        Ok(text) => json!(text.lines().collect::<Vec<_>>()),
        Err(e) => {
            note("/proc/self/cgroup", e);
            Value::Null
        }
    };
    let interfaces = match std::fs::read_to_string("/proc/self/net/dev") {
        Ok(text) => json!(parse_net_dev(&text)),
        Err(e) => {
            note("/proc/self/net/dev", e);
            Value::Null
        }
    };
    let namespaces = match namespaces() {
        Ok(ns) => Value::Object(ns),
        Err(e) => {
            note("/proc/self/ns", e);
            Value::Null
        }
    };
    let (fds, fd_targets) = match open_fds() {
        Ok(fds) => {
            let targets: Map<String, Value> = fds
                .iter()
                .map(|fd| {
                    let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
                        .map_or(Value::Null, |t| json!(t.to_string_lossy()));
                    (fd.to_string(), target)
                })
                .collect();
            (json!(fds), Value::Object(targets))
        }
        Err(e) => {
            note("/proc/self/fd", e);
            (Value::Null, Value::Null)
        }
    };

    json!({
        "pid": std::process::id(),
        // SAFETY: getppid, getuid and getgid cannot fail and touch no memory.
        "ppid": unsafe { libc::getppid() },
        // SAFETY: as above.
        "uid": unsafe { libc::getuid() },
        // SAFETY: as above.
        "gid": unsafe { libc::getgid() },
        "hostname": hostname(),
        "cap_eff": field("CapEff"),
        "cap_prm": field("CapPrm"),
        "cap_bnd": field("CapBnd"),
        "cap_inh": field("CapInh"),
        "cap_amb": field("CapAmb"),
        "no_new_privs": prctl_get(libc::PR_GET_NO_NEW_PRIVS),
        "seccomp": prctl_get(libc::PR_GET_SECCOMP),
        "fds": fds,
        "fd_targets": fd_targets,
        "cwd": cwd,
        "mounts": mounts,
        "cgroup": cgroup,
        "net_interfaces": interfaces,
        "namespaces": namespaces,
        "errors": errors,
    })
}

/// The hostname of our UTS namespace (gethostname asks the kernel; no /proc needed).
fn hostname() -> Value {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, which we pass.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return Value::Null;
    }
    CStr::from_bytes_until_nul(&buf).map_or(Value::Null, |s| json!(s.to_string_lossy()))
}

/// A prctl `PR_GET_*` that returns its answer (0/1 for no_new_privs,
/// 0/1/2 for seccomp's mode); `null` if the kernel refuses.
fn prctl_get(option: libc::c_int) -> Value {
    // SAFETY: the PR_GET_* options used here only read our own state.
    let rc = unsafe { libc::prctl(option, 0 as libc::c_ulong, 0 as libc::c_ulong, 0, 0) };
    if rc < 0 { Value::Null } else { json!(rc) }
}

/// The descriptors open in this process, without the one used to list them.
fn open_fds() -> std::io::Result<Vec<i32>> {
    let path = c"/proc/self/fd";
    // SAFETY: path is a NUL-terminated string; the DIR is closed below.
    let dir = unsafe { libc::opendir(path.as_ptr()) };
    if dir.is_null() {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: dir is a valid, open DIR.
    let own = unsafe { libc::dirfd(dir) };
    let mut fds = Vec::new();
    loop {
        // SAFETY: dir is a valid, open DIR; the entry is read before the next call.
        let entry = unsafe { libc::readdir(dir) };
        if entry.is_null() {
            break;
        }
        // SAFETY: d_name of an entry readdir returned is a NUL-terminated string.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        match name.to_str().ok().and_then(|s| s.parse::<i32>().ok()) {
            Some(fd) if fd != own => fds.push(fd),
            _ => {}
        }
    }
    // SAFETY: dir is open and not used after this.
    unsafe { libc::closedir(dir) };
    fds.sort_unstable();
    Ok(fds)
}

/// `{"mnt": 4026531841, ...}`: the inode number in each `/proc/self/ns/*`
/// link (`mnt:[4026531841]`), which is what identifies a namespace.
fn namespaces() -> std::io::Result<Map<String, Value>> {
    let mut out = Map::new();
    for entry in std::fs::read_dir("/proc/self/ns")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let inode = std::fs::read_link(entry.path())
            .ok()
            .and_then(|t| parse_ns_link(&t.to_string_lossy()));
        out.insert(name, inode.map_or(Value::Null, |i| json!(i)));
    }
    Ok(out)
}

/// `mnt:[4026531841]` -> 4026531841.
fn parse_ns_link(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// Each line of `/proc/self/mountinfo` as `{target, fstype, source, root}`
/// (proc(5): fields 4 and 5 are root and mount point; fstype and source
/// follow the ` - ` separator).
fn parse_mountinfo(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            Some(json!({
                "target": unescape(left.get(4)?),
                "root": unescape(left.get(3)?),
                "fstype": right.next()?,
                "source": unescape(right.next()?),
            }))
        })
        .collect()
}

/// The kernel writes space, tab, newline and backslash in mount paths as
/// octal escapes (`\040`).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let n = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |n, b| n * 8 + u32::from(b - b'0'));
            out.push(n as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Interface names from `/proc/self/net/dev` (two header lines, then
/// `  name: counters...`): the links of our network namespace.
fn parse_net_dev(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|l| Some(l.split_once(':')?.0.trim().to_owned()))
        .collect()
}

/// Prints the outcome of a `try-*` command and gives its exit status.
fn outcome(result: Result<(), i32>) -> i32 {
    match result {
        Ok(()) => {
            println!("ok");
            0
        }
        Err(errno) => {
            println!("{}", errno_name(errno));
            1
        }
    }
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn sethostname(name: &str) -> Result<(), i32> {
    // SAFETY: the pointer and length describe name's bytes, which sethostname only reads.
    let rc = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    if rc == 0 { Ok(()) } else { Err(last_errno()) }
}

/// What `ping` needs: a raw ICMP socket (CAP_NET_RAW).
fn raw_socket() -> Result<(), i32> {
    // SAFETY: socket takes integers only; the descriptor is closed right away.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    if fd < 0 {
        return Err(last_errno());
    }
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
    Ok(())
}

/// Mounts a small tmpfs and unmounts it again (CAP_SYS_ADMIN). Without a
/// DIR it makes (and then removes) a directory of its own under /tmp, or
/// under / when there is no /tmp.
fn try_mount(dir: Option<&str>) -> i32 {
    let (target, made) = match dir {
        Some(d) => (d.to_owned(), false),
        None => {
            let base = if Path::new("/tmp").is_dir() {
                "/tmp"
            } else {
                ""
            };
            let d = format!("{base}/.probe-mount-{}", std::process::id());
            if let Err(e) = std::fs::create_dir(&d) {
                println!("setup failed: mkdir {d}: {e}");
                return 2;
            }
            (d, true)
        }
    };
    let Ok(c_target) = CString::new(target.as_bytes()) else {
        println!("setup failed: the directory contains a NUL byte");
        return 2;
    };
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            c"probe".as_ptr(),
            c_target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            c"size=64k".as_ptr().cast(),
        )
    };
    let result = if rc == 0 {
        // SAFETY: c_target is a NUL-terminated string.
        unsafe { libc::umount2(c_target.as_ptr(), libc::MNT_DETACH) };
        Ok(())
    } else {
        Err(last_errno())
    };
    if made {
        let _ = std::fs::remove_dir(&target);
    }
    outcome(result)
}

/// `EPERM` for 1, as errno(3) names them; `errno N` for the rest.
fn errno_name(errno: i32) -> String {
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ELOOP => "ELOOP",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::ETXTBSY => "ETXTBSY",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADMSG => "EBADMSG",
        libc::EKEYREJECTED => "EKEYREJECTED",
        libc::ENOKEY => "ENOKEY",
        libc::ENODATA => "ENODATA",
        libc::ENXIO => "ENXIO",
        _ => return format!("errno {errno}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_give_target_type_and_source() {
        let text = "22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw\n\
                    30 22 8:1 /a\\040b /mnt/my\\040disk rw - ext4 /dev/sda1 rw,relatime\n\
                    garbage\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            json!({"target": "/proc", "root": "/", "fstype": "proc", "source": "proc"})
        );
        assert_eq!(m[1]["target"], "/mnt/my disk");
        assert_eq!(m[1]["root"], "/a b");
        assert_eq!(m[1]["source"], "/dev/sda1");
    }

    #[test]
    fn escapes_only_decode_three_octal_digits() {
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("tab\\011"), "tab\t");
        assert_eq!(unescape("short\\04"), "short\\04");
        assert_eq!(unescape("not\\089"), "not\\089");
    }

    #[test]
    fn net_dev_lists_interface_names() {
        let text = "Inter-|   Receive\n face |bytes\n    lo: 0 0 0\n  eth0: 1 2 3\n";
        assert_eq!(parse_net_dev(text), ["lo", "eth0"]);
    }

    #[test]
    fn namespace_links_give_inode_numbers() {
        assert_eq!(parse_ns_link("mnt:[4026531841]"), Some(4026531841));
        assert_eq!(parse_ns_link("pid_for_children:[42]"), Some(42));
        assert_eq!(parse_ns_link("mnt"), None);
    }

    #[test]
    fn errnos_have_their_names() {
        assert_eq!(errno_name(libc::EPERM), "EPERM");
        assert_eq!(errno_name(libc::EACCES), "EACCES");
        assert_eq!(errno_name(4095), "errno 4095");
    }

    #[test]
    fn the_report_of_this_process_is_complete() {
        let r = report();
        assert_eq!(r["pid"], json!(std::process::id()));
        assert_eq!(r["errors"], json!([]), "{r}");
        let eff = r["cap_eff"].as_str().unwrap();
        assert_eq!(eff.len(), 16);
        assert!(u64::from_str_radix(eff, 16).is_ok());
        let fds = r["fds"].as_array().unwrap();
        assert!(fds.contains(&json!(0)) || fds.contains(&json!(1)), "{r}");
        assert!(r["namespaces"]["uts"].as_u64().unwrap() > 0);
        assert!(r["namespaces"]["mnt"].as_u64().unwrap() > 0);
        assert!(
            r["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["target"] == "/")
        );
        assert!(
            r["net_interfaces"]
                .as_array()
                .unwrap()
                .contains(&json!("lo"))
        );
        assert!(r["no_new_privs"].is_i64());
    }
}
