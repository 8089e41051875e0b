//! The `net` module against the real kernel: needs root, fails saying so.
//!
//! Each test forks "containers": children that `unshare(CLONE_NEWNET)`, tell
//! the parent over a socketpair, and do what the parent asks. The parent
//! plays the runtime (`setup_host`, `wait_host_end_gone`) and looks from the
//! host with getifaddrs(3) and if_nametoindex(3), which share no code with
//! the module; the children look from inside (`/proc/self/net`, sockets).
//! Whatever fails, the guards kill the children and make sure no `wsv` link
//! of ours survives.
//!
//! Traffic stays on this machine: between a namespace these tests create and
//! the host end of its veth pair.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::net::if_::{InterfaceFlags, if_nametoindex};
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};
use step04::net::{self, Lease, Teardown};

/// Forking from several test threads at once is asking for trouble:
/// the tests of this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const TIMEOUT: Duration = Duration::from_secs(10);

fn serial() -> std::sync::MutexGuard<'static, ()> {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the net_veth tests create network namespaces and links: they need root \
         (CAP_SYS_ADMIN, CAP_NET_ADMIN); run `sudo -E cargo test -p step04 --test net_veth`"
    );
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A forked child in a network namespace of its own. Dropping it kills
/// and reaps the child, then makes sure its host end is gone.
struct Container {
    pid: Pid,
    sock: UnixStream,
    reaped: bool,
    lease: Option<Lease>,
}

impl Container {
    /// Forks a child that unshares its network namespace, says `R`, then
    /// runs `body` with its end of the socketpair and `_exit`s with its result.
    fn spawn(body: fn(&mut UnixStream) -> Result<(), String>) -> Container {
        let (parent, mut child) = UnixStream::pair().expect("socketpair");
        // SAFETY: the child only runs `child_main`, which never returns into
        // the test harness: it ends with _exit whatever happens.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                drop(parent);
                child_main(&mut child, body)
            }
            ForkResult::Parent { child: pid } => {
                drop(child);
                parent.set_read_timeout(Some(TIMEOUT)).unwrap();
                let mut c = Container {
                    pid,
                    sock: parent,
                    reaped: false,
                    lease: None,
                };
                let mut ready = [0u8];
                c.sock
                    .read_exact(&mut ready)
                    .expect("the child did not report its new network namespace");
                assert_eq!(&ready, b"R", "child failed to unshare(CLONE_NEWNET)");
                c
            }
        }
    }

    /// The child's verdict: "ok" or what it found wrong.
    fn verdict(&mut self) -> String {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while self
            .sock
            .read(&mut byte)
            .expect("reading the child's verdict")
            == 1
        {
            if byte[0] == b'\n' {
                break;
            }
            line.push(byte[0]);
        }
        String::from_utf8_lossy(&line).into_owned()
    }

    /// Lets the child end and reaps it; returns its exit code.
    fn finish(&mut self) -> i32 {
        let _ = self.sock.write_all(b"X");
        let status = waitpid(self.pid, None).expect("waitpid");
        self.reaped = true;
        match status {
            WaitStatus::Exited(_, code) => code,
            other => panic!("child ended oddly: {other:?}"),
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
        if let Some(lease) = self.lease.take() {
            if link_exists(&lease.host_ifname()) {
                // With the child dead, its namespace and so the pair go away.
                let _ = net::wait_host_end_gone(&lease);
            }
        }
    }
}

fn child_main(sock: &mut UnixStream, body: fn(&mut UnixStream) -> Result<(), String>) -> ! {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
        sock.write_all(b"R").map_err(|e| e.to_string())?;
        body(sock)
    }));
    let verdict = match result {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(why)) => why,
        Err(_) => "the child panicked".to_owned(),
    };
    let _ = sock.write_all(format!("{}\n", verdict.replace('\n', " ")).as_bytes());
    // Stay until the parent has looked from the host and says so.
    let _ = sock.set_read_timeout(Some(TIMEOUT));
    let _ = sock.read(&mut [0u8]);
    // SAFETY: ends this forked process without running the harness's exit path.
    unsafe { libc::_exit(if verdict == "ok" { 0 } else { 1 }) }
}

fn link_exists(name: &str) -> bool {
    if_nametoindex(name).is_ok()
}

/// The host's addresses of link `name`, with whether the link is up.
fn host_addresses(name: &str) -> (Vec<Ipv4Addr>, bool) {
    let mut addrs = Vec::new();
    let mut up = false;
    for ifa in nix::ifaddrs::getifaddrs().expect("getifaddrs") {
        if ifa.interface_name != name {
            continue;
        }
        up |= ifa.flags.contains(InterfaceFlags::IFF_UP);
        if let Some(sin) = ifa.address.as_ref().and_then(|a| a.as_sockaddr_in()) {
            addrs.push(sin.ip());
        }
    }
    (addrs, up)
}

/// Link names in this process's network namespace, from /proc/self/net/dev.
fn links_inside() -> Result<Vec<String>, String> {
    let dev = std::fs::read_to_string("/proc/self/net/dev").map_err(|e| e.to_string())?;
    let mut names: Vec<String> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// The default route's (interface, gateway), from /proc/self/net/route.
fn default_route_inside() -> Result<Option<(String, Ipv4Addr)>, String> {
    let routes = std::fs::read_to_string("/proc/self/net/route").map_err(|e| e.to_string())?;
    for line in routes.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 7 && f[1] == "00000000" && f[7] == "00000000" {
            // The kernel prints the address as a native-endian u32 in hex.
            let gw = u32::from_str_radix(f[2], 16).map_err(|e| e.to_string())?;
            return Ok(Some((f[0].to_owned(), Ipv4Addr::from(gw.to_ne_bytes()))));
        }
    }
    Ok(None)
}

/// Loopback works only once `lo` is up: connect to ourselves.
fn loopback_works() -> Result<(), String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1: {e}"))?;
    let addr = l.local_addr().map_err(|e| e.to_string())?;
    TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map(drop)
        .map_err(|e| format!("connect to {addr} on lo: {e}"))
}

/// Inside, with a lease: set up, then check everything from the inside and
/// reach the parent's listener on the host end.
fn veth_child(sock: &mut UnixStream) -> Result<(), String> {
    let mut wire = [0u8; Lease::WIRE_LEN + 2];
    sock.read_exact(&mut wire)
        .map_err(|e| format!("reading the lease: {e}"))?;
    let lease = Lease::from_bytes(wire[..Lease::WIRE_LEN].try_into().unwrap());
    let port = u16::from_be_bytes([wire[Lease::WIRE_LEN], wire[Lease::WIRE_LEN + 1]]);

    net::setup_container(Some(&lease)).map_err(|e| format!("setup_container: {e}"))?;

    let links = links_inside()?;
    if links != ["eth0", "lo"] {
        return Err(format!("links inside are {links:?}, want eth0 and lo"));
    }
    match default_route_inside()? {
        Some((dev, gw)) if dev == "eth0" && gw == lease.host => {}
        other => {
            return Err(format!(
                "default route inside is {other:?}, want eth0 via {}",
                lease.host
            ));
        }
    }
    loopback_works()?;
    let host = SocketAddr::from((lease.host, port));
    let mut conn = TcpStream::connect_timeout(&host, Duration::from_secs(3))
        .map_err(|e| format!("connect to the host end {host}: {e}"))?;
    conn.write_all(b"hello from eth0")
        .map_err(|e| format!("write to {host}: {e}"))
}

/// Accepts one connection within the timeout.
fn accept_within(listener: &TcpListener, timeout: Duration) -> (TcpStream, SocketAddr) {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((s, peer)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(timeout)).unwrap();
                return (s, peer);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "no connection from the container"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn a_container_reaches_the_host_end_and_the_pair_goes_with_its_namespace() {
    let _serial = serial();
    let mut c = Container::spawn(veth_child);
    let lease = net::setup_host(c.pid).expect("setup_host");
    c.lease = Some(lease);
    let name = lease.host_ifname();

    // From the host: wsv<i> exists, is up, and has 10.200.x.1.
    let (addrs, up) = host_addresses(&name);
    assert_eq!(addrs, [lease.host], "addresses of {name}");
    assert!(up, "{name} is not up");
    assert!(lease.host.octets()[..2] == [10, 200], "{lease}");
    assert_eq!(u32::from(lease.container), u32::from(lease.host) + 1);
    // The host keeps its own eth0 (if it has one): the peer's name was
    // looked up inside the container's namespace only.
    let host_eth0_before = link_exists("eth0");

    let listener = TcpListener::bind((lease.host, 0)).expect("listen on the host end");
    let port = listener.local_addr().unwrap().port();
    let mut wire = lease.to_bytes().to_vec();
    wire.extend_from_slice(&port.to_be_bytes());
    c.sock.write_all(&wire).unwrap();

    let (mut conn, peer) = accept_within(&listener, TIMEOUT);
    let mut said = String::new();
    let _ = conn.read_to_string(&mut said);
    let verdict = c.verdict();
    assert_eq!(verdict, "ok", "the child found");
    assert_eq!(said, "hello from eth0");
    assert_eq!(
        peer.ip(),
        std::net::IpAddr::V4(lease.container),
        "the connection came from eth0"
    );
    assert_eq!(link_exists("eth0"), host_eth0_before);

    assert_eq!(c.finish(), 0);
    let teardown = net::wait_host_end_gone(&lease).expect("wait_host_end_gone");
    assert!(
        matches!(teardown, Teardown::WithNamespace { .. }),
        "the kernel should have deleted {name} with the namespace: {teardown:?}"
    );
    assert!(!link_exists(&name), "{name} lingers");
}

#[test]
fn network_none_has_only_lo_and_it_is_up() {
    let _serial = serial();
    let mut c = Container::spawn(|_| {
        net::setup_container(None).map_err(|e| format!("setup_container(None): {e}"))?;
        let links = links_inside()?;
        if links != ["lo"] {
            return Err(format!("links inside are {links:?}, want only lo"));
        }
        if let Some(route) = default_route_inside()? {
            return Err(format!("a default route exists: {route:?}"));
        }
        loopback_works()
    });
    assert_eq!(c.verdict(), "ok", "the child found");
    assert_eq!(c.finish(), 0);
}

#[test]
fn lo_is_down_in_a_fresh_namespace_so_the_none_test_has_teeth() {
    let _serial = serial();
    let mut c = Container::spawn(|_| match loopback_works() {
        Ok(()) => Err("127.0.0.1 answered before lo was brought up".into()),
        Err(_) => Ok(()),
    });
    assert_eq!(c.verdict(), "ok", "the child found");
    assert_eq!(c.finish(), 0);
}

/// The child just waits: it only has to hold a network namespace.
fn idle_child(_: &mut UnixStream) -> Result<(), String> {
    Ok(())
}

#[test]
fn two_containers_at_once_get_different_subnets() {
    let _serial = serial();
    let mut a = Container::spawn(idle_child);
    let mut b = Container::spawn(idle_child);
    // Both threads start at the same index (same pid): one of them must
    // meet EEXIST and move on.
    let (la, lb) = std::thread::scope(|s| {
        let ta = s.spawn(|| net::setup_host(a.pid));
        let tb = s.spawn(|| net::setup_host(b.pid));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    a.lease = la.as_ref().ok().copied();
    b.lease = lb.as_ref().ok().copied();
    let (la, lb) = (la.expect("setup_host a"), lb.expect("setup_host b"));
    eprintln!("leases: {la} and {lb}");
    assert_ne!(la.index, lb.index);
    assert_ne!(la.network(), lb.network());
    for lease in [la, lb] {
        assert_eq!(host_addresses(&lease.host_ifname()).0, [lease.host]);
    }
    assert_eq!(a.verdict(), "ok");
    assert_eq!(b.verdict(), "ok");
    assert_eq!(a.finish(), 0);
    assert_eq!(b.finish(), 0);
    for lease in [la, lb] {
        net::wait_host_end_gone(&lease).expect("wait_host_end_gone");
        assert!(!link_exists(&lease.host_ifname()));
    }
}

#[test]
fn a_namespace_kept_alive_is_cut_off_after_the_bound() {
    let _serial = serial();
    let mut c = Container::spawn(idle_child);
    let lease = net::setup_host(c.pid).expect("setup_host");
    c.lease = Some(lease);
    // An open fd of the child's netns keeps the namespace, and so the pair, alive.
    let ns: OwnedFd = std::fs::File::open(format!("/proc/{}/ns/net", c.pid))
        .expect("open the child's netns")
        .into();
    assert_eq!(c.verdict(), "ok");
    assert_eq!(c.finish(), 0);
    let start = Instant::now();
    let teardown = net::wait_host_end_gone(&lease).expect("wait_host_end_gone");
    assert_eq!(teardown, Teardown::Deleted);
    assert!(start.elapsed() >= net::TEARDOWN_BOUND);
    assert!(!link_exists(&lease.host_ifname()));
    let _ = ns.as_fd();
}

#[test]
fn a_killed_container_takes_its_host_end_along() {
    let _serial = serial();
    let mut c = Container::spawn(idle_child);
    let lease = net::setup_host(c.pid).expect("setup_host");
    c.lease = Some(lease);
    kill(c.pid, Signal::SIGKILL).unwrap();
    waitpid(c.pid, None).unwrap();
    c.reaped = true;
    let teardown = net::wait_host_end_gone(&lease).expect("wait_host_end_gone");
    assert!(
        matches!(teardown, Teardown::WithNamespace { .. }),
        "{teardown:?}"
    );
    assert!(!link_exists(&lease.host_ifname()));
}

/// `reset` deletes every `wsv<digits>` link of its namespace, so it runs
/// in a namespace of its own here: the host's links, and those of
/// containers running meanwhile, are out of its reach.
fn reset_child(_: &mut UnixStream) -> Result<(), String> {
    let (mut inner, mut outer) = UnixStream::pair().map_err(|e| e.to_string())?;
    // SAFETY: the grandchild only unshares, reports and waits, then _exits.
    let grandchild = match unsafe { fork() }.map_err(|e| e.to_string())? {
        ForkResult::Child => {
            let ok = unshare(CloneFlags::CLONE_NEWNET).is_ok() && inner.write_all(b"R").is_ok();
            let _ = inner.read(&mut [0u8]);
            // SAFETY: ends the forked process at once.
            unsafe { libc::_exit(i32::from(!ok)) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(inner);
    let result = (|| {
        let mut ready = [0u8];
        outer.read_exact(&mut ready).map_err(|e| e.to_string())?;
        let lease = net::setup_host(grandchild).map_err(|e| format!("setup_host: {e}"))?;
        let name = lease.host_ifname();
        if !link_exists(&name) {
            return Err(format!("{name} was not created"));
        }
        let deleted = net::reset().map_err(|e| format!("reset: {e}"))?;
        if deleted != [name.clone()] {
            return Err(format!("reset deleted {deleted:?}, want [{name:?}]"));
        }
        if link_exists(&name) {
            return Err(format!("{name} survived reset"));
        }
        if !link_exists("lo") {
            return Err("reset deleted lo".into());
        }
        let again = net::reset().map_err(|e| format!("reset: {e}"))?;
        if !again.is_empty() {
            return Err(format!("a second reset deleted {again:?}"));
        }
        Ok(())
    })();
    let _ = kill(grandchild, Signal::SIGKILL);
    let _ = waitpid(grandchild, None);
    result
}

#[test]
fn reset_deletes_host_ends_and_nothing_else() {
    let _serial = serial();
    let mut c = Container::spawn(reset_child);
    assert_eq!(c.verdict(), "ok", "the child found");
    assert_eq!(c.finish(), 0);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(what: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = percentile(&samples, 0.5);
    eprintln!(
        "{what} ({} runs): median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        samples.len(),
        ms(median),
        ms(percentile(&samples, 0.95)),
        ms(samples[samples.len() - 1])
    );
    median
}

/// The figures for the chapter: `cargo test -p step04 --test net_veth
/// -- --nocapture timings` prints them. Every other container exits at
/// once, the others live 50 ms: the kernel dismantles a network namespace
/// that dies within some 40 ms of its birth much more slowly.
#[test]
fn timings_of_setup_and_teardown() {
    let _serial = serial();
    const RUNS: usize = 60;
    let mut setup = Vec::new();
    let mut at_once = Vec::new();
    let mut after_50ms = Vec::new();
    for run in 0..RUNS {
        let mut c = Container::spawn(idle_child);
        let t0 = Instant::now();
        let lease = net::setup_host(c.pid).expect("setup_host");
        setup.push(t0.elapsed());
        c.lease = Some(lease);
        assert_eq!(c.verdict(), "ok");
        let lived_long = run % 2 == 1;
        if lived_long {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(c.finish(), 0);
        match net::wait_host_end_gone(&lease).expect("wait_host_end_gone") {
            Teardown::WithNamespace { after } if lived_long => after_50ms.push(after),
            Teardown::WithNamespace { after } => at_once.push(after),
            Teardown::Deleted => panic!("{} outlived its namespace", lease.host_ifname()),
        }
    }
    summary("setup_host", setup);
    let slow = summary("host end gone, container exited at once", at_once);
    let fast = summary("host end gone, container lived 50 ms", after_50ms);
    assert!(slow < net::TEARDOWN_BOUND && fast < net::TEARDOWN_BOUND);
}
