//! `callrec-sim --sip`: the threads that play the phone's SIP stack around [`Phone`].
//!
//! - the **stack thread** owns the [`Phone`]: it takes jobs (the main thread's INVITE and BYE,
//!   the watcher's `sip_request` events) and datagrams from one channel, sends what the phone
//!   says to send, and wakes at the phone's next deadline for retransmissions and timeouts;
//! - the **receiver** reads the UDP socket (connected to the PBX, so nothing else gets in) and
//!   feeds the channel;
//! - the **reporter** tells the agent each final response (`sip_response`) on a fresh control
//!   connection and prints the exchange, so a slow agent never holds up retransmissions.

use super::phone::{Outcome, Output, Phone, TxId};
use super::report::Answer;
use super::run::{ask, RunError};
use super::script::seconds;
use super::sip::AgentRequest;
use super::transaction::TIMEOUT;
use callrec_core::control_protocol::{encode_sip_response, SipReport};
use callrec_core::sip::dialog::Dialog;
use serde_json::Value;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Longest wait of the stack thread and the receiver, so a stop is noticed promptly.
const SLICE: Duration = Duration::from_millis(100);
/// How long the main thread waits for its INVITE or BYE (Timer B or F, and some slack).
const JOB_LIMIT: Duration = Duration::from_secs(TIMEOUT.as_secs() + 5);
/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_535;

/// `--sip`, `--sip-build`, `--sip-drop`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    pub pbx: SocketAddr,
    pub build: bool,
    /// Hold back the Nth `sip_request` (1-based): never sent, never reported.
    pub drop: Option<u64>,
}

enum Input {
    Datagram(Vec<u8>),
    Unreachable(String),
    Invite {
        call: String,
        local: String,
        remote: String,
        done: Sender<()>,
    },
    MadeUp {
        call: String,
        local: String,
        remote: String,
    },
    Bye {
        call: String,
        done: Sender<()>,
    },
    Dialog {
        call: String,
        reply: Sender<Option<Dialog>>,
    },
    Agent {
        event: Value,
        at: Instant,
    },
}

/// A final answer for the agent.
struct Report {
    at: Instant,
    label: String,
    tid: String,
    outcome: Result<String, String>,
    summary: String,
}

/// The SIP side of a run.
pub struct Sip {
    input: Sender<Input>,
    /// `sip_request` events taken and not yet reported (or dropped).
    in_flight: Arc<AtomicUsize>,
    /// `sip_response` reports the agent refused.
    refused: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// The phone's address as the PBX sees it.
    pub local: SocketAddr,
}

/// Hands `sip_request` events from the watcher to the stack.
#[derive(Clone)]
pub struct Forwarder {
    input: Sender<Input>,
    in_flight: Arc<AtomicUsize>,
}

impl Forwarder {
    /// An event line of the subscription: a `sip_request` goes to the stack, others are
    /// ignored.
    pub fn event(&self, line: &str) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return;
        };
        if v.get("event").and_then(Value::as_str) != Some("sip_request") {
            return;
        }
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let at = Instant::now();
        if self.input.send(Input::Agent { event: v, at }).is_err() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Sip {
    /// Binds the socket (connected to the PBX) and starts the threads. `start` is the run's
    /// clock for the printed times; `control` the agent's socket for the reports.
    pub fn start(
        config: &SipConfig,
        control: PathBuf,
        start: Instant,
        seed: u64,
    ) -> Result<Sip, RunError> {
        let any = match config.pbx {
            SocketAddr::V4(_) => "0.0.0.0:0",
            SocketAddr::V6(_) => "[::]:0",
        };
        let fail = |error: std::io::Error| RunError::Socket {
            what: format!("SIP socket to {}", config.pbx),
            error,
        };
        let socket = UdpSocket::bind(any).map_err(fail)?;
        socket.connect(config.pbx).map_err(fail)?;
        socket.set_read_timeout(Some(SLICE)).map_err(fail)?;
        let local = socket.local_addr().map_err(fail)?;
        let reader = socket.try_clone().map_err(fail)?;

        let (input, rx) = mpsc::channel();
        let (reports, report_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let phone = Phone::new(
            &local.to_string(),
            &config.pbx.to_string(),
            config.build,
            seed,
        );
        let mut threads = Vec::new();
        {
            let (input, stop) = (input.clone(), stop.clone());
            threads.push(thread::spawn(move || receive(&reader, &input, &stop)));
        }
        {
            let stack = Stack {
                phone,
                socket,
                reports,
                start,
                drop: config.drop,
                agent_requests: 0,
                in_flight: in_flight.clone(),
                waiting: HashMap::new(),
            };
            let stop = stop.clone();
            threads.push(thread::spawn(move || stack.run(&rx, &stop)));
        }
        {
            let (in_flight, refused) = (in_flight.clone(), refused.clone());
            threads.push(thread::spawn(move || {
                report(&report_rx, &control, start, &in_flight, &refused)
            }));
        }
        Ok(Sip {
            input,
            in_flight,
            refused,
            stop,
            threads,
            local,
        })
    }

    pub fn forwarder(&self) -> Forwarder {
        Forwarder {
            input: self.input.clone(),
            in_flight: self.in_flight.clone(),
        }
    }

    /// Places the call and waits for the INVITE's final response (the stack prints it).
    pub fn invite(&self, call: &str, local: &str, remote: &str) {
        let (done, wait) = mpsc::channel();
        let job = Input::Invite {
            call: call.into(),
            local: local.into(),
            remote: remote.into(),
            done,
        };
        if self.input.send(job).is_ok() {
            let _ = wait.recv_timeout(JOB_LIMIT);
        }
    }

    /// Gives the call a dialog the PBX never saw (`sip=none`).
    pub fn made_up(&self, call: &str, local: &str, remote: &str) {
        let _ = self.input.send(Input::MadeUp {
            call: call.into(),
            local: local.into(),
            remote: remote.into(),
        });
    }

    /// Hangs up: the BYE, and its final response, if the call has a real dialog.
    pub fn bye(&self, call: &str) {
        let (done, wait) = mpsc::channel();
        if self
            .input
            .send(Input::Bye {
                call: call.into(),
                done,
            })
            .is_ok()
        {
            let _ = wait.recv_timeout(JOB_LIMIT);
        }
    }

    /// The call's dialog, as its events carry it.
    pub fn dialog(&self, call: &str) -> Option<Dialog> {
        let (reply, answer) = mpsc::channel();
        let job = Input::Dialog {
            call: call.into(),
            reply,
        };
        self.input.send(job).ok()?;
        answer.recv_timeout(JOB_LIMIT).ok().flatten()
    }

    /// Waits until every `sip_request` taken is reported (at most Timer F and some slack).
    pub fn wait_idle(&self) {
        let start = Instant::now();
        while self.in_flight.load(Ordering::SeqCst) > 0 && start.elapsed() < JOB_LIMIT {
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the threads; the reports the agent refused.
    pub fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        drop(self.input);
        for t in self.threads {
            let _ = t.join();
        }
        self.refused.load(Ordering::SeqCst)
    }
}

/// The receiver thread.
fn receive(socket: &UdpSocket, input: &Sender<Input>, stop: &AtomicBool) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Relaxed) {
        let sent = match socket.recv(&mut buf) {
            Ok(n) => input.send(Input::Datagram(buf[..n].to_vec())),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => input.send(Input::Unreachable(
                "the PBX refused it (ICMP port unreachable)".into(),
            )),
            Err(e) => {
                thread::sleep(SLICE);
                input.send(Input::Unreachable(e.to_string()))
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Who waits for a transaction.
enum Waiter {
    /// The main thread (INVITE, BYE): the stack prints the line.
    Main {
        at: Instant,
        label: String,
        done: Sender<()>,
    },
    /// The agent: the reporter reports and prints.
    Agent {
        at: Instant,
        label: String,
        tid: String,
    },
}

struct Stack {
    phone: Phone,
    socket: UdpSocket,
    reports: Sender<Report>,
    start: Instant,
    drop: Option<u64>,
    agent_requests: u64,
    in_flight: Arc<AtomicUsize>,
    waiting: HashMap<TxId, Waiter>,
}

impl Stack {
    fn run(mut self, rx: &Receiver<Input>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let wait = self
                .phone
                .deadline()
                .map_or(SLICE, |d| d.saturating_duration_since(now).min(SLICE));
            match rx.recv_timeout(wait) {
                Ok(input) => self.input(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let out = self.phone.on_timer(Instant::now());
            self.outputs(out);
        }
    }

    fn input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Datagram(bytes) => {
                let out = self.phone.on_datagram(&bytes, now);
                self.outputs(out);
            }
            Input::Unreachable(why) => {
                let out = self.phone.on_unreachable(&why);
                self.outputs(out);
            }
            Input::Invite {
                call,
                local,
                remote,
                done,
            } => {
                let label = format!("INVITE {call}");
                match self.phone.invite(&call, &local, &remote, now) {
                    Ok((id, out)) => self.sent_for_main(id, out, now, label, done),
                    Err(e) => self.line(now, &label, &format!("not sent: {e}")),
                }
            }
            Input::MadeUp {
                call,
                local,
                remote,
            } => {
                let label = format!("none {call}");
                match self.phone.made_up(&call, &local, &remote) {
                    Ok(()) => self.line(now, &label, "a made-up dialog (sip=none)"),
                    Err(e) => self.line(now, &label, &e),
                }
            }
            Input::Bye { call, done } => {
                let label = format!("BYE {call}");
                match self.phone.bye(&call, now) {
                    Some(Ok((id, out))) => self.sent_for_main(id, out, now, label, done),
                    Some(Err(e)) => self.line(now, &label, &format!("not sent: {e}")),
                    None => {}
                }
            }
            Input::Dialog { call, reply } => {
                let _ = reply.send(self.phone.dialog(&call));
            }
            Input::Agent { event, at } => self.agent(&event, at),
        }
    }

    /// A `sip_request` of the agent.
    fn agent(&mut self, event: &Value, at: Instant) {
        self.agent_requests += 1;
        let req = match AgentRequest::from_event(event) {
            Ok(r) => r,
            Err((Some(tid), why)) => {
                let label = event
                    .get("method")
                    .and_then(Value::as_str)
                    .unwrap_or("request")
                    .to_string();
                return self.report(at, label, tid, Err(why.clone()), why);
            }
            Err((None, why)) => {
                eprintln!("callrec-sim: {why}; not answered");
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                return;
            }
        };
        let label = req.label();
        if self.drop == Some(self.agent_requests) {
            self.line(at, &label, "dropped (--sip-drop): not sent, never reported");
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return;
        }
        match self.phone.agent_request(&req, at) {
            Ok((id, out)) => {
                let waiter = Waiter::Agent {
                    at,
                    label,
                    tid: req.tid,
                };
                self.waiting.insert(id, waiter);
                self.outputs(out);
            }
            Err(why) => {
                let summary = format!("not sent: {why}");
                self.report(at, label, req.tid, Err(why), summary);
            }
        }
    }

    /// A request of the main thread's (INVITE, BYE) went out: its answer is awaited for it.
    fn sent_for_main(
        &mut self,
        id: TxId,
        out: Vec<Output>,
        now: Instant,
        label: String,
        done: Sender<()>,
    ) {
        self.waiting.insert(
            id,
            Waiter::Main {
                at: now,
                label,
                done,
            },
        );
        self.outputs(out);
    }

    fn outputs(&mut self, out: Vec<Output>) {
        let mut failed = None;
        for o in out {
            match o {
                Output::Send(bytes) => {
                    if let Err(e) = self.socket.send(bytes.as_bytes()) {
                        failed = Some(e.to_string());
                    }
                }
                Output::Done(id, outcome) => self.done(id, outcome),
            }
        }
        if let Some(why) = failed {
            let more = self.phone.on_unreachable(&why);
            self.outputs(more);
        }
    }

    fn done(&mut self, id: TxId, outcome: Outcome) {
        match self.waiting.remove(&id) {
            Some(Waiter::Main { at, label, done }) => {
                self.line(at, &label, &outcome.summary());
                let _ = done.send(());
            }
            Some(Waiter::Agent { at, label, tid }) => {
                let summary = outcome.summary();
                let result = match outcome {
                    Outcome::Response { raw, .. } => Ok(raw),
                    Outcome::Timeout => Err("timeout".to_string()),
                    Outcome::Transport(e) => Err(e),
                };
                self.report(at, label, tid, result, summary);
            }
            None => {}
        }
    }

    fn report(
        &mut self,
        at: Instant,
        label: String,
        tid: String,
        outcome: Result<String, String>,
        summary: String,
    ) {
        let r = Report {
            at,
            label,
            tid,
            outcome,
            summary,
        };
        if self.reports.send(r).is_err() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// `  0.012 sip INVITE c1 -> 200 OK`.
    fn line(&self, at: Instant, label: &str, what: &str) {
        println!("{}", sip_line(self.start, at, label, what));
    }
}

fn sip_line(start: Instant, at: Instant, label: &str, what: &str) -> String {
    let ms = at.saturating_duration_since(start).as_millis() as u64;
    format!("{:>7} sip {label} -> {what}", seconds(ms))
}

/// The reporter thread: each final answer to the agent, then the printed line.
fn report(
    rx: &Receiver<Report>,
    control: &std::path::Path,
    start: Instant,
    in_flight: &AtomicUsize,
    refused: &AtomicUsize,
) {
    while let Ok(r) = rx.recv() {
        let line = encode_sip_response(&SipReport {
            tid: r.tid.clone(),
            outcome: r.outcome,
        });
        let agent = match ask(control, &line) {
            Ok(answer) => match Answer::parse(&answer) {
                Answer::Ok(_) => String::new(),
                Answer::Refused(why) => {
                    refused.fetch_add(1, Ordering::SeqCst);
                    format!(" -> refused {why}")
                }
                Answer::Garbled(why) => format!(" -> bad answer: {why}"),
            },
            Err(e) => format!(" -> not reported: {e}"),
        };
        let what = format!("{}{agent}", r.summary);
        println!("{}", sip_line(start, r.at, &r.label, &what));
        in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
