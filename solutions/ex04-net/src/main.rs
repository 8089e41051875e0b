//! Exercise 4: the container's side of the network. Your code goes in
//! `src/wire.rs`; you do not need to change this file. The rest of the
//! runtime is step04's own: its parent/child dance
//! (`steps/step04/src/container.rs`) and its rtnetlink client
//! (`steps/step04/src/net/rtnl.rs`), both compiled here as they are, and its
//! `main.rs` (in `src/runtime.rs`).

#[path = "../../../steps/step04/src/container.rs"]
mod container;
// step04's rtnetlink client: `Rtnl` and the message builders your code uses.
// Some of its builders serve only the host side, which step04 does for you.
#[allow(dead_code)]
#[path = "../../../steps/step04/src/net/rtnl.rs"]
mod rtnl;
mod wire;

include!("../../../exercises/ex04-net/src/runtime.rs");
