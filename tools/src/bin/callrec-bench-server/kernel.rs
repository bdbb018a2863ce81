//! What the kernel says of the server and of the machine during a level, beyond the shared
//! `procfs` readings: each thread's CPU time and scheduler state (`/proc/PID/task/TID/stat`,
//! `wchan`), the UDP counters (`/proc/net/snmp`), the input backlogs' drops
//! (`/proc/net/softnet_stat`), every UDP socket's drops and receive queue (`/proc/net/udp`),
//! the page cache's dirty and writeback memory (`/proc/meminfo`), pressure stall totals
//! (`/proc/pressure/*`) and CPU steal (`/proc/stat`). Each file is read by a function and
//! parsed by a pure one, tested with sample text.

use callrec_tools::error::{Context, ToolError};
use callrec_tools::procfs::clock_ticks;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

fn read(path: &str) -> Result<String, ToolError> {
    std::fs::read_to_string(path).context(|| format!("reading {path}"))
}

/// One live thread of a process.
#[derive(Debug, Clone, PartialEq)]
pub struct Thread {
    /// `name/tid`: unique, and the name is what the report shows.
    pub key: String,
    pub name: String,
    /// The scheduler state: `R`, `S`, `D`, …
    pub state: String,
    /// utime + stime, in seconds.
    pub cpu_s: f64,
    /// Where it waits (`/proc/PID/task/TID/wchan`), read only in state `D` when asked for.
    pub wchan: String,
}

/// Name, state and utime + stime (clock ticks) of a `stat` line; the name may hold spaces and
/// parentheses, so the fields are split after its last `)`.
pub fn parse_task_stat(stat: &str) -> Option<(String, String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // fields[0] is field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((name, fields.first()?.to_string(), ticks))
}

/// Every live thread of `pid`; a thread that ends meanwhile is left out.
pub fn threads(pid: u32, wchan: bool) -> Result<Vec<Thread>, ToolError> {
    let dir = format!("/proc/{pid}/task");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).context(|| format!("reading {dir}"))? {
        let Ok(entry) = entry else { continue };
        let tid = entry.file_name().to_string_lossy().into_owned();
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((name, state, ticks)) = parse_task_stat(&stat) else {
            continue;
        };
        let wchan = if wchan && state == "D" {
            match std::fs::read_to_string(entry.path().join("wchan")) {
                Ok(w) => w.trim().to_string(),
                Err(_) => continue,
            }
        } else {
            String::new()
        };
        out.push(Thread {
            key: format!("{name}/{tid}"),
            name,
            state,
            cpu_s: ticks as f64 / clock_ticks(),
            wchan,
        });
    }
    Ok(out)
}

/// Each live thread's CPU seconds by `name/tid`.
pub fn threads_cpu(pid: u32) -> Result<BTreeMap<String, f64>, ToolError> {
    Ok(threads(pid, false)?
        .into_iter()
        .map(|t| (t.key, t.cpu_s))
        .collect())
}

/// The `Udp:` counters of `/proc/net/snmp` (a line of names, then a line of values).
pub fn parse_udp_snmp(text: &str) -> Option<BTreeMap<String, i64>> {
    let mut rows = text.lines().filter(|l| l.starts_with("Udp:"));
    let names = rows.next()?.split_whitespace().skip(1);
    let values = rows.next()?.split_whitespace().skip(1);
    names
        .zip(values)
        .map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

pub fn udp_snmp() -> Result<BTreeMap<String, i64>, ToolError> {
    let text = read("/proc/net/snmp")?;
    parse_udp_snmp(&text).ok_or_else(|| ToolError::setup("/proc/net/snmp: no Udp: counters"))
}

/// Packets the per-CPU input backlogs dropped (netdev_max_backlog), all CPUs: the second
/// (hexadecimal) field of each line.
pub fn parse_softnet_dropped(text: &str) -> Option<u64> {
    text.lines()
        .map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .sum()
}

pub fn softnet_dropped() -> Result<u64, ToolError> {
    let text = read("/proc/net/softnet_stat")?;
    parse_softnet_dropped(&text)
        .ok_or_else(|| ToolError::setup("/proc/net/softnet_stat: unexpected"))
}

/// One line of `/proc/net/udp`: a socket's local address, owner and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UdpSock {
    pub port: u16,
    pub addr: Ipv4Addr,
    /// The socket's inode: what tells two sockets apart, and what `/proc/PID/fd` links name.
    pub inode: u64,
    pub uid: u32,
    /// Bytes queued for reading (as the kernel counts them: with overhead).
    pub rx_queue: u64,
    pub drops: u64,
}

impl UdpSock {
    /// Whether a datagram for one could be delivered to the other: the same port, and the same
    /// address or either bound to every address.
    pub fn overlaps(&self, other: &UdpSock) -> bool {
        self.port == other.port
            && (self.addr == other.addr
                || self.addr.is_unspecified()
                || other.addr.is_unspecified())
    }
}

/// Every socket line of `/proc/net/udp` (the header skipped).
pub fn parse_udp_lines(text: &str) -> Option<Vec<UdpSock>> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let (addr, port) = parts.get(1)?.split_once(':')?;
        // The address is the kernel's u32 printed in hex, so on little-endian 127.0.0.1 reads
        // 0100007F: the bytes are in network order once the number is back in memory.
        let addr = Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?.to_ne_bytes());
        out.push(UdpSock {
            port: u16::from_str_radix(port, 16).ok()?,
            addr,
            inode: parts.get(9)?.parse().ok()?,
            uid: parts.get(7)?.parse().ok()?,
            rx_queue: u64::from_str_radix(parts.get(4)?.split(':').nth(1)?, 16).ok()?,
            drops: parts.last()?.parse().ok()?,
        });
    }
    Some(out)
}

/// The IPv4 UDP sockets bound to a range of ports.
///
/// The kernel writes `/proc/net/udp` a page at a time and finds where it left off by counting
/// sockets again from the start of its hash table, so a socket created or closed meanwhile
/// shifts what follows: one reading can list a socket twice (same inode), leave one out, or
/// show a socket just closed beside the new one bound on its port. Sockets are told apart by
/// inode, and a port counts as shared only if its sockets are still there in a second reading
/// ([`confirm_shared`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SocketTable {
    /// Distinct sockets.
    pub sockets: u64,
    pub drops: u64,
    /// The fullest receive queue, in bytes (as the kernel counts them: with overhead).
    pub max_rx_queue: u64,
    pub bound: BTreeSet<u16>,
    /// Lines that repeated a socket already listed in the same reading.
    pub repeated: u64,
    /// Ports where distinct sockets overlap ([`UdpSock::overlaps`]), with those sockets: in
    /// one reading a candidate only; after [`confirm_shared`], sockets that were both there.
    pub shared: BTreeMap<u16, Vec<UdpSock>>,
}

/// The sockets of `/proc/net/udp` bound to ports `lo..=hi`.
pub fn parse_udp_sockets(text: &str, lo: u16, hi: u16) -> Option<SocketTable> {
    let mut t = SocketTable::default();
    let mut by_port: BTreeMap<u16, Vec<UdpSock>> = BTreeMap::new();
    for s in parse_udp_lines(text)? {
        if !(lo..=hi).contains(&s.port) {
            continue;
        }
        let on_port = by_port.entry(s.port).or_default();
        if on_port.iter().any(|o| o.inode == s.inode) {
            t.repeated += 1;
            continue;
        }
        on_port.push(s);
        t.sockets += 1;
        t.drops += s.drops;
        t.max_rx_queue = t.max_rx_queue.max(s.rx_queue);
        t.bound.insert(s.port);
    }
    t.shared = by_port
        .into_iter()
        .filter_map(|(port, socks)| Some((port, overlapping(socks)?)))
        .collect();
    Some(t)
}

/// The sockets of one port that overlap another of them; `None` if fewer than two do.
fn overlapping(socks: Vec<UdpSock>) -> Option<Vec<UdpSock>> {
    let keep: Vec<UdpSock> = socks
        .iter()
        .filter(|a| socks.iter().any(|b| a.inode != b.inode && a.overlaps(b)))
        .copied()
        .collect();
    (keep.len() >= 2).then_some(keep)
}

/// The shared ports of `first` whose overlapping sockets (by inode) are still bound in the
/// later reading `second`: those were bound at the same moment. A pair seen in one reading
/// only was a closing socket beside its successor (or a repeated line).
pub fn confirm_shared(
    first: &BTreeMap<u16, Vec<UdpSock>>,
    second: &[UdpSock],
) -> BTreeMap<u16, Vec<UdpSock>> {
    first
        .iter()
        .filter_map(|(&port, socks)| {
            let still: Vec<UdpSock> = socks
                .iter()
                .filter_map(|s| {
                    second
                        .iter()
                        .find(|n| n.inode == s.inode && n.port == port)
                        .copied()
                })
                .collect();
            Some((port, overlapping(still)?))
        })
        .collect()
}

/// One reading of the sockets on `lo..=hi`; if it shows shared ports, a second reading keeps
/// those that are really shared ([`SocketTable`]), and `transient` counts the others.
pub fn udp_sockets(lo: u16, hi: u16) -> Result<UdpReading, ToolError> {
    let mut table = read_udp_sockets(lo, hi)?;
    let candidates = std::mem::take(&mut table.shared);
    if !candidates.is_empty() {
        let second = parse_udp_lines(&read("/proc/net/udp")?)
            .ok_or_else(|| ToolError::setup("/proc/net/udp: unexpected"))?;
        table.shared = confirm_shared(&candidates, &second);
    }
    let transient = candidates.len() - table.shared.len();
    Ok(UdpReading { table, transient })
}

/// A [`udp_sockets`] reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UdpReading {
    /// With `shared` confirmed by a second reading.
    pub table: SocketTable,
    /// Ports that looked shared in the first reading only.
    pub transient: usize,
}

/// One reading, candidates unconfirmed (enough for telling which ports are bound).
pub fn read_udp_sockets(lo: u16, hi: u16) -> Result<SocketTable, ToolError> {
    let text = read("/proc/net/udp")?;
    parse_udp_sockets(&text, lo, hi).ok_or_else(|| ToolError::setup("/proc/net/udp: unexpected"))
}

/// The process holding socket `inode` (pid and name), looked for among `pids` and then every
/// process; `None` if none does any more (or its descriptors cannot be read).
pub fn socket_owner(inode: u64, pids: &[u32]) -> Option<(u32, String)> {
    let link = format!("socket:[{inode}]");
    let holds = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.as_os_str() == link.as_str()))
    };
    let all = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok());
    let pid = pids.iter().copied().chain(all).find(|&p| holds(p))?;
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    Some((pid, name.trim().to_string()))
}

/// Each shared port's sockets as text, with their owners ([`socket_owner`], looked for first
/// among `pids`): `127.0.0.1 inode 4711 uid 0 callrec-server/1234, …`.
pub fn describe_shared(
    shared: &BTreeMap<u16, Vec<UdpSock>>,
    pids: &[u32],
) -> BTreeMap<u16, String> {
    shared
        .iter()
        .map(|(&port, socks)| {
            let text: Vec<String> = socks
                .iter()
                .map(|s| {
                    let owner = socket_owner(s.inode, pids)
                        .map_or("owner gone".to_string(), |(pid, name)| {
                            format!("{name}/{pid}")
                        });
                    format!("{} inode {} uid {} {owner}", s.addr, s.inode, s.uid)
                })
                .collect();
            (port, text.join(", "))
        })
        .collect()
}

/// The page cache's memory the report follows, in KiB.
pub const MEMINFO_KEYS: [&str; 2] = ["Dirty", "Writeback"];

pub fn parse_meminfo(text: &str, keys: &[&str]) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            if !keys.contains(&k) {
                return None;
            }
            Some((k.to_string(), v.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

pub fn meminfo_kib() -> Result<BTreeMap<String, u64>, ToolError> {
    Ok(parse_meminfo(&read("/proc/meminfo")?, &MEMINFO_KEYS))
}

/// The `total=` (µs) of each line (`some`, `full`) of a `/proc/pressure` file, in order.
pub fn parse_psi(text: &str) -> Option<Vec<(String, u64)>> {
    text.lines()
        .map(|l| {
            let kind = l.split_whitespace().next()?;
            let total = l.split("total=").nth(1)?.trim().parse().ok()?;
            Some((kind.to_string(), total))
        })
        .collect()
}

/// Pressure stall totals of `cpu` or `io` since boot; empty if the kernel has none.
pub fn psi_total_us(resource: &str) -> Vec<(String, u64)> {
    std::fs::read_to_string(format!("/proc/pressure/{resource}"))
        .ok()
        .and_then(|t| parse_psi(&t))
        .unwrap_or_default()
}

/// The steal ticks of `/proc/stat`'s first (`cpu`) line.
pub fn parse_steal(text: &str) -> Option<u64> {
    text.lines().next()?.split_whitespace().nth(8)?.parse().ok()
}

pub fn cpu_steal_ticks() -> Result<u64, ToolError> {
    let text = read("/proc/stat")?;
    parse_steal(&text).ok_or_else(|| ToolError::setup("/proc/stat: no steal field"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_stat_gives_its_name_state_and_ticks() {
        let stat = "4242 (media-0) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1";
        assert_eq!(
            parse_task_stat(stat),
            Some(("media-0".into(), "S".into(), 300))
        );
        let odd = "7 (a (b) c) D 1 2 3 4 5 6 7 8 9 10 1 2";
        assert_eq!(
            parse_task_stat(odd),
            Some(("a (b) c".into(), "D".into(), 3))
        );
        assert_eq!(parse_task_stat("7 (x) S 1"), None);
    }

    #[test]
    fn the_udp_counters_are_the_udp_lines_only() {
        let snmp = "\
Ip: Forwarding DefaultTTL
Ip: 1 64
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
Udp: 1000 2 3 900 7 0 0 0 1
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors
UdpLite: 0 0 0 0 0 0 0 0 0
";
        let c = parse_udp_snmp(snmp).unwrap();
        assert_eq!(c["InDatagrams"], 1000);
        assert_eq!(c["RcvbufErrors"], 7);
        assert_eq!(c["MemErrors"], 1);
        assert_eq!(c.len(), 9);
        assert_eq!(parse_udp_snmp("Ip: a\nIp: 1\n"), None);
    }

    #[test]
    fn softnet_drops_are_summed_over_the_cpus_in_hex() {
        let text = "00a1b2c3 0000000a 00000000 00000000\n00000010 00000011 00000000 00000000\n";
        assert_eq!(parse_softnet_dropped(text), Some(0x0a + 0x11));
    }

    const HEADER: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops";

    /// A `/proc/net/udp` line: address and port in the kernel's hex, rx queue, uid, inode, drops.
    fn line(addr: &str, port: u16, rx: u32, uid: u32, inode: u64, drops: u64) -> String {
        format!(
            "  100: {addr}:{port:04X} 00000000:0000 07 00000000:{rx:08X} 00:00000000 00000000 {uid:5}        0 {inode} 2 0000000000000000 {drops}"
        )
    }

    fn table(lines: &[String]) -> String {
        format!("{HEADER}\n{}\n", lines.join("\n"))
    }

    const LO: &str = "0100007F"; // 127.0.0.1
    const ANY: &str = "00000000";

    #[test]
    fn the_socket_table_counts_ports_in_range_with_drops_and_queues() {
        let text = table(&[
            line(LO, 10000, 0x340, 1000, 111, 3),
            line(LO, 10001, 0x1040, 1000, 112, 0),
            line(LO, 10002, 0, 1000, 113, 1),
            line(LO, 53, 0xFFFF, 0, 114, 9),
        ]);
        let t = parse_udp_sockets(&text, 10000, 17999).unwrap();
        assert_eq!(t.sockets, 3);
        assert_eq!(t.drops, 4);
        assert_eq!(t.max_rx_queue, 0x1040);
        assert_eq!(t.bound, BTreeSet::from([10000, 10001, 10002]));
        assert!(t.shared.is_empty());
        assert_eq!(
            parse_udp_sockets(&text, 1, 2).unwrap(),
            SocketTable::default()
        );
        let all = parse_udp_lines(&text).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].addr, Ipv4Addr::LOCALHOST);
        assert_eq!((all[0].port, all[0].uid, all[0].inode), (10000, 1000, 111));
        assert_eq!(parse_udp_lines(&format!("{HEADER}\n  1: x\n")), None);
    }

    #[test]
    fn a_socket_listed_twice_is_one_socket_not_a_shared_port() {
        // What the kernel printed while sockets came and went: inode 111 on two lines.
        let text = table(&[
            line(LO, 10000, 0x340, 0, 111, 3),
            line(LO, 10001, 0, 0, 112, 0),
            line(LO, 10000, 0x340, 0, 111, 3),
        ]);
        let t = parse_udp_sockets(&text, 10000, 17999).unwrap();
        assert_eq!(t.sockets, 2);
        assert_eq!(t.repeated, 1);
        assert_eq!(t.drops, 3, "a repeated line's drops are not counted twice");
        assert!(t.shared.is_empty());
    }

    #[test]
    fn distinct_sockets_share_a_port_only_if_their_addresses_overlap() {
        let other = "0201007F"; // 127.0.1.2
        let text = table(&[
            line(LO, 10000, 0, 0, 111, 0),
            line(other, 10000, 0, 1000, 211, 0),
            line(LO, 10001, 0, 0, 112, 0),
            line(ANY, 10001, 0, 1000, 212, 0),
            line(other, 10001, 0, 1000, 213, 0),
            line(LO, 10002, 0, 0, 113, 0),
            line(LO, 10002, 0, 1000, 214, 0),
        ]);
        let t = parse_udp_sockets(&text, 10000, 17999).unwrap();
        assert_eq!(t.sockets, 7);
        assert_eq!(t.repeated, 0);
        let inodes = |p: u16| -> Vec<u64> { t.shared[&p].iter().map(|s| s.inode).collect() };
        // 127.0.0.1 and 127.0.1.2 on one port take different datagrams.
        assert!(!t.shared.contains_key(&10000));
        // 0.0.0.0 overlaps both addresses.
        assert_eq!(inodes(10001), [112, 212, 213]);
        assert_eq!(inodes(10002), [113, 214]);
        assert_eq!(t.shared[&10002][1].addr, Ipv4Addr::LOCALHOST);
    }

    #[test]
    fn a_shared_port_is_confirmed_only_if_both_sockets_are_still_bound() {
        let first = table(&[
            // A session's socket just closed, beside the resting socket bound on its port.
            line(LO, 10000, 0, 0, 111, 0),
            line(LO, 10000, 0, 0, 311, 0),
            // Two sockets really bound at once.
            line(LO, 10001, 0, 0, 112, 0),
            line(ANY, 10001, 0, 1000, 212, 0),
            // Three, of which one goes.
            line(LO, 10002, 0, 0, 113, 0),
            line(LO, 10002, 0, 0, 213, 0),
            line(LO, 10002, 0, 0, 313, 0),
        ]);
        let candidates = parse_udp_sockets(&first, 10000, 17999).unwrap().shared;
        assert_eq!(
            candidates.keys().copied().collect::<Vec<_>>(),
            [10000, 10001, 10002]
        );
        let second = parse_udp_lines(&table(&[
            line(LO, 10000, 0, 0, 311, 0),
            // A new socket on the port (another inode) is not one of the pair.
            line(LO, 10000, 0, 0, 411, 0),
            line(ANY, 10001, 0, 1000, 212, 0),
            line(LO, 10001, 0, 0, 112, 0),
            line(LO, 10002, 0, 0, 113, 0),
            line(LO, 10002, 0, 0, 313, 0),
        ]))
        .unwrap();
        let shared = confirm_shared(&candidates, &second);
        let inodes: Vec<(u16, Vec<u64>)> = shared
            .iter()
            .map(|(p, s)| (*p, s.iter().map(|s| s.inode).collect()))
            .collect();
        assert_eq!(inodes, [(10001, vec![112, 212]), (10002, vec![113, 313])]);
        assert!(confirm_shared(&candidates, &[]).is_empty());
    }

    #[test]
    fn a_socket_of_this_process_is_found_by_its_inode() {
        use std::os::unix::fs::MetadataExt;
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        let me = std::process::id();
        let text = read("/proc/net/udp").unwrap();
        let mine = parse_udp_lines(&text)
            .unwrap()
            .into_iter()
            .find(|l| l.port == port && l.addr == Ipv4Addr::LOCALHOST)
            .expect("the socket is listed");
        let fd = std::fs::metadata(format!("/proc/self/fd/{}", {
            use std::os::fd::AsRawFd;
            s.as_raw_fd()
        }))
        .unwrap();
        assert_eq!(mine.inode, fd.ino());
        assert_eq!(socket_owner(mine.inode, &[me]).map(|o| o.0), Some(me));
        let text = describe_shared(&BTreeMap::from([(port, vec![mine])]), &[me]);
        assert!(text[&port].starts_with(&format!("127.0.0.1 inode {} uid ", mine.inode)));
        assert!(text[&port].ends_with(&format!("/{me}")));
        drop(s);
        assert_eq!(socket_owner(mine.inode, &[me]), None);
    }

    #[test]
    fn meminfo_psi_and_steal_are_read() {
        let mem = "MemTotal:  100 kB\nDirty:     2048 kB\nWriteback:   0 kB\nWritebackTmp: 5 kB\n";
        let m = parse_meminfo(mem, &MEMINFO_KEYS);
        assert_eq!(
            m,
            BTreeMap::from([("Dirty".into(), 2048), ("Writeback".into(), 0)])
        );
        let psi = "some avg10=0.00 avg60=0.10 avg300=0.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=789\n";
        assert_eq!(
            parse_psi(psi),
            Some(vec![("some".into(), 123456), ("full".into(), 789)])
        );
        let stat = "cpu  10 0 20 300 4 0 1 17 0 0\ncpu0 5 0 10 150 2 0 1 9 0 0\n";
        assert_eq!(parse_steal(stat), Some(17));
    }
}
