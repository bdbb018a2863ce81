use super::*;

const LO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// `n` consecutive ports that were free a moment ago.
fn free_range(n: u16) -> (u16, u16) {
    // Ask the kernel for a port, then take the block of n around it that binds whole.
    for _ in 0..100 {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port().clamp(10_000, 60_000) & !0x3FF;
        drop(probe);
        let held: Vec<_> = (base..base + n)
            .map(|p| UdpSocket::bind(SocketAddr::new(LO, p)))
            .collect();
        if held.iter().all(Result::is_ok) {
            return (base, base + n - 1);
        }
    }
    panic!("no block of {n} free ports");
}

#[test]
fn a_live_session_port_cannot_be_taken_by_another_socket() {
    let pool = PortPool::new(1, 65_535);
    let (_session, port) = pool.bind(LO).unwrap();
    // Even a socket that asks for SO_REUSEADDR cannot bind it.
    assert!(callrec_platform::udp::bind(SocketAddr::new(LO, port)).is_err());
}

#[test]
fn ports_are_drawn_at_random_and_each_once() {
    let (lo, hi) = free_range(512);
    let pool = PortPool::new(lo, hi);
    // The sockets stay bound for the test's length.
    let (_sockets, drawn): (Vec<UdpSocket>, Vec<u16>) =
        (0..64).map(|_| pool.bind(LO).unwrap()).unzip();
    let mut sorted = drawn.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 64, "a port handed out twice");
    assert!(drawn.iter().all(|p| (lo..=hi).contains(p)));
    // In order, or all from one end of the range, only if the draw is not random (each has a
    // chance far below 2^-60).
    assert!(drawn.windows(2).any(|w| w[1] < w[0]), "{drawn:?}");
    assert!(drawn.windows(2).any(|w| w[1] > w[0]), "{drawn:?}");
    let low_half = drawn.iter().filter(|&&p| p < lo + 256).count();
    assert!((1..64).contains(&low_half), "{drawn:?}");
}

#[test]
fn a_freed_port_rests_until_quiet() {
    let (lo, hi) = free_range(2);
    let pool = PortPool::new(lo, hi);
    let (a, pa) = pool.bind_at(LO, 0).unwrap();
    let (_b, pb) = pool.bind_at(LO, 0).unwrap();
    assert_ne!(pa, pb);
    drop(a);
    pool.free_at(pa, 1000);
    assert_eq!((pool.in_use(), pool.resting()), (1, 1));
    // Even a quiet port is not handed out before QUIET has passed.
    pool.sweep_at(1000 + ms(QUIET) - 1);
    assert_eq!(pool.bind_at(LO, 0).err(), Some(PortError::Exhausted));
    pool.sweep_at(1000 + ms(QUIET));
    let (_a, again) = pool.bind_at(LO, 0).unwrap();
    assert_eq!(again, pa);
    assert_eq!(pool.resting(), 0);
}

#[test]
fn a_port_still_receiving_is_not_handed_out() {
    let (lo, hi) = free_range(2);
    let pool = PortPool::new(lo, hi);
    let (a, pa) = pool.bind_at(LO, 0).unwrap();
    let (_b, _pb) = pool.bind_at(LO, 0).unwrap();
    drop(a);
    pool.free_at(pa, 0);
    // The old call's sender goes on for 20 s (a datagram before each sweep): the port rests
    // all that time, so with the other one in use there is none to draw.
    let stale = UdpSocket::bind("127.0.0.1:0").unwrap();
    for t in 1..=20 {
        stale.send_to(&[0x80; 172], (LO, pa)).unwrap();
        pool.sweep_at(t * 1000);
        assert_eq!(pool.resting(), 1, "at {t} s");
        assert_eq!(pool.bind_at(LO, t * 1000).err(), Some(PortError::Exhausted));
    }
    // The sender stops: the port comes back after QUIET of silence, not before.
    pool.sweep_at(20_000 + ms(QUIET) - 1);
    assert_eq!(pool.resting(), 1);
    pool.sweep_at(20_000 + ms(QUIET));
    assert_eq!(pool.resting(), 0);
    assert_eq!(pool.bind_at(LO, 26_000).unwrap().1, pa);
}

#[test]
fn a_port_another_program_holds_is_skipped_and_tried_later() {
    let (lo, hi) = free_range(2);
    let pool = PortPool::new(lo, hi);
    let squatter = UdpSocket::bind(SocketAddr::new(LO, lo)).unwrap();
    let (_a, pa) = pool.bind_at(LO, 0).unwrap();
    assert_eq!(pa, hi);
    assert_eq!(pool.bind_at(LO, 0).err(), Some(PortError::Exhausted));
    drop(squatter);
    pool.sweep_at(ms(FOREIGN_RETRY) - 1);
    assert_eq!(pool.bind_at(LO, 0).err(), Some(PortError::Exhausted));
    pool.sweep_at(ms(FOREIGN_RETRY));
    assert_eq!(pool.bind_at(LO, 0).unwrap().1, lo);
}

#[test]
fn freeing_twice_or_a_port_never_handed_out_changes_nothing() {
    let (lo, hi) = free_range(2);
    let pool = PortPool::new(lo, hi);
    let (a, pa) = pool.bind_at(LO, 0).unwrap();
    drop(a);
    pool.free_at(pa, 0);
    pool.free_at(pa, 0);
    pool.free_at(1, 0);
    assert_eq!((pool.in_use(), pool.resting()), (0, 1));
}
