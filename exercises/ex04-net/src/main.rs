//! Exercise 4: both ends of the veth pair. Your code goes in `src/wire.rs`;
//! you do not need to change this file. The rest of the runtime is step04's
//! own: its parent/child dance (`steps/step04/src/container.rs`), its `net`
//! module (`steps/step04/src/net.rs`: the subnet allocator, the redirect
//! sysctls, the teardown) with its rtnetlink client
//! (`steps/step04/src/net/rtnl.rs`) and `/etc` files
//! (`steps/step04/src/net/etc.rs`), compiled here as they are with your
//! `wire` module in place of step04's, and its `main.rs` (in
//! `src/runtime.rs`).

#[path = "../../../steps/step04/src/container.rs"]
mod container;
// step04's `net`, which calls your `wire` and re-exports it. Some of its
// items (`reset`, for the `reset` tool; a name only chapter 7 uses) are not
// used by a run. Its API is a library's (`Lease::to_bytes(&self)`), which
// clippy judges differently in a binary.
#[allow(dead_code, unused_imports, clippy::wrong_self_convention)]
#[path = "../../../steps/step04/src/net.rs"]
mod net;
mod wire;

include!("runtime.rs");
