//! While a level's window runs, a thread samples the server: every 0.25 s each thread's state
//! (how often one is blocked in the kernel, state D, and where); every second each thread's CPU
//! over that second; every 0.5 s for the first 6 s (when every session's first packet opens its
//! file), then every 2 s, the fullest receive queue of the server's sockets and the page
//! cache's dirty and writeback memory. It keeps the maxima and counts, and its own longest
//! oversleep of its 0.25 s period (a stall of the whole machine shows there too).

use crate::kernel::{self, SocketTable, UdpReading};
use callrec_tools::ToolError;
use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_millis(250);

/// What the sampler saw.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    /// The highest 1 s CPU share of each thread (`name/tid`), in % of one core.
    pub peak_thread_pct: BTreeMap<String, f64>,
    pub state_samples: u64,
    /// Samples of a thread (by name) in state D, by wait channel, in the order first seen.
    pub blocked: Vec<((String, String), u64)>,
    pub peak_rx_queue: u64,
    /// Ports where another socket was bound beside the server's, each with its sockets.
    pub shared_ports: BTreeMap<u16, String>,
    /// `/proc/net/udp` lines that repeated a socket, and ports that looked shared in one
    /// reading only ([`kernel::SocketTable`]): the file's way, not the server's.
    pub udp_repeated: u64,
    pub udp_transient: u64,
    /// (second of the window, fullest receive queue in bytes).
    pub rx_queue_trace: Vec<(f64, u64)>,
    pub peak_mem: BTreeMap<String, u64>,
    /// (seconds late, at the window's second).
    pub max_oversleep: (f64, f64),
    /// A reading that failed (the sampling stopped there; the level goes on).
    pub error: Option<String>,
}

/// A running sampler.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Samples>,
}

impl Sampler {
    /// Starts sampling `pid`, whose server sockets are on ports `ports`.
    pub fn start(pid: u32, ports: (u16, u16)) -> Sampler {
        let (stop, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut s = Samples::default();
            if let Err(e) = run(pid, ports, &rx, &mut s) {
                s.error = Some(e.to_string());
            }
            s
        });
        Sampler { stop, thread }
    }

    /// Stops it and returns what it saw.
    pub fn finish(self) -> Samples {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_else(|_| Samples {
            error: Some("the sampler panicked".into()),
            ..Samples::default()
        })
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Whether sample `k` (from 1, every 0.25 s) reads the receive queues.
pub fn reads_queues(k: u64) -> bool {
    k % 8 == 0 || (k <= 24 && k % 2 == 0)
}

fn run(
    pid: u32,
    ports: (u16, u16),
    stop: &mpsc::Receiver<()>,
    s: &mut Samples,
) -> Result<(), ToolError> {
    let begin = Instant::now();
    let mut last = kernel::threads_cpu(pid)?;
    let mut t_last = begin;
    let mut t_prev = begin;
    let mut k = 0u64;
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(PERIOD) {
        let now = Instant::now();
        let over = (now - t_prev).as_secs_f64() - PERIOD.as_secs_f64();
        if over > s.max_oversleep.0 {
            s.max_oversleep = (over, round1((now - begin).as_secs_f64()));
        }
        t_prev = now;
        k += 1;
        s.state_samples += 1;
        for t in kernel::threads(pid, true)? {
            if t.state == "D" {
                let key = (t.name, t.wchan);
                match s.blocked.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, n)) => *n += 1,
                    None => s.blocked.push((key, 1)),
                }
            }
        }
        if k % 4 == 0 {
            let cpu = kernel::threads_cpu(pid)?;
            let t = Instant::now();
            let dt = (t - t_last).as_secs_f64();
            for (name, &c) in &cpu {
                let pct = (c - last.get(name).copied().unwrap_or(c)) / dt * 100.0;
                let peak = s.peak_thread_pct.entry(name.clone()).or_insert(0.0);
                *peak = peak.max(pct);
            }
            last = cpu;
            t_last = t;
        }
        if reads_queues(k) {
            let UdpReading {
                table:
                    SocketTable {
                        max_rx_queue,
                        shared,
                        repeated,
                        ..
                    },
                transient,
            } = kernel::udp_sockets(ports.0, ports.1)?;
            s.peak_rx_queue = s.peak_rx_queue.max(max_rx_queue);
            s.shared_ports
                .extend(kernel::describe_shared(&shared, &[pid]));
            s.udp_repeated += repeated;
            s.udp_transient += transient as u64;
            s.rx_queue_trace
                .push((round1(begin.elapsed().as_secs_f64()), max_rx_queue));
            for (key, v) in kernel::meminfo_kib()? {
                let peak = s.peak_mem.entry(key).or_insert(0);
                *peak = (*peak).max(v);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queues_are_read_twice_a_second_for_6_s_then_every_2_s() {
        let ks: Vec<u64> = (1..=40).filter(|&k| reads_queues(k)).collect();
        assert_eq!(ks, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 32, 40]);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let sampler = Sampler::start(std::process::id(), (1, 2));
        std::thread::sleep(Duration::from_millis(1100));
        let s = sampler.finish();
        assert_eq!(s.error, None);
        assert!(s.state_samples >= 3, "{s:?}");
        assert!(!s.peak_thread_pct.is_empty());
        assert!(s.peak_mem.contains_key("Dirty"));
    }
}
