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

/// The IPv4 UDP sockets bound to a range of ports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SocketTable {
    pub sockets: u64,
    pub drops: u64,
    /// The fullest receive queue, in bytes (as the kernel counts them: with overhead).
    pub max_rx_queue: u64,
    pub bound: BTreeSet<u16>,
    /// Ports bound by more than one socket (SO_REUSEADDR lets two programs share one).
    pub shared: BTreeSet<u16>,
}

/// The sockets of `/proc/net/udp` bound to ports `lo..=hi`.
pub fn parse_udp_sockets(text: &str, lo: u16, hi: u16) -> Option<SocketTable> {
    let mut t = SocketTable::default();
    for line in text.lines().skip(1) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let port = u16::from_str_radix(parts.get(1)?.split(':').nth(1)?, 16).ok()?;
        if !(lo..=hi).contains(&port) {
            continue;
        }
        t.sockets += 1;
        if !t.bound.insert(port) {
            t.shared.insert(port);
        }
        t.drops += parts.last()?.parse::<u64>().ok()?;
        let rx = u64::from_str_radix(parts.get(4)?.split(':').nth(1)?, 16).ok()?;
        t.max_rx_queue = t.max_rx_queue.max(rx);
    }
    Some(t)
}

pub fn udp_sockets(lo: u16, hi: u16) -> Result<SocketTable, ToolError> {
    let text = read("/proc/net/udp")?;
    parse_udp_sockets(&text, lo, hi).ok_or_else(|| ToolError::setup("/proc/net/udp: unexpected"))
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

    #[test]
    fn the_socket_table_counts_ports_in_range_with_drops_and_queues() {
        let text = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:2710 00000000:0000 07 00000000:00000340 00:00000000 00000000  1000        0 111 2 0000000000000000 3
  101: 0100007F:2711 00000000:0000 07 00000000:00001040 00:00000000 00000000  1000        0 112 2 0000000000000000 0
  102: 0100007F:2710 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 113 2 0000000000000000 1
  103: 0100007F:0035 00000000:0000 07 00000000:0000FFFF 00:00000000 00000000     0        0 114 2 0000000000000000 9
";
        let t = parse_udp_sockets(text, 10000, 17999).unwrap();
        assert_eq!(t.sockets, 3);
        assert_eq!(t.drops, 4);
        assert_eq!(t.max_rx_queue, 0x1040);
        assert_eq!(t.bound, BTreeSet::from([10000, 10001]));
        assert_eq!(t.shared, BTreeSet::from([10000]));
        assert_eq!(
            parse_udp_sockets(text, 1, 2).unwrap(),
            SocketTable::default()
        );
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
