//! The wire: both ends of the veth pair, over rtnetlink.
//!
//! The host side creates the pair with its peer born inside the container's
//! network namespace ([`create_pair`], one try of `net`'s allocator), then
//! gives the host end its address and brings it up ([`setup_host_end`]).
//! The container side ([`setup_container`]) brings `lo` up and configures
//! `eth0` and the default route. Everything around them (the subnet
//! allocator, the redirect sysctls, the cleanup of a half-made pair, the
//! teardown, the netlink client itself) is `net`'s: it calls these three
//! and re-exports this module.
//!
//! Exercise 4 compiles step04's `net.rs` (and `net/rtnl.rs`, `net/etc.rs`)
//! by path with the learner's `wire.rs` in place of this one.

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use nix::unistd::Pid;
use workshop::SyscallError;

use crate::net::rtnl::{self, Rtnl};
use crate::net::{CONTAINER_IFNAME, Lease, NetError, ifindex};

/// Host side, one try of the allocator: creates the veth pair for `lease`,
/// the host end `wsv<index>` here and its peer `eth0` born directly in the
/// network namespace of `container_pid`. `NLM_F_CREATE|NLM_F_EXCL`: an
/// existing `wsv<index>` is refused with `EEXIST` (the subnet is taken),
/// which the allocator reads from the error returned as it is.
// ANCHOR: create_pair
pub(crate) fn create_pair(
    nl: &mut Rtnl,
    lease: &Lease,
    container_pid: Pid,
) -> Result<(), SyscallError> {
    let name = lease.host_ifname();
    nl.request(
        "netlink RTM_NEWLINK",
        format!(
            "veth {name:?} peer {CONTAINER_IFNAME:?} netns_pid={container_pid}, \
             NLM_F_CREATE|NLM_F_EXCL"
        ),
        // The peer's link message carries IFLA_NET_NS_PID: the kernel
        // registers it in the container's namespace and looks its name up
        // there, so it can be eth0 although the host has an eth0.
        rtnl::new_veth(&name, CONTAINER_IFNAME, container_pid.as_raw() as u32),
        NLM_F_CREATE | NLM_F_EXCL,
    )?;
    Ok(())
}
// ANCHOR_END: create_pair

/// Host side, once the pair exists: gives the host end (`index`, the
/// ifindex of `wsv<index>`) the lease's host address and brings it up.
// ANCHOR: setup_host_end
pub(crate) fn setup_host_end(nl: &mut Rtnl, lease: &Lease, index: u32) -> Result<(), NetError> {
    let name = lease.host_ifname();
    nl.request(
        "netlink RTM_NEWADDR",
        format!(
            "{}/{} dev {name:?} ifindex {index}, NLM_F_CREATE|NLM_F_EXCL",
            lease.host, lease.prefix
        ),
        rtnl::new_addr(index, lease.host, lease.prefix),
        NLM_F_CREATE | NLM_F_EXCL,
    )?;
    nl.request(
        "netlink RTM_SETLINK",
        format!("{name:?} ifindex {index}, IFF_UP"),
        rtnl::set_up(index, &name),
        0,
    )?;
    Ok(())
}
// ANCHOR_END: setup_host_end

/// Child side, inside the new network namespace, before the command runs:
/// brings `lo` up; with a lease, gives `eth0` its address, brings it up and
/// routes everything via the host end.
// ANCHOR: setup_container
pub fn setup_container(lease: Option<&Lease>) -> Result<(), NetError> {
    // Opened here, after entering the namespace: this socket speaks for it.
    let mut nl = Rtnl::open()?;
    nl.request(
        "netlink RTM_SETLINK",
        "\"lo\", IFF_UP".into(),
        rtnl::set_up(0, "lo"),
        0,
    )?;
    let Some(lease) = lease else {
        return Ok(());
    };
    let index = ifindex(&mut nl, CONTAINER_IFNAME)?;
    nl.request(
        "netlink RTM_NEWADDR",
        format!(
            "{}/{} dev {CONTAINER_IFNAME:?} ifindex {index}, NLM_F_CREATE|NLM_F_EXCL",
            lease.container, lease.prefix
        ),
        rtnl::new_addr(index, lease.container, lease.prefix),
        NLM_F_CREATE | NLM_F_EXCL,
    )?;
    nl.request(
        "netlink RTM_SETLINK",
        format!("{CONTAINER_IFNAME:?} ifindex {index}, IFF_UP"),
        rtnl::set_up(index, CONTAINER_IFNAME),
        0,
    )?;
    // The gateway must be on a subnet of an up link: after the two above.
    nl.request(
        "netlink RTM_NEWROUTE",
        format!(
            "default via {} dev {CONTAINER_IFNAME:?} ifindex {index}, NLM_F_CREATE|NLM_F_EXCL",
            lease.host
        ),
        rtnl::default_route(index, lease.host),
        NLM_F_CREATE | NLM_F_EXCL,
    )?;
    Ok(())
}
// ANCHOR_END: setup_container
