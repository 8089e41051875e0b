//! # Exercise 4: a network of its own (both ends of a veth pair)
//!
//! Read first: chapter 4 of the book, `book/src/ch04-net.md`.
//!
//! The container is born in a new network namespace (`CLONE_NEWNET`) that
//! holds one link, `lo`, and even that is down. `cargo run -p ex04 -- ip
//! addr` should show `lo` and `eth0` up, and `cargo run -p ex04 -- ping -c 1
//! host` should get an answer from the host. The wire between the two is
//! yours: a veth pair, two links where what one sends the other receives,
//! one end `wsvN` on the host, the other `eth0` in the container.
//!
//! Given, in step04's `net` (`steps/step04/src/net.rs`), which calls your
//! three functions: the subnet allocator (`net::setup_host` tries
//! `Lease::for_index(i)` for one `i` after another, calling your
//! [`create_pair`] until the kernel stops saying `EEXIST`), the host end's
//! ifindex (`net::ifindex`, an `RTM_GETLINK`, also yours to use), the
//! redirect sysctls, the cleanup of a half-made pair, and the teardown.
//!
//! The host side, in the runtime on the host while the container waits:
//!
//! 1. [`create_pair`]: one `RTM_NEWLINK` (`rtnl::new_veth`) creates both
//!    ends: the host end `lease.host_ifname()` here, and its peer
//!    `CONTAINER_IFNAME` born directly in the network namespace of
//!    `container_pid` (the builder puts `IFLA_NET_NS_PID` in the peer's
//!    message). With `NLM_F_CREATE | NLM_F_EXCL`: without `NLM_F_EXCL` the
//!    kernel takes a request for an existing `wsvN` as a change to it, and
//!    two containers would share a subnet. Return the request's error as it
//!    is: the allocator reads its errno.
//! 2. [`setup_host_end`]: the host end gets `lease.host`/`lease.prefix`
//!    (`RTM_NEWADDR`, `rtnl::new_addr`, `NLM_F_CREATE | NLM_F_EXCL`), then
//!    goes up (`RTM_SETLINK`, `rtnl::set_up`).
//!
//! The container side, [`setup_container`], inside, before the command runs:
//!
//! 3. Bring `lo` up (`rtnl::set_up(0, "lo")`: index 0 means "by name"). Also
//!    with `--network none` (no lease): then that is all.
//! 4. `eth0`: its ifindex (`net::ifindex`), its address
//!    `lease.container`/`lease.prefix`, up, and the default route via the
//!    host end, `lease.host` (`RTM_NEWROUTE`, `rtnl::default_route`,
//!    `NLM_F_CREATE | NLM_F_EXCL`). The kernel accepts a gateway only on the
//!    subnet of a link that is up: the route comes last.
//!
//! The messages travel over a netlink socket, and a netlink socket speaks
//! for the namespace it was *created* in: the host side gets the host's
//! (`nl`), the container side opens its own, inside (`Rtnl::open()`). Send
//! each message with `nl.request("netlink RTM_...", args, message, flags)`:
//! it narrates the request under `-x` and turns a refusal into an error that
//! names it. (`rtnl` is step04's own netlink client,
//! `steps/step04/src/net/rtnl.rs`: read its builders' doc comments.)
//!
//! Done when `cargo test -p ex04` passes: the same checks as step04 (lo and
//! eth0 up, the container and the host reach each other, concurrent
//! containers get their own subnets, `--network none`, nothing left
//! behind, ...). Stuck? `exercises/hints.toml` has hints, each more specific
//! than the last.

// Given: what the steps above use.
#[allow(unused_imports)]
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use nix::unistd::Pid;
use workshop::SyscallError;

#[allow(unused_imports)]
use crate::net::rtnl::{self, Rtnl};
#[allow(unused_imports)]
use crate::net::{CONTAINER_IFNAME, Lease, NetError, ifindex};

/// Host side, one try of the allocator: creates the veth pair for `lease`,
/// the host end `wsv<index>` here and its peer `eth0` born directly in the
/// network namespace of `container_pid`. An existing `wsv<index>` must be
/// refused with `EEXIST`, returned as it is.
// The stub does not use its arguments yet; your code will.
#[allow(unused_variables)]
pub(crate) fn create_pair(
    nl: &mut Rtnl,
    lease: &Lease,
    container_pid: Pid,
) -> Result<(), SyscallError> {
    // TODO: 1. RTM_NEWLINK: veth lease.host_ifname(), peer CONTAINER_IFNAME
    // in the namespace of container_pid (`container_pid.as_raw() as u32`),
    // NLM_F_CREATE | NLM_F_EXCL.

    todo!("RTM_NEWLINK: the pair, its peer born in the container's namespace")
}

/// Host side, once the pair exists: gives the host end (`index`, the
/// ifindex of `wsv<index>`) the lease's host address and brings it up.
// The stub does not use its arguments yet; your code will.
#[allow(unused_variables)]
pub(crate) fn setup_host_end(nl: &mut Rtnl, lease: &Lease, index: u32) -> Result<(), NetError> {
    // TODO: 2. RTM_NEWADDR lease.host/lease.prefix on the host end.

    // TODO: 2. The host end up.

    todo!("the host end: address, up")
}

/// Child side, inside the new network namespace, before the command runs:
/// brings `lo` up; with a lease, gives `eth0` its address, brings it up and
/// routes everything via the host end.
// The stub does not use its argument yet; your code will.
#[allow(unused_variables)]
pub fn setup_container(lease: Option<&Lease>) -> Result<(), NetError> {
    // TODO: open a netlink socket here, inside: `Rtnl::open()?`.

    // TODO: 3. lo up (also without a lease).

    // TODO: no lease (`--network none`): done.

    // TODO: 4. eth0's ifindex, RTM_NEWADDR lease.container/lease.prefix,
    // eth0 up, then RTM_NEWROUTE default via lease.host.

    todo!("lo up; eth0: address, up, default route via the host end")
}
