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

// Given: what the steps above use.
#[allow(unused_imports)]
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
#[allow(unused_imports)]
use step04::net::{CONTAINER_IFNAME, Lease, NetError};

#[allow(unused_imports)]
use crate::rtnl::{self, Rtnl};

/// Inside the new network namespace, before the command runs: brings `lo`
/// up; with a lease, gives `eth0` its address, brings it up and routes
/// everything via the host end.
// The stub does not use its argument yet; your code will.
#[allow(unused_variables)]
pub fn setup_container(lease: Option<&Lease>) -> Result<(), NetError> {
    // TODO: open a netlink socket here, inside: `Rtnl::open()?`.

    // TODO: 1. lo up (also without a lease).

    // TODO: no lease (`--network none`): done.

    // TODO: 2. eth0's ifindex (RTM_GETLINK); no index in the answer:
    // `NetError::Unexpected { request: "RTM_GETLINK", what: "link" }`.

    // TODO: 3. RTM_NEWADDR lease.container/lease.prefix on eth0.

    // TODO: 4. eth0 up.

    // TODO: 5. RTM_NEWROUTE default via lease.host.

    todo!("lo up; eth0: address, up, default route via the host end")
}
