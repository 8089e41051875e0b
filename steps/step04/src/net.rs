//! The network namespace, and a veth pair to reach the container.
//!
//! `CLONE_NEWNET` gives the container a network stack of its own: its own
//! links, addresses, routes, firewall rules, sockets, port numbers and
//! `/proc/net`. A new network namespace holds one link, `lo`, and even that
//! is down: nothing inside can talk, not even to 127.0.0.1.
//! Man pages: network_namespaces(7), veth(4), netlink(7), rtnetlink(7).
//!
//! This step adds `--network`:
//!
//! - `none`: the container has only `lo`, brought up.
//! - `veth` (the default): a virtual Ethernet cable. A veth pair is two links
//!   where what one sends, the other receives. One end, `wsv<i>`, stays on
//!   the host; the other, `eth0`, is the container's. Each side gets an
//!   address in a /30 of its own and the container routes everything to the
//!   host end:
//!
//! ```text
//!        host network namespace             container network namespace
//!   ┌───────────────────────────────┐     ┌─────────────────────────────────┐
//!   │ wsv12   10.200.0.49/30   up ◄─┼─────┼─► eth0  10.200.0.50/30   up     │
//!   │ (the host's own links are     │veth │   lo    127.0.0.1/8      up     │
//!   │  not touched)                 │     │   default via 10.200.0.49       │
//!   └───────────────────────────────┘     └─────────────────────────────────┘
//! ```
//!
//! Inside, `/etc/hosts` names the host end `host` ([`hosts_file`]). The
//! container reaches the host and nothing further: forwarding and NAT to the
//! outside are not part of this step.
//!
//! # Talking to the kernel: rtnetlink
//!
//! Links, addresses and routes are set through a netlink socket,
//! `socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE)`, not through files or
//! ioctls. A request is one message: a 16-byte `nlmsghdr` (length, type,
//! flags, sequence number, port), a fixed header for its kind (`ifinfomsg`
//! for links, `ifaddrmsg` for addresses, `rtmsg` for routes), then
//! attributes, each a type-length-value that may nest others. The
//! `netlink-packet-route` crate encodes and decodes them; this module
//! decides what to send (`net/rtnl.rs` holds the conversation itself).
//!
//! Every request carries `NLM_F_REQUEST` and `NLM_F_ACK`: the kernel then
//! always answers with an `NLMSG_ERROR` message whose code is 0 (the ACK) or
//! `-errno` (with `NETLINK_EXT_ACK`, also a sentence saying why). Requests
//! that create something add `NLM_F_CREATE` (create it) and `NLM_F_EXCL`
//! (fail with `EEXIST` if it already exists). A dump (`NLM_F_DUMP`) answers
//! with many messages, then `NLMSG_DONE`.
//!
//! What this step sends, in order (addresses for subnet index 12):
//!
//! | who | message | carries |
//! |---|---|---|
//! | parent | `RTM_NEWLINK`, `NLM_F_CREATE\|NLM_F_EXCL` | `IFLA_IFNAME "wsv12"`, `IFLA_LINKINFO { IFLA_INFO_KIND "veth", IFLA_INFO_DATA { VETH_INFO_PEER { ifinfomsg, IFLA_IFNAME "eth0", IFLA_NET_NS_PID <container> } } }` |
//! | parent | `RTM_GETLINK` | `IFLA_IFNAME "wsv12"`; the answer, an `RTM_NEWLINK`, holds its ifindex |
//! | parent | `RTM_NEWADDR`, `NLM_F_CREATE\|NLM_F_EXCL` | `ifaddrmsg { AF_INET, prefixlen 30, ifindex }`, `IFA_LOCAL` and `IFA_ADDRESS` 10.200.0.49 |
//! | parent | `RTM_SETLINK` | `ifinfomsg { ifindex, flags IFF_UP, change IFF_UP }` |
//! | child | `RTM_SETLINK` | `IFLA_IFNAME "lo"`, `IFF_UP` |
//! | child | `RTM_GETLINK`, `RTM_NEWADDR`, `RTM_SETLINK` | the same for `eth0`, 10.200.0.50/30 |
//! | child | `RTM_NEWROUTE`, `NLM_F_CREATE\|NLM_F_EXCL` | `rtmsg { AF_INET, dst_len 0, table main, RTPROT_STATIC, RT_SCOPE_UNIVERSE, RTN_UNICAST }`, `RTA_GATEWAY 10.200.0.49`, `RTA_OIF` eth0 |
//! | parent | `RTM_GETLINK` (polled) | after the container exited, until `ENODEV` |
//!
//! A netlink socket speaks for the namespace it was *created* in: the
//! parent's configures the host, and the child opens its own after
//! entering the new namespace.
//!
//! ## The peer is born in the container
//!
//! `VETH_INFO_PEER` holds a whole link message for the other end, and
//! `IFLA_NET_NS_PID` in it makes the kernel register that end directly in
//! the network namespace of the given process. Its name is looked up
//! there too, so it can be `eth0` even though the host has an `eth0`.
//! The common alternative, creating both ends on the host and then moving
//! one with `RTM_SETLINK` + `IFLA_NET_NS_PID` and renaming it, unregisters
//! and re-registers the device, which waits for RCU grace periods: tens of
//! milliseconds. `IFLA_NET_NS_FD` (an fd of `/proc/PID/ns/net`) works the
//! same; the pid is safe here because the container is our unreaped child.
//!
//! ## Addresses: the kernel is the lock
//!
//! Subnet index `i` (0 to 16383) owns 10.200.0.0/16's `i`-th /30: network
//! `10.200.0.0 + 4i`, host end `+1`, container `+2`, named `wsv<i>` on the
//! host. A run tries `i` from its pid modulo 16384 upwards, creating the
//! pair with `NLM_F_EXCL`: the kernel refuses a second link of the same
//! name with `EEXIST`, atomically, so two runs at the same time never get
//! the same subnet, with no lock file. (Without `NLM_F_EXCL` the kernel
//! would take the request as a change to the existing link.) The lock is
//! released exactly when it should be: the pair vanishes with the
//! container's namespace, even if the runtime was killed.
//!
//! ## Teardown without us
//!
//! A network namespace lives while something refers to it (a process, an
//! open `/proc/PID/ns/net`, a bind mount of it). When the last reference
//! goes, the kernel dismantles it in a workqueue: every link in it is
//! deleted, and a veth end takes its peer along. So the host end goes away
//! by itself; [`wait_host_end_gone`] waits for that (it is asynchronous),
//! and deletes the host end only if it outlives a bound.
//!
//! ## What it costs
//!
//! Measured on the development VM (kernel 6.18, 2 cores) by
//! `timings_of_setup_and_teardown` in `tests/net_veth.rs`:
//!
//! | what | median | p95 |
//! |---|---|---|
//! | [`setup_host`]: 4 requests, pair created with eth0 inside | 0.7 ms | 1-2 ms |
//! | host end gone after the exit, container lived 50 ms | 1.2 ms | 5 ms |
//! | host end gone after the exit, container exited at once | 31 ms | 43 ms |
//! | for comparison: create both ends on the host, then move one (`ip link`) | 18 ms | |
//!
//! The slow teardown is the kernel's: a network namespace that dies within
//! some 40 ms of its birth takes about that long to be dismantled, and
//! deleting the host end ourselves right after the exit waits just as long
//! (the device's unregistration is what waits).

// With `#[path]`: an exercise compiles this file by path, and a file loaded
// that way looks for its submodules beside itself, not in `net/`.
#[path = "net/etc.rs"]
mod etc;
#[path = "net/rtnl.rs"]
pub(crate) mod rtnl;

use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use netlink_packet_core::NLM_F_DUMP;
use netlink_packet_route::RouteNetlinkMessage;
use nix::errno::Errno;
use nix::unistd::Pid;
use workshop::SyscallError;

/// The wire itself, both ends: the pair created with its peer in the
/// container, the host end's address, and the container's side
/// (`setup_container`). It lives in `wire.rs`, re-exported here; exercise 4
/// compiles this file as it is, with the learner's `wire` module.
pub use crate::wire::*;
pub use etc::{HOST_NAME_IN_CONTAINER, bind_text, hosts_file, resolv_conf};
use rtnl::Rtnl;

/// The container's end of the pair.
pub const CONTAINER_IFNAME: &str = "eth0";
/// Host ends are `wsv<index>`: "workshop veth".
pub const HOST_IFNAME_PREFIX: &str = "wsv";
/// The range the subnets are cut from: 10.200.0.0/16.
pub const SUBNET_BASE: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 0);
/// Each container's subnet is a /30: network, host, container, broadcast.
pub const SUBNET_PREFIX: u8 = 30;
/// How many /30s fit in the /16.
pub const SUBNETS: u16 = 1 << (SUBNET_PREFIX - 16);
/// How long [`wait_host_end_gone`] waits for the kernel before deleting.
pub const TEARDOWN_BOUND: Duration = Duration::from_secs(2);

/// What `--network` can be.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Network {
    /// eth0, wired by a veth pair to a host end wsvN; `host` names the host.
    #[default]
    Veth,
    /// Only lo: the container can talk to itself and to nothing else.
    None,
}

/// The flag this step adds.
#[derive(clap::Args, Debug, Clone)]
pub struct NetworkOpt {
    /// The container's network: `veth` gives it an eth0 at 10.200.x.2/30 wired
    /// to a host end at 10.200.x.1 (named `host` inside); `none` gives it only
    /// lo. Example: --network none
    #[arg(long, value_enum, default_value_t = Network::Veth)]
    pub network: Network,
}

/// A container's subnet: what the parent tells the child through the sync
/// pipe, in [`Lease::WIRE_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The subnet index `i`: the host end is `wsv<i>`.
    pub index: u16,
    /// The host end's address (the container's gateway).
    pub host: Ipv4Addr,
    /// eth0's address.
    pub container: Ipv4Addr,
    /// The prefix length of both.
    pub prefix: u8,
}

impl Lease {
    /// Bytes of [`Lease::to_bytes`]: index (2, big-endian), prefix (1), zero (1),
    /// host (4), container (4).
    pub const WIRE_LEN: usize = 12;

    /// The `index`-th /30 of 10.200.0.0/16. Panics unless `index < SUBNETS`.
    // ANCHOR: for_index
    pub fn for_index(index: u16) -> Lease {
        assert!(
            index < SUBNETS,
            "subnet index {index} is not below {SUBNETS}"
        );
        let network = u32::from(SUBNET_BASE) + u32::from(index) * 4;
        Lease {
            index,
            host: Ipv4Addr::from(network + 1),
            container: Ipv4Addr::from(network + 2),
            prefix: SUBNET_PREFIX,
        }
    }
    // ANCHOR_END: for_index

    /// The subnet's network address (`10.200.0.48` for index 12).
    pub fn network(&self) -> Ipv4Addr {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0);
        Ipv4Addr::from(u32::from(self.host) & mask)
    }

    /// The host end's name: `wsv<index>`, at most 8 bytes (IFNAMSIZ allows 15).
    pub fn host_ifname(&self) -> String {
        format!("{HOST_IFNAME_PREFIX}{}", self.index)
    }

    /// The wire form, for the sync pipe.
    pub fn to_bytes(&self) -> [u8; Lease::WIRE_LEN] {
        let mut b = [0; Lease::WIRE_LEN];
        b[0..2].copy_from_slice(&self.index.to_be_bytes());
        b[2] = self.prefix;
        b[4..8].copy_from_slice(&self.host.octets());
        b[8..12].copy_from_slice(&self.container.octets());
        b
    }

    /// Reads [`Lease::to_bytes`] back.
    pub fn from_bytes(b: &[u8; Lease::WIRE_LEN]) -> Lease {
        let octets = |at: usize| Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
        Lease {
            index: u16::from_be_bytes([b[0], b[1]]),
            prefix: b[2],
            host: octets(4),
            container: octets(8),
        }
    }
}

impl fmt::Display for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} (host end {} {}, container {CONTAINER_IFNAME} {})",
            self.network(),
            self.prefix,
            self.host_ifname(),
            self.host,
            self.container
        )
    }
}

/// How the host end went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Teardown {
    /// The kernel deleted it with the container's namespace, this long after the call.
    WithNamespace {
        /// From the call to the first `ENODEV`.
        after: Duration,
    },
    /// It outlived [`TEARDOWN_BOUND`] (something else kept the namespace
    /// alive) and we deleted it.
    Deleted,
}

/// What can go wrong in this module.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A netlink request (or the socket) failed: names the message, errno and fix.
    #[error(transparent)]
    Netlink(#[from] SyscallError),
    /// Every subnet index is taken.
    #[error(
        "no free subnet in {SUBNET_BASE}/16: all {SUBNETS} host ends wsv0..wsv{} exist; \
         if no containers are running, `{} reset` deletes leftovers",
        SUBNETS - 1,
        workshop::explain::program()
    )]
    NoFreeSubnet,
    /// The kernel's answer lacked something it always holds.
    #[error("netlink {request}: the kernel's answer has no {what}")]
    Unexpected {
        /// The request.
        request: &'static str,
        /// What was missing.
        what: &'static str,
    },
}

/// Where a run starts looking for a free subnet: spreading runs by pid
/// makes the first try succeed almost always.
pub fn first_index(pid: u32) -> u16 {
    (pid % u32::from(SUBNETS)) as u16
}

/// Is `name` one of ours (`wsv` and a subnet index)?
pub fn is_host_ifname(name: &str) -> bool {
    name.strip_prefix(HOST_IFNAME_PREFIX)
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u16>().ok())
        .is_some_and(|i| i < SUBNETS)
}

/// Parent side, in the host's namespace, once the container process exists
/// in its new network namespace and before it is released: allocates a
/// subnet, creates the pair with `eth0` inside the namespace of
/// `container_pid`, addresses the host end and brings it up. On failure
/// nothing is left behind.
// ANCHOR: setup_host
pub fn setup_host(container_pid: Pid) -> Result<Lease, NetError> {
    let mut nl = Rtnl::open()?;
    let lease = allocate(&mut nl, container_pid)?;
    let name = lease.host_ifname();
    let configured = (|| -> Result<(), NetError> {
        let index = ifindex(&mut nl, &name)?;
        refuse_redirects(&name)?;
        crate::wire::setup_host_end(&mut nl, &lease, index)?;
        Ok(())
    })();
    if let Err(err) = configured {
        // The pair exists but is half set up: delete it, the host end must not linger.
        let _ = nl.request(
            "netlink RTM_DELLINK",
            format!("{name:?}"),
            rtnl::del_link(&name),
            0,
        );
        return Err(err);
    }
    Ok(lease)
}
// ANCHOR_END: setup_host

// ANCHOR: refuse_redirects
/// The host end belongs to the host, but the container writes to it: every
/// packet the container sends arrives there. An IPv6 router advertisement
/// from the container would give the host a new address and default route
/// through the container, an ICMP redirect a new route for one destination:
/// the container could take over the host's traffic. So the host end
/// accepts neither (the per-interface sysctls of ip-sysctl.rst). A host
/// without IPv6 has no `ipv6` directory: nothing to refuse there.
fn refuse_redirects(name: &str) -> Result<(), SyscallError> {
    for knob in [
        format!("/proc/sys/net/ipv6/conf/{name}/accept_ra"),
        format!("/proc/sys/net/ipv6/conf/{name}/accept_redirects"),
        format!("/proc/sys/net/ipv4/conf/{name}/accept_redirects"),
    ] {
        if !std::path::Path::new(&knob).exists() {
            continue;
        }
        workshop::call("write", format!("{knob:?}, \"0\""), || {
            std::fs::write(&knob, "0").map_err(workshop::io_errno)
        })?;
    }
    Ok(())
}
// ANCHOR_END: refuse_redirects

/// The allocator: tries subnet indexes until the kernel accepts a new
/// `wsv<i>` (see the module doc), each try one [`create_pair`].
// ANCHOR: allocate
fn allocate(nl: &mut Rtnl, container_pid: Pid) -> Result<Lease, NetError> {
    let start = first_index(std::process::id());
    let mut tries = 0;
    let mut peer_clashes = 0;
    while tries < SUBNETS {
        let lease = Lease::for_index((start + tries) % SUBNETS);
        let name = lease.host_ifname();
        let err = match crate::wire::create_pair(nl, &lease, container_pid) {
            Ok(_) => return Ok(lease),
            Err(err) if err.errno == Errno::EEXIST => err,
            Err(err) => return Err(err.into()),
        };
        // EEXIST names no name: is it our wsv<i> (another container holds
        // this subnet) or eth0 inside the container?
        match nl.request(
            "netlink RTM_GETLINK",
            format!("{name:?}"),
            rtnl::get_link(&name),
            0,
        ) {
            Ok(_) => {
                workshop::explain!("{name} exists: subnet {} is taken, trying the next", lease);
                tries += 1;
            }
            // Gone meanwhile (that container just ended): try it again, but
            // twice in a row means the clash is inside the container.
            Err(e) if e.errno == Errno::ENODEV && peer_clashes == 0 => peer_clashes += 1,
            Err(e) if e.errno == Errno::ENODEV => {
                return Err(err
                    .with_hint(format!(
                        "the container's network namespace already has a link named {CONTAINER_IFNAME}"
                    ))
                    .into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(NetError::NoFreeSubnet)
}
// ANCHOR_END: allocate

/// `RTM_GETLINK` by name, for the ifindex that address requests need.
// ANCHOR: ifindex
pub(crate) fn ifindex(nl: &mut Rtnl, name: &str) -> Result<u32, NetError> {
    let replies = nl.request(
        "netlink RTM_GETLINK",
        format!("{name:?}"),
        rtnl::get_link(name),
        0,
    )?;
    rtnl::index_of(&replies).ok_or(NetError::Unexpected {
        request: "RTM_GETLINK",
        what: "link",
    })
}
// ANCHOR_END: ifindex

/// Parent side, after the container exited: waits (at most
/// [`TEARDOWN_BOUND`], polling `RTM_GETLINK` every millisecond) for the
/// kernel to delete the host end along with the namespace; deletes it with
/// `RTM_DELLINK` if it is still there then, and says so under `--explain`.
// ANCHOR: wait_host_end_gone
pub fn wait_host_end_gone(lease: &Lease) -> Result<Teardown, NetError> {
    let name = lease.host_ifname();
    let mut nl = Rtnl::open()?;
    let start = Instant::now();
    let mut polls = 0u32;
    loop {
        polls += 1;
        match nl.exchange(rtnl::get_link(&name), 0) {
            Err(f) if f.errno == Errno::ENODEV => {
                let after = start.elapsed();
                workshop::explain!(
                    "netlink RTM_GETLINK({name:?}) polled {polls}x for {:.1} ms = -1 ENODEV: \
                     the kernel deleted the pair with the container's network namespace",
                    after.as_secs_f64() * 1e3
                );
                return Ok(Teardown::WithNamespace { after });
            }
            Ok(_) => {}
            Err(f) => {
                return Err(f
                    .into_error("netlink RTM_GETLINK", format!("{name:?}"))
                    .into());
            }
        }
        if start.elapsed() >= TEARDOWN_BOUND {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    workshop::explain!(
        "{name} still exists {} s after the container exited: something else keeps its network \
         namespace alive (a bind mount of /proc/PID/ns/net, a process that joined it); deleting it",
        TEARDOWN_BOUND.as_secs()
    );
    match nl.request(
        "netlink RTM_DELLINK",
        format!("{name:?}"),
        rtnl::del_link(&name),
        0,
    ) {
        Ok(_) => Ok(Teardown::Deleted),
        Err(e) if e.errno == Errno::ENODEV => Ok(Teardown::WithNamespace {
            after: start.elapsed(),
        }),
        Err(e) => Err(e.into()),
    }
}
// ANCHOR_END: wait_host_end_gone

/// Deletes every host link named `wsv<digits>`: leftovers of runs whose
/// namespace is held by something else. Also cuts off running containers of
/// the workshop, so it is for a `reset` command, not for a normal run.
/// Returns the names deleted.
pub fn reset() -> Result<Vec<String>, NetError> {
    let mut nl = Rtnl::open()?;
    let links = nl.request(
        "netlink RTM_GETLINK",
        "NLM_F_DUMP".into(),
        rtnl::dump_links(),
        NLM_F_DUMP,
    )?;
    let ours: Vec<String> = links
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => rtnl::link_name(link),
            _ => None,
        })
        .filter(|name| is_host_ifname(name))
        .map(str::to_owned)
        .collect();
    let mut deleted = Vec::new();
    for name in ours {
        match nl.request(
            "netlink RTM_DELLINK",
            format!("{name:?}"),
            rtnl::del_link(&name),
            0,
        ) {
            Ok(_) => deleted.push(name),
            // Its namespace ended meanwhile: gone anyway.
            Err(e) if e.errno == Errno::ENODEV => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_indexes_cut_the_16_into_30s() {
        let first = Lease::for_index(0);
        assert_eq!(first.host, Ipv4Addr::new(10, 200, 0, 1));
        assert_eq!(first.container, Ipv4Addr::new(10, 200, 0, 2));
        assert_eq!(first.prefix, 30);
        assert_eq!(first.network(), Ipv4Addr::new(10, 200, 0, 0));

        let twelve = Lease::for_index(12);
        assert_eq!(twelve.network(), Ipv4Addr::new(10, 200, 0, 48));
        assert_eq!(twelve.host, Ipv4Addr::new(10, 200, 0, 49));
        assert_eq!(twelve.container, Ipv4Addr::new(10, 200, 0, 50));

        // the 64th /30 is the first of the next /24
        assert_eq!(
            Lease::for_index(63).container,
            Ipv4Addr::new(10, 200, 0, 254)
        );
        assert_eq!(Lease::for_index(64).host, Ipv4Addr::new(10, 200, 1, 1));

        let last = Lease::for_index(SUBNETS - 1);
        assert_eq!(SUBNETS, 16384);
        assert_eq!(last.host, Ipv4Addr::new(10, 200, 255, 253));
        assert_eq!(last.container, Ipv4Addr::new(10, 200, 255, 254));
    }

    #[test]
    fn no_two_indexes_share_an_address() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..SUBNETS {
            let l = Lease::for_index(i);
            assert!(seen.insert(l.host) && seen.insert(l.container), "index {i}");
            assert_eq!(l.network(), Lease::for_index(i).network());
            assert_ne!(l.host, l.network());
        }
        assert_eq!(seen.len(), 2 * SUBNETS as usize);
    }

    #[test]
    #[should_panic(expected = "not below 16384")]
    fn an_index_past_the_range_is_a_bug() {
        Lease::for_index(SUBNETS);
    }

    #[test]
    fn host_end_names_fit_ifnamsiz() {
        assert_eq!(Lease::for_index(12).host_ifname(), "wsv12");
        assert!(Lease::for_index(SUBNETS - 1).host_ifname().len() <= 15);
        assert!(is_host_ifname("wsv0") && is_host_ifname("wsv16383"));
        for other in [
            "wsv", "wsv16384", "wsv-1", "wsv1a", "eth0", "xwsv1", "wsv+1",
        ] {
            assert!(!is_host_ifname(other), "{other}");
        }
    }

    #[test]
    fn lease_survives_the_pipe() {
        for i in [0, 12, 255, 256, SUBNETS - 1] {
            let lease = Lease::for_index(i);
            assert_eq!(Lease::from_bytes(&lease.to_bytes()), lease);
        }
        let b = Lease::for_index(300).to_bytes();
        assert_eq!(
            &b[..4],
            &[1, 44, 30, 0],
            "index 300 big-endian, prefix, zero"
        );
        assert_eq!(&b[4..], &[10, 200, 4, 177, 10, 200, 4, 178]);
    }

    #[test]
    fn runs_start_from_their_pid() {
        assert_eq!(first_index(12), 12);
        assert_eq!(first_index(16384 + 5), 5);
        assert!(first_index(u32::MAX) < SUBNETS);
    }

    #[test]
    fn lease_displays_subnet_and_both_ends() {
        assert_eq!(
            Lease::for_index(12).to_string(),
            "10.200.0.48/30 (host end wsv12 10.200.0.49, container eth0 10.200.0.50)"
        );
    }

    #[test]
    fn the_flag_defaults_to_veth() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            net: NetworkOpt,
        }
        assert_eq!(Cli::parse_from(["t"]).net.network, Network::Veth);
        assert_eq!(
            Cli::parse_from(["t", "--network", "none"]).net.network,
            Network::None
        );
        assert!(Cli::try_parse_from(["t", "--network", "host"]).is_err());
    }
}
