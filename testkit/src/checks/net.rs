//! Chapter 4: the network namespace and the veth pair.

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use super::{Check, expect_code};
use crate::host;
use crate::run::{Target, run_command, start_until_ready, stop};

/// The checks of chapter 4.
pub const CHECKS: &[Check] = &[
    Check {
        name: "net::lo_and_eth0_are_up",
        since: 4,
        run: lo_and_eth0_are_up,
    },
    Check {
        name: "net::container_reaches_host",
        since: 4,
        run: container_reaches_host,
    },
    Check {
        name: "net::host_reaches_container",
        since: 4,
        run: host_reaches_container,
    },
    Check {
        name: "net::network_none_has_only_lo",
        since: 4,
        run: network_none_has_only_lo,
    },
    Check {
        name: "net::net_namespace_differs",
        since: 4,
        run: net_namespace_differs,
    },
    Check {
        name: "net::concurrent_containers_get_own_subnets",
        since: 4,
        run: concurrent_containers_get_own_subnets,
    },
    Check {
        name: "net::host_end_gone_after_run",
        since: 4,
        run: host_end_gone_after_run,
    },
    Check {
        name: "net::no_link_left_after_failure",
        since: 4,
        run: no_link_left_after_failure,
    },
    Check {
        name: "net::host_end_refuses_redirects",
        since: 4,
        run: host_end_refuses_redirects,
    },
];

/// The container's eth0 address, from `ip addr` output.
fn eth0_address(ip_addr: &str) -> Option<Ipv4Addr> {
    let mut in_eth0 = false;
    for line in ip_addr.lines() {
        if !line.starts_with(' ') {
            in_eth0 = line.contains(" eth0") || line.contains(" eth0@");
        } else if in_eth0 {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"inet") {
                return words.get(1)?.split('/').next()?.parse().ok();
            }
        }
    }
    None
}

/// The host end's name for a container address: `wsv<subnet index>`.
pub fn host_end_for(container: Ipv4Addr) -> String {
    let index = (u32::from(container) - u32::from(Ipv4Addr::new(10, 200, 0, 0))) / 4;
    format!("wsv{index}")
}

/// `ip addr` inside shows lo up with 127.0.0.1 and eth0 with a 10.200.x.x address.
pub fn lo_and_eth0_are_up(t: &Target) -> Result<(), String> {
    let out = t.run(&["ip", "addr"])?;
    expect_code(&out, 0, "ip addr")?;
    let text = &out.stdout;
    let lo_up = text
        .lines()
        .any(|l| l.contains(": lo:") && l.contains("UP"));
    if !lo_up || !text.contains("inet 127.0.0.1/8") {
        return Err(format!(
            "lo is not up with 127.0.0.1 inside the container:\n{text}"
        ));
    }
    let eth0_up = text
        .lines()
        .any(|l| l.contains(": eth0") && l.contains("UP"));
    match eth0_address(text) {
        Some(addr) if eth0_up && addr.octets()[..2] == [10, 200] => Ok(()),
        Some(addr) if eth0_up => Err(format!(
            "eth0 has {addr}, expected an address in 10.200.0.0/16"
        )),
        _ => Err(format!(
            "no eth0 that is up with an IPv4 address inside the container:\n{text}"
        )),
    }
}

/// `ping host` from inside reaches the host end of the pair.
pub fn container_reaches_host(t: &Target) -> Result<(), String> {
    let out = t.run(&["ping", "-c", "1", "-W", "2", "host"])?;
    expect_code(&out, 0, "ping -c 1 host (inside)").map_err(|e| {
        format!("{e}; the name `host` must resolve (/etc/hosts) and the default route go through the veth pair")
    })
}

/// The host pings the container's eth0 while it runs.
pub fn host_reaches_container(t: &Target) -> Result<(), String> {
    let cmd = t.command(&["sh", "-c", "ip addr show eth0; echo ready; sleep 20"]);
    let (mut child, text) = start_until_ready(cmd)?;
    let result = match eth0_address(&text) {
        Some(addr) => {
            let mut ping = std::process::Command::new("ping");
            ping.args(["-c", "1", "-W", "2", &addr.to_string()]);
            match run_command(ping, Duration::from_secs(10)) {
                Ok(out) if out.code == 0 => Ok(()),
                Ok(out) => Err(format!(
                    "the host could not ping the container at {addr}: {}",
                    out.stdout.trim()
                )),
                Err(e) => Err(format!(
                    "ping from the host: {e} (is iputils-ping installed?)"
                )),
            }
        }
        None => Err(format!("the container printed no eth0 address: {text:?}")),
    };
    // SIGTERM, not SIGKILL: the runtime must get the chance to clean up.
    stop(&mut child);
    result
}

/// `--network none` leaves only lo, and lo is up.
pub fn network_none_has_only_lo(t: &Target) -> Result<(), String> {
    let script = "ls /sys/class/net; echo flags; cat /sys/class/net/lo/flags";
    let out = t.run(&["--network", "none", "sh", "-c", script])?;
    expect_code(&out, 0, "--network none ls /sys/class/net")?;
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    let (links, flags) = match words.iter().position(|w| *w == "flags") {
        Some(i) => (&words[..i], words.get(i + 1).copied()),
        None => (&words[..], None),
    };
    if links != ["lo"] {
        return Err(format!(
            "with --network none the container had links {links:?}, expected only [\"lo\"]"
        ));
    }
    // IFF_UP is bit 0 of the flags (`0x9`: LOOPBACK|UP).
    let flags = flags
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| format!("cannot read lo's flags: {:?}", out.stdout))?;
    if flags & 1 == 0 {
        return Err(format!(
            "with --network none lo was down (flags {flags:#x}): bring lo up also when there \
             is no lease (RTM_SETLINK with IFF_UP)"
        ));
    }
    Ok(())
}

/// `/proc/self/ns/net` inside is not the host's.
pub fn net_namespace_differs(t: &Target) -> Result<(), String> {
    super::uts::namespace_differs(t, "net")
}

/// Two containers at once get different subnets, and both reach the host.
pub fn concurrent_containers_get_own_subnets(t: &Target) -> Result<(), String> {
    let script = "ip addr show eth0; ping -c 1 -W 2 host >/dev/null && echo PING_OK; sleep 1";
    let start = || {
        let mut cmd = t.command(&["sh", "-c", script]);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.spawn().map_err(|e| format!("cannot start: {e}"))
    };
    let (a, b) = (start()?, start()?);
    let a = a.wait_with_output().map_err(|e| e.to_string())?;
    let b = b.wait_with_output().map_err(|e| e.to_string())?;
    let (ta, tb) = (
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout),
    );
    let (aa, ab) = (eth0_address(&ta), eth0_address(&tb));
    match (aa, ab) {
        (Some(x), Some(y)) if x == y => Err(format!("two containers running at once both got {x}")),
        (Some(_), Some(_)) if ta.contains("PING_OK") && tb.contains("PING_OK") => Ok(()),
        (Some(_), Some(_)) => Err(format!(
            "two containers at once: not both could ping the host: {ta:?} / {tb:?}"
        )),
        _ => Err(format!(
            "two containers at once: not both had an eth0 address: {ta:?} / {tb:?}"
        )),
    }
}

/// After a run, the host end of its pair is gone.
pub fn host_end_gone_after_run(t: &Target) -> Result<(), String> {
    let out = t.run(&["ip", "addr", "show", "eth0"])?;
    expect_code(&out, 0, "ip addr show eth0")?;
    let addr =
        eth0_address(&out.stdout).ok_or_else(|| format!("no eth0 address in {:?}", out.stdout))?;
    let name = host_end_for(addr);
    if host::links().contains(&name) {
        Err(format!(
            "after the run, the host end {name} is still there: it must go away with the container's namespace"
        ))
    } else {
        Ok(())
    }
}

/// The host end accepts no IPv6 router advertisement and no redirect from
/// the container: they would reroute the host's own traffic through it.
pub fn host_end_refuses_redirects(t: &Target) -> Result<(), String> {
    let cmd = t.command(&["sh", "-c", "ip addr show eth0; echo ready; sleep 10"]);
    let (mut child, before) = crate::run::start_until_ready(cmd)?;
    let result = (|| {
        let addr = eth0_address(&before).ok_or_else(|| format!("no eth0 address in {before:?}"))?;
        let name = host_end_for(addr);
        for knob in [
            format!("/proc/sys/net/ipv6/conf/{name}/accept_ra"),
            format!("/proc/sys/net/ipv6/conf/{name}/accept_redirects"),
            format!("/proc/sys/net/ipv4/conf/{name}/accept_redirects"),
        ] {
            match std::fs::read_to_string(&knob) {
                Ok(v) if v.trim() == "0" => {}
                Ok(v) => {
                    return Err(format!(
                        "{knob} is {}: the host end must not accept router advertisements or \
                         redirects from the container; write 0 there",
                        v.trim()
                    ));
                }
                Err(_)
                    if knob.contains("ipv6")
                        && !std::path::Path::new("/proc/sys/net/ipv6").exists() => {}
                Err(e) => return Err(format!("{knob}: {e}")),
            }
        }
        Ok(())
    })();
    crate::run::stop(&mut child);
    result
}

/// A run that fails after the pair was made leaves no host end behind.
pub fn no_link_left_after_failure(t: &Target) -> Result<(), String> {
    let broken = crate::run::rootfs_that_fails_halfway()?;
    let mut cmd = t.command_with_rootfs(broken.path(), &["true"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    // The runtime tries subnet (its PID mod 16384) first; other containers
    // running now are very unlikely to hold the same one.
    let name = format!("wsv{}", child.id() % 16384);
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.code() != Some(125) {
        return Err(format!(
            "a rootfs without /proc should fail with 125 after the veth pair exists, got {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    if host::links().contains(&name) {
        Err(format!(
            "a run that failed halfway left its host link {name} behind"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_eth0_address_in_busybox_ip_output() {
        let text = "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n    inet 127.0.0.1/8 scope host lo\n\
                    2: eth0@if7: <BROADCAST,UP> mtu 1500\n    inet 10.200.0.6/30 scope global eth0\n";
        assert_eq!(eth0_address(text), Some(Ipv4Addr::new(10, 200, 0, 6)));
        assert_eq!(host_end_for(Ipv4Addr::new(10, 200, 0, 6)), "wsv1");
    }
}
