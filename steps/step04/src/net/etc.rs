//! The container's `/etc/hosts` and `/etc/resolv.conf`.
//!
//! A network namespace has no name service of its own: names are resolved
//! by the C library from files in the *mount* namespace. So the runtime
//! writes these two files and mounts them into the container
//! ([`bind_text`]), as Docker does. `host` names the host end of the veth pair,
//! so `ping host` or `wget http://host:8000/` work inside.

use std::net::IpAddr;

use nix::mount::{MsFlags, mount};
use workshop::{SyscallError, call, io_errno};

use super::Lease;

/// The name by which the container reaches the host end of its veth pair.
pub const HOST_NAME_IN_CONTAINER: &str = "host";

/// `/etc/hosts` for the container: localhost, the container's own name,
/// and, with a veth lease, `host`.
// ANCHOR: hosts_file
pub fn hosts_file(hostname: &str, lease: Option<&Lease>) -> String {
    let mut text = String::from(
        "# written by the workshop runtime for this container\n\
         127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    match lease {
        Some(lease) => {
            text += &format!("{}\t{hostname}\n", lease.container);
            text += &format!("{}\t{HOST_NAME_IN_CONTAINER}\n", lease.host);
        }
        // No eth0: the hostname lives on loopback, as Debian does for a
        // machine without a fixed address.
        None => text += &format!("127.0.1.1\t{hostname}\n"),
    }
    text
}
// ANCHOR_END: hosts_file

/// `/etc/resolv.conf` for the container, from the host's.
///
/// Nameservers on loopback (systemd-resolved's 127.0.0.53, a local dnsmasq
/// on 127.0.1.1, `::1`) would be the *container's* loopback inside, where
/// nothing listens, and IPv6 link-local ones name a host link: both are
/// dropped. `search`, `domain` and `options` lines are kept. With no
/// nameserver left, the file says why instead of pointing at nothing.
///
/// Note: the container reaches only the host end of its veth pair. A host
/// nameserver elsewhere answers only if the host forwards and masquerades
/// the container's traffic, which this step does not set up.
// ANCHOR: resolv_conf
pub fn resolv_conf(host_resolv: &str) -> String {
    let mut nameservers = Vec::new();
    let mut others = Vec::new();
    for line in host_resolv.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(addr) = words.next().filter(|a| reachable_from_container(a)) {
                    nameservers.push(format!("nameserver {addr}"));
                }
            }
            Some("search" | "domain" | "options") => others.push(line.trim().to_owned()),
            _ => {}
        }
    }
    let mut text =
        String::from("# written by the workshop runtime from the host's /etc/resolv.conf\n");
    if nameservers.is_empty() {
        text += "# no nameserver: the host's are all on its loopback (or none is set),\n\
                 # which the container cannot reach from its own network namespace\n";
    }
    for line in nameservers.iter().chain(&others) {
        text += line;
        text += "\n";
    }
    text
}
// ANCHOR_END: resolv_conf

fn reachable_from_container(addr: &str) -> bool {
    // "fe80::1%eth0": the zone names a host link, unreachable anyway.
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => !v4.is_loopback() && !v4.is_unspecified(),
        Ok(IpAddr::V6(v6)) => {
            !v6.is_loopback() && !v6.is_unspecified() && !v6.is_unicast_link_local()
        }
        Err(_) => false,
    }
}

// ANCHOR: bind_text
/// Shows `contents` at `target` inside the container (its own `/etc/hosts`,
/// say) without writing to the rootfs, which other containers share: the
/// text goes into a file on a small tmpfs at `/run`, which is then
/// bind-mounted over `target`. A bind mount needs something to cover, so a
/// missing `target` is created empty (the only write to the rootfs).
pub fn bind_text(target: &str, contents: &str) -> Result<(), SyscallError> {
    if !RUN_MOUNTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        step03::mount::ensure_dir("/run")?;
        call(
            "mount",
            "\"tmpfs\", \"/run\", \"tmpfs\", MS_NOSUID|MS_NODEV, \"mode=755,size=1m\"",
            || {
                mount(
                    Some("tmpfs"),
                    "/run",
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some("mode=755,size=1m"),
                )
            },
        )?;
    }
    let name = target.trim_start_matches('/').replace('/', "-");
    let source = format!("/run/{name}");
    call(
        "write",
        format!("{source:?}, {} bytes", contents.len()),
        || std::fs::write(&source, contents).map_err(io_errno),
    )?;
    if std::fs::symlink_metadata(target).is_err() {
        call(
            "open",
            format!("{target:?}, O_CREAT|O_WRONLY, 0644"),
            || std::fs::File::create(target).map(drop).map_err(io_errno),
        )?;
    }
    call(
        "mount",
        format!("{source:?}, {target:?}, NULL, MS_BIND"),
        || {
            mount(
                Some(source.as_str()),
                target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        },
    )
}
// ANCHOR_END: bind_text

static RUN_MOUNTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_with_a_lease_name_the_container_and_the_host() {
        let lease = Lease::for_index(12);
        let text = hosts_file("box", Some(&lease));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"127.0.0.1\tlocalhost"), "{text}");
        assert!(lines.contains(&"10.200.0.50\tbox"), "{text}");
        assert!(lines.contains(&"10.200.0.49\thost"), "{text}");
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn hosts_without_a_network_keep_the_hostname_on_loopback() {
        let text = hosts_file("box", None);
        assert!(text.lines().any(|l| l == "127.0.0.1\tlocalhost"), "{text}");
        assert!(text.lines().any(|l| l == "127.0.1.1\tbox"), "{text}");
        assert!(!text.lines().any(|l| l.ends_with("\thost")), "{text}");
        assert!(!text.contains("10.200."), "{text}");
    }

    #[test]
    fn resolv_drops_loopback_and_link_local_nameservers_and_keeps_search() {
        let host = "# managed by someone\n\
                    nameserver 127.0.0.53\n\
                    nameserver 10.255.255.53\n\
                    nameserver ::1\n\
                    nameserver fe80::1%eth0\n\
                    nameserver 2001:db8::53\n\
                    nameserver not-an-address\n\
                    search example.org lan\n\
                    options edns0 trust-ad\n";
        let text = resolv_conf(host);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "nameserver 10.255.255.53",
                "nameserver 2001:db8::53",
                "search example.org lan",
                "options edns0 trust-ad",
            ]
        );
    }

    #[test]
    fn resolv_with_only_systemd_resolved_says_why_it_is_empty() {
        let text = resolv_conf("nameserver 127.0.0.53\noptions edns0\n");
        assert!(!text.lines().any(|l| l.starts_with("nameserver")), "{text}");
        assert!(text.contains("# no nameserver"), "{text}");
        assert!(text.lines().any(|l| l == "options edns0"), "{text}");
        // every line is a comment or a directive the resolver knows
        assert!(
            text.lines()
                .all(|l| l.starts_with('#') || l.starts_with("options")),
            "{text}"
        );
        assert!(resolv_conf("").contains("# no nameserver"));
    }
}
