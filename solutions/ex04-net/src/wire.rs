//! # Exercise 4: a network of its own (the container's side of a veth pair)
//!
//! Read first: chapter 4 of the book, `book/src/ch04-net.md`.
//!
//! The container is born in a new network namespace (`CLONE_NEWNET`) that
//! holds one link, `lo`, and even that is down. While the container waits,
//! the runtime on the host (step04's `net::setup_host`, given) creates a
//! veth pair: the host end `wsvN` with 10.200.x.1/30, up, and the other end
//! born *inside* the container's namespace as `eth0`, with no address and
//! down. It then hands the container a [`Lease`]: the addresses of both ends.
//!
//! `cargo run -p ex04 -- ip addr` should show `lo` and `eth0` up, and
//! `cargo run -p ex04 -- ping -c 1 host` should get an answer from the host
//! end. What happens inside the container is yours, in [`setup_container`]:
//!
//! 1. Bring `lo` up: `RTM_SETLINK` with `IFF_UP` (`rtnl::set_up(0, "lo")`:
//!    index 0 means "by name"). Also with `--network none` (no lease).
//! 2. Find `eth0`'s ifindex: `RTM_GETLINK` (`rtnl::get_link`), whose answer
//!    holds it (`rtnl::index_of`).
//! 3. Give `eth0` its address, `lease.container`/`lease.prefix`:
//!    `RTM_NEWADDR` (`rtnl::new_addr`) with `NLM_F_CREATE | NLM_F_EXCL`.
//! 4. Bring `eth0` up (`rtnl::set_up(index, "eth0")`).
//! 5. Route everything via the host end, `lease.host`: `RTM_NEWROUTE`
//!    (`rtnl::default_route`) with `NLM_F_CREATE | NLM_F_EXCL`. The kernel
//!    accepts a gateway only on the subnet of a link that is up: after 3, 4.
//!
//! The messages travel over a netlink socket, and a netlink socket speaks
//! for the namespace it was *created* in: open yours here, inside
//! (`Rtnl::open()`). Send each message with
//! `nl.request("netlink RTM_...", args, message, flags)`: it narrates the
//! request under `-x` and turns a refusal into an error that names it.
//! (`rtnl` is step04's own netlink client, `steps/step04/src/net/rtnl.rs`.)
//!
//! Done when `cargo test -p ex04` passes: the same checks as step04 (lo and
//! eth0 up, the container reaches the host and back, `--network none`, ...).
//! Stuck? `exercises/hints.toml` has hints, each more specific than the last.
//!
//! SOLUTION: this is the instructor's copy; the filled gaps are marked
//! `// SOLUTION:`. It is step04's `net::setup_container`.

// Given: what the steps above use.
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use step04::net::{CONTAINER_IFNAME, Lease, NetError};

use crate::rtnl::{self, Rtnl};

/// Inside the new network namespace, before the command runs: brings `lo`
/// up; with a lease, gives `eth0` its address, brings it up and routes
/// everything via the host end.
pub fn setup_container(lease: Option<&Lease>) -> Result<(), NetError> {
    // SOLUTION: opened here, after entering the namespace: it speaks for it.
    let mut nl = Rtnl::open()?;

    // SOLUTION: 1. lo up: without it not even 127.0.0.1 answers.
    nl.request(
        "netlink RTM_SETLINK",
        "\"lo\", IFF_UP".into(),
        rtnl::set_up(0, "lo"),
        0,
    )?;

    // SOLUTION: --network none: lo is all there is.
    let Some(lease) = lease else {
        return Ok(());
    };

    // SOLUTION: 2. eth0's ifindex: addresses and routes name links by index.
    let replies = nl.request(
        "netlink RTM_GETLINK",
        format!("{CONTAINER_IFNAME:?}"),
        rtnl::get_link(CONTAINER_IFNAME),
        0,
    )?;
    let index = rtnl::index_of(&replies).ok_or(NetError::Unexpected {
        request: "RTM_GETLINK",
        what: "link",
    })?;

    // SOLUTION: 3. The address; the kernel adds the route to the /30 with it.
    nl.request(
        "netlink RTM_NEWADDR",
        format!(
            "{}/{} dev {CONTAINER_IFNAME:?} ifindex {index}, NLM_F_CREATE|NLM_F_EXCL",
            lease.container, lease.prefix
        ),
        rtnl::new_addr(index, lease.container, lease.prefix),
        NLM_F_CREATE | NLM_F_EXCL,
    )?;

    // SOLUTION: 4. eth0 up.
    nl.request(
        "netlink RTM_SETLINK",
        format!("{CONTAINER_IFNAME:?} ifindex {index}, IFF_UP"),
        rtnl::set_up(index, CONTAINER_IFNAME),
        0,
    )?;

    // SOLUTION: 5. The gateway must be on the subnet of an up link: after 3 and 4.
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
