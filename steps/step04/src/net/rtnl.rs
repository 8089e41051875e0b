//! A blocking rtnetlink client: one request, one answer, narrated like a syscall.
//!
//! The `netlink-packet-*` crates encode and decode the messages; this file
//! owns the conversation: it numbers each request, sends it with
//! `NLM_F_REQUEST|NLM_F_ACK`, and reads datagrams until the kernel's
//! `NLMSG_ERROR` (code 0 is the ACK, a negative code is `-errno`) or, for a
//! dump, `NLMSG_DONE`. Every request goes through [`workshop::call`], so
//! `--explain` prints it as `netlink RTM_NEWLINK(...) = 0` and a failure is a
//! [`SyscallError`] naming the message, its arguments, the errno and a hint.
//!
//! A netlink socket belongs to the network namespace of the process that
//! *created* it, whatever namespace that process moves to later: the parent's
//! socket configures the host, the child opens its own after `unshare`.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    DoneBuffer, ErrorBuffer, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_REQUEST, NLMSG_DONE,
    NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN, NetlinkBuffer, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NlasIterator,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::errno::Errno;
use workshop::sys::Outcome;
use workshop::{SyscallError, io_errno};

/// `NLMSGERR_ATTR_MSG` (linux/netlink.h): the text attribute of an extended ACK.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Bigger than any datagram rtnetlink sends (dumps fill at most 32 KiB).
const RECV_BUFFER: usize = 64 * 1024;

/// An open `NETLINK_ROUTE` socket in the namespace it was created in.
pub(crate) struct Rtnl {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

/// Why an exchange failed: the errno, plus what the kernel said in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub errno: Errno,
    /// The extended ACK's text (`"Unknown device type"`), when the kernel sent one.
    pub kernel_says: Option<String>,
}

impl Failure {
    fn bare(errno: Errno) -> Self {
        Failure {
            errno,
            kernel_says: None,
        }
    }
}

/// The messages the kernel answered with, shown in the narration after `=`.
struct Replies(Vec<RouteNetlinkMessage>);

impl Outcome for Replies {
    fn show(&self) -> String {
        match self.0.as_slice() {
            [] => "0".into(),
            [RouteNetlinkMessage::NewLink(link)] => format!("ifindex {}", link.header.index),
            many => format!("{} messages", many.len()),
        }
    }
}

/// A socket fd in the narration: `= fd 5`.
struct Fd(i32);

impl Outcome for Fd {
    fn show(&self) -> String {
        format!("fd {}", self.0)
    }
}

/// Netlink messages are padded to 4 bytes (`NLMSG_ALIGN`).
fn align4(len: usize) -> usize {
    (len + 3) & !3
}

impl Rtnl {
    /// `socket(AF_NETLINK, ...)`, `connect` to the kernel (port 0), and ask
    /// for extended ACKs so that errors come with the kernel's own words.
    pub fn open() -> Result<Rtnl, SyscallError> {
        let mut socket = None;
        workshop::call(
            "socket",
            "AF_NETLINK, SOCK_DGRAM|SOCK_CLOEXEC, NETLINK_ROUTE",
            || {
                let s = Socket::new(NETLINK_ROUTE).map_err(io_errno)?;
                let fd = s.as_raw_fd();
                socket = Some(s);
                Ok(Fd(fd))
            },
        )?;
        let socket = socket.expect("set when socket() succeeded");
        let fd = socket.as_raw_fd();
        // Connected to the kernel, the socket receives nothing from other
        // processes, and the kernel's port number 0 needs no bind first.
        workshop::call(
            "connect",
            format!("{fd}, {{nl_pid=0 (the kernel)}}"),
            || socket.connect(&SocketAddr::new(0, 0)).map_err(io_errno),
        )?;
        // Best effort: kernels before 4.12 have no extended ACKs, and a
        // missing explanation is no reason to fail.
        let _ = workshop::call(
            "setsockopt",
            format!("{fd}, SOL_NETLINK, NETLINK_EXT_ACK, 1"),
            || socket.set_ext_ack(true).map_err(io_errno),
        );
        Ok(Rtnl {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
        })
    }

    /// Sends `message` and collects the answer, with `--explain` narration as
    /// `name(args)`. Errors become a [`SyscallError`] with a hint.
    pub fn request(
        &mut self,
        name: &'static str,
        args: String,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, SyscallError> {
        let mut failure = None;
        let result = workshop::call(name, args, || {
            self.exchange(message, flags).map(Replies).map_err(|f| {
                let errno = f.errno;
                failure = Some(f);
                errno
            })
        });
        match result {
            Ok(replies) => Ok(replies.0),
            Err(err) => Err(explained(
                err,
                failure.and_then(|f| f.kernel_says).as_deref(),
            )),
        }
    }

    /// One request/answer, without narration (for polling loops).
    pub fn exchange(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, Failure> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut packet =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(message));
        packet.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        packet.header.sequence_number = seq;
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket
            .send(&bytes, 0)
            .map_err(|e| Failure::bare(io_errno(e)))?;

        let mut replies = Vec::new();
        loop {
            // MSG_TRUNC makes recv return the datagram's real length, so a
            // truncated one is noticed instead of misparsed.
            let n = self
                .socket
                .recv(&mut &mut self.buf[..], libc::MSG_TRUNC)
                .map_err(|e| Failure::bare(io_errno(e)))?;
            if n > self.buf.len() {
                return Err(Failure::bare(Errno::EMSGSIZE));
            }
            if let Some(end) = parse_datagram(&self.buf[..n], seq, &mut replies)? {
                return end.map(|()| replies);
            }
        }
    }
}

/// Parses the messages of one datagram that answer request `seq` into
/// `replies`. `Some(result)` once the answer is complete (the ACK, an error,
/// or the end of a dump), `None` if more datagrams follow.
#[allow(clippy::type_complexity)]
fn parse_datagram(
    data: &[u8],
    seq: u32,
    replies: &mut Vec<RouteNetlinkMessage>,
) -> Result<Option<Result<(), Failure>>, Failure> {
    let bad = |_| Failure {
        errno: Errno::EBADMSG,
        kernel_says: Some("(this step could not decode the kernel's answer)".into()),
    };
    let mut off = 0;
    while off < data.len() {
        let msg = NetlinkBuffer::new_checked(&data[off..]).map_err(bad)?;
        let len = msg.length() as usize;
        if msg.sequence_number() == seq {
            match msg.message_type() {
                NLMSG_ERROR => {
                    let err = ErrorBuffer::new_checked(msg.payload()).map_err(bad)?;
                    return Ok(Some(match err.code() {
                        None => Ok(()),
                        Some(code) => Err(Failure {
                            errno: Errno::from_raw(-code.get()),
                            kernel_says: ext_ack_text(msg.flags(), err.payload()),
                        }),
                    }));
                }
                NLMSG_DONE => {
                    let done = DoneBuffer::new_checked(msg.payload()).map_err(bad)?;
                    return Ok(Some(match done.code() {
                        0 => Ok(()),
                        code => Err(Failure::bare(Errno::from_raw(-code))),
                    }));
                }
                NLMSG_NOOP | NLMSG_OVERRUN => {}
                _ => {
                    let parsed =
                        NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..off + len])
                            .map_err(bad)?;
                    if let NetlinkPayload::InnerMessage(inner) = parsed.payload {
                        replies.push(inner);
                    }
                }
            }
        }
        if len == 0 {
            break;
        }
        off += align4(len);
    }
    Ok(None)
}

/// Adds to `err` what the kernel said and what the learner can do.
fn explained(err: SyscallError, kernel_says: Option<&str>) -> SyscallError {
    match (kernel_says, hint(err.call, err.errno)) {
        (Some(said), Some(ours)) => err.with_hint(format!("the kernel says \"{said}\"; {ours}")),
        (Some(said), None) => err.with_hint(format!("the kernel says \"{said}\"")),
        (None, Some(ours)) => err.with_hint(ours),
        (None, None) => err,
    }
}

impl Failure {
    /// The error of an exchange made without narration (see [`Rtnl::exchange`]).
    pub fn into_error(self, name: &'static str, args: String) -> SyscallError {
        let err = SyscallError {
            call: name,
            args,
            errno: self.errno,
            hint: None,
        };
        explained(err, self.kernel_says.as_deref())
    }
}

/// The text of an extended ACK (`NLMSGERR_ATTR_MSG`), if the kernel sent one.
///
/// `payload` is what follows the error code: the request's own header (all
/// of the request unless `NLM_F_CAPPED`), then, if `NLM_F_ACK_TLVS`, the
/// attributes.
pub(crate) fn ext_ack_text(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    let echoed = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        let len: [u8; 4] = payload.get(..4)?.try_into().ok()?;
        align4(u32::from_ne_bytes(len) as usize)
    };
    for nla in NlasIterator::new(payload.get(echoed..)?) {
        let nla = nla.ok()?;
        if nla.kind() == NLMSGERR_ATTR_MSG {
            let text = nla.value();
            let text = text.split(|&b| b == 0).next().unwrap_or(text);
            return Some(String::from_utf8_lossy(text).into_owned());
        }
    }
    None
}

/// What a learner can do when a netlink request fails: the `net` part of
/// the workshop's troubleshooting table.
// ANCHOR: hints
pub(crate) fn hint(name: &str, errno: Errno) -> Option<&'static str> {
    use Errno::*;
    Some(match (name, errno) {
        (_, EPERM | EACCES) => {
            "configuring links, addresses and routes needs CAP_NET_ADMIN: run as root (sudo -E)"
        }
        ("netlink RTM_NEWLINK", EOPNOTSUPP) => {
            "this kernel has no veth driver loaded: `modprobe veth` (CONFIG_VETH), \
             or run with --network none"
        }
        ("netlink RTM_NEWLINK", ESRCH) => {
            "no process with that pid: the container exited before its network was set up"
        }
        ("netlink RTM_NEWLINK", EEXIST) => "a link with that name already exists in that namespace",
        ("netlink RTM_GETLINK" | "netlink RTM_SETLINK" | "netlink RTM_DELLINK", ENODEV) => {
            "no link of that name in this network namespace"
        }
        ("netlink RTM_NEWADDR", EEXIST) => "the link already has this address",
        ("netlink RTM_NEWROUTE", EEXIST) => "this namespace already has a default route",
        ("netlink RTM_NEWROUTE", ENETUNREACH) => {
            "the gateway is on no subnet of an up link: give eth0 its address and IFF_UP first"
        }
        _ => return None,
    })
}
// ANCHOR_END: hints

// ---- The messages. Each builder returns what `request` sends. ----

/// `RTM_NEWLINK` for a veth pair: `host` here, `peer` created directly in
/// the network namespace of process `peer_netns_pid`.
// ANCHOR: new_veth
pub(crate) fn new_veth(host: &str, peer: &str, peer_netns_pid: u32) -> RouteNetlinkMessage {
    // The peer is described by a whole ifinfomsg of its own, nested in
    // VETH_INFO_PEER. IFLA_NET_NS_PID there makes the kernel register the
    // peer in that namespace from the start, and look its name up there.
    let mut peer_msg = LinkMessage::default();
    peer_msg.attributes = vec![
        LinkAttribute::IfName(peer.to_owned()),
        LinkAttribute::NetNsPid(peer_netns_pid),
    ];
    let mut msg = LinkMessage::default();
    msg.attributes = vec![
        LinkAttribute::IfName(host.to_owned()),
        LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]),
    ];
    RouteNetlinkMessage::NewLink(msg)
}
// ANCHOR_END: new_veth

/// `RTM_GETLINK` for one link, by name: the answer is an `RTM_NEWLINK`.
pub(crate) fn get_link(name: &str) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes = vec![LinkAttribute::IfName(name.to_owned())];
    RouteNetlinkMessage::GetLink(msg)
}

/// `RTM_GETLINK` with `NLM_F_DUMP`: every link of the namespace.
pub(crate) fn dump_links() -> RouteNetlinkMessage {
    RouteNetlinkMessage::GetLink(LinkMessage::default())
}

/// `RTM_DELLINK` by name. For a veth, both ends go.
pub(crate) fn del_link(name: &str) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes = vec![LinkAttribute::IfName(name.to_owned())];
    RouteNetlinkMessage::DelLink(msg)
}

/// `RTM_SETLINK` that sets `IFF_UP`: the change mask says which flags to
/// touch, so the others stay as they are. `index` 0 means "by name".
// ANCHOR: set_up
pub(crate) fn set_up(index: u32, name: &str) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    if index == 0 {
        msg.attributes = vec![LinkAttribute::IfName(name.to_owned())];
    }
    RouteNetlinkMessage::SetLink(msg)
}
// ANCHOR_END: set_up

/// `RTM_NEWADDR`: `addr/prefix` on link `index`. For IPv4, `IFA_LOCAL` is the
/// address itself; `IFA_ADDRESS` is the peer on point-to-point links, and
/// the same address on all others. The kernel adds the subnet's route.
// ANCHOR: new_addr
pub(crate) fn new_addr(index: u32, addr: Ipv4Addr, prefix: u8) -> RouteNetlinkMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = prefix;
    msg.header.index = index;
    msg.attributes = vec![
        AddressAttribute::Local(addr.into()),
        AddressAttribute::Address(addr.into()),
    ];
    RouteNetlinkMessage::NewAddress(msg)
}
// ANCHOR_END: new_addr

/// `RTM_NEWROUTE`: the default route (destination 0.0.0.0/0) via `gateway`
/// out of link `index`, in the main table.
// ANCHOR: default_route
pub(crate) fn default_route(index: u32, gateway: Ipv4Addr) -> RouteNetlinkMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.destination_prefix_length = 0;
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::Static;
    msg.header.scope = RouteScope::Universe;
    msg.header.kind = RouteType::Unicast;
    msg.attributes = vec![
        RouteAttribute::Gateway(RouteAddress::Inet(gateway)),
        RouteAttribute::Oif(index),
    ];
    RouteNetlinkMessage::NewRoute(msg)
}
// ANCHOR_END: default_route

/// The name of a link in an `RTM_NEWLINK` answer.
pub(crate) fn link_name(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

/// The ifindex in the answer to [`get_link`].
pub(crate) fn index_of(replies: &[RouteNetlinkMessage]) -> Option<u32> {
    replies.iter().find_map(|m| match m {
        RouteNetlinkMessage::NewLink(link) => Some(link.header.index),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emitted(message: RouteNetlinkMessage) -> Vec<u8> {
        let mut packet =
            NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(message));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        bytes
    }

    /// Finds `needle` in `hay`, so that tests can say "this attribute is in there".
    fn position(hay: &[u8], needle: &[u8]) -> Option<usize> {
        hay.windows(needle.len()).position(|w| w == needle)
    }

    #[test]
    fn the_veth_peer_carries_its_name_and_netns_pid_nested_in_linkinfo() {
        let bytes = emitted(new_veth("wsv12", "eth0", 4242));
        // nlmsghdr type 16 = RTM_NEWLINK
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 16);
        let kind = position(&bytes, b"veth\0").expect("IFLA_INFO_KIND \"veth\"");
        let peer_name = position(&bytes, b"eth0\0").expect("the peer's IFLA_IFNAME");
        let host_name = position(&bytes, b"wsv12\0").expect("the host end's IFLA_IFNAME");
        assert!(host_name < kind && kind < peer_name, "{bytes:?}");
        // IFLA_NET_NS_PID (19), 8 bytes long, value 4242, after the peer's name
        let mut pid_attr = vec![8, 0, 19, 0];
        pid_attr.extend_from_slice(&4242u32.to_ne_bytes());
        let pid = position(&bytes, &pid_attr).expect("IFLA_NET_NS_PID in the peer");
        assert!(pid > peer_name);
        // and it decodes back to the same message
        let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).unwrap();
        assert_eq!(
            back.payload,
            NetlinkPayload::InnerMessage(new_veth("wsv12", "eth0", 4242))
        );
    }

    #[test]
    fn set_up_changes_only_iff_up() {
        let RouteNetlinkMessage::SetLink(msg) = set_up(7, "ignored") else {
            panic!("not RTM_SETLINK")
        };
        assert_eq!(msg.header.index, 7);
        assert_eq!(msg.header.flags.bits(), libc::IFF_UP as u32);
        assert_eq!(msg.header.change_mask.bits(), libc::IFF_UP as u32);
        assert!(msg.attributes.is_empty(), "by index: no name needed");
        let RouteNetlinkMessage::SetLink(by_name) = set_up(0, "lo") else {
            panic!("not RTM_SETLINK")
        };
        assert_eq!(link_name(&by_name), Some("lo"));
    }

    #[test]
    fn address_and_route_messages_carry_what_the_kernel_needs() {
        let addr = emitted(new_addr(3, Ipv4Addr::new(10, 200, 0, 50), 30));
        assert_eq!(u16::from_ne_bytes([addr[4], addr[5]]), 20); // RTM_NEWADDR
        assert_eq!(addr[16], libc::AF_INET as u8);
        assert_eq!(addr[17], 30); // prefix length
        assert_eq!(&addr[20..24], &3u32.to_ne_bytes()); // ifindex
        // IFA_LOCAL (2) and IFA_ADDRESS (1), both 10.200.0.50
        assert!(position(&addr, &[8, 0, 2, 0, 10, 200, 0, 50]).is_some());
        assert!(position(&addr, &[8, 0, 1, 0, 10, 200, 0, 50]).is_some());

        let route = emitted(default_route(3, Ipv4Addr::new(10, 200, 0, 49)));
        assert_eq!(u16::from_ne_bytes([route[4], route[5]]), 24); // RTM_NEWROUTE
        assert_eq!(route[17], 0, "destination prefix 0: the default route");
        assert_eq!(route[20], 254, "table main");
        assert_eq!(route[23], 1, "RTN_UNICAST");
        // RTA_GATEWAY (5) and RTA_OIF (4)
        assert!(position(&route, &[8, 0, 5, 0, 10, 200, 0, 49]).is_some());
        let mut oif = vec![8, 0, 4, 0];
        oif.extend_from_slice(&3u32.to_ne_bytes());
        assert!(position(&route, &oif).is_some());
    }

    /// An NLMSG_ERROR as the kernel sends it, around `code` and `tlvs`.
    fn error_datagram(seq: u32, code: i32, flags: u16, tlvs: &[u8]) -> Vec<u8> {
        let mut payload = code.to_ne_bytes().to_vec();
        // the echoed request header (capped): len 32, RTM_NEWLINK, flags, seq, port
        payload.extend_from_slice(&32u32.to_ne_bytes());
        payload.extend_from_slice(&16u16.to_ne_bytes());
        payload.extend_from_slice(&5u16.to_ne_bytes());
        payload.extend_from_slice(&seq.to_ne_bytes());
        payload.extend_from_slice(&0u32.to_ne_bytes());
        payload.extend_from_slice(tlvs);
        let mut msg = ((16 + payload.len()) as u32).to_ne_bytes().to_vec();
        msg.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&payload);
        msg
    }

    #[test]
    fn an_ack_ends_the_answer_and_an_error_carries_errno_and_the_kernels_words() {
        let mut replies = Vec::new();
        let ack = error_datagram(7, 0, NLM_F_CAPPED, &[]);
        assert_eq!(parse_datagram(&ack, 7, &mut replies), Ok(Some(Ok(()))));

        // NLMSGERR_ATTR_MSG "Unknown device type\0", padded to 4 bytes
        let text = b"Unknown device type\0";
        let mut tlv = ((4 + text.len()) as u16).to_ne_bytes().to_vec();
        tlv.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        tlv.extend_from_slice(text);
        tlv.resize(align4(tlv.len()), 0);
        let nack = error_datagram(8, -libc::EOPNOTSUPP, NLM_F_CAPPED | NLM_F_ACK_TLVS, &tlv);
        assert_eq!(
            parse_datagram(&nack, 8, &mut replies),
            Ok(Some(Err(Failure {
                errno: Errno::EOPNOTSUPP,
                kernel_says: Some("Unknown device type".into()),
            })))
        );
        // an answer to another request is not ours
        assert_eq!(parse_datagram(&nack, 9, &mut replies), Ok(None));
        assert!(replies.is_empty());
    }

    #[test]
    fn ext_ack_text_skips_a_whole_echoed_request_when_not_capped() {
        let text = b"hello\0\0\0";
        let mut payload = 20u32.to_ne_bytes().to_vec(); // echoed request of 20 bytes
        payload.resize(20, 0);
        payload.extend_from_slice(&((4 + 6) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        assert_eq!(ext_ack_text(NLM_F_ACK_TLVS, &payload), Some("hello".into()));
        assert_eq!(ext_ack_text(0, &payload), None);
    }

    #[test]
    fn hints_name_the_fix() {
        assert!(
            hint("netlink RTM_NEWLINK", Errno::EOPNOTSUPP)
                .unwrap()
                .contains("modprobe veth")
        );
        assert!(
            hint("netlink RTM_NEWADDR", Errno::EPERM)
                .unwrap()
                .contains("root")
        );
        assert_eq!(hint("netlink RTM_NEWADDR", Errno::EIO), None);
    }
}
