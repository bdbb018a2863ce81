//! The agent: a thin tokio shell (one thread) around the [`local::LocalSession`].
//!
//! The main loop owns all state and waits on: the tap socket, the recorder's next deadline,
//! commands from control clients, stick changes and SIGTERM/SIGINT. Control clients and the stick
//! watcher run as their own tasks and talk to it through bounded channels.

pub mod control_socket;
pub mod driver;
pub mod http;
pub mod local;
pub mod network;
pub mod refusal;
pub mod web;

use crate::config::settings::Settings;
use crate::config::ConfigError;
use callrec_core::control_protocol::Response;
use callrec_platform::clock::{Clock, SystemClock};
use callrec_platform::config::board::Board;
use callrec_platform::store::fs::DirStorage;
use callrec_platform::udp;
use callrec_platform::usb::{StickSource, StickWatcher};
use core::fmt;
use driver::{Driver, JobId, Output};
use local::LocalSession;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::SignalKind;
use tokio::sync::mpsc;
use tokio::sync::{broadcast, oneshot};

/// How the agent is started: the board, and overrides for the host and tests.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub board: Board,
    pub settings: Option<PathBuf>,
    pub usb_dir: Option<PathBuf>,
    pub tap: Option<SocketAddr>,
    /// Where the HTTP listener binds (else the board's `http`; port 0: any free port).
    pub http: Option<SocketAddr>,
    pub control_socket: Option<PathBuf>,
    /// The phone's MAC for the record server (else the board's).
    pub mac: Option<String>,
}

/// Why the agent could not run.
#[derive(Debug)]
pub enum AgentError {
    /// The board or settings file is wrong.
    Config(ConfigError),
    /// A socket or watcher could not be set up.
    Setup { what: String, error: std::io::Error },
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Config(e) => write!(f, "{e}"),
            AgentError::Setup { what, error } => write!(f, "{what}: {error}"),
        }
    }
}

impl std::error::Error for AgentError {}

fn setup(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AgentError {
    let what = what.into();
    move |error| AgentError::Setup { what, error }
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(opts: AgentOptions) -> Result<(), AgentError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(setup("tokio runtime"))?;
    runtime.block_on(main_loop(opts))
}

async fn main_loop(opts: AgentOptions) -> Result<(), AgentError> {
    let board = &opts.board;
    let settings_path = opts
        .settings
        .clone()
        .unwrap_or_else(|| board.settings.clone());
    // The settings page's password lives beside the settings.
    let password_file = settings_path
        .parent()
        .map_or_else(|| PathBuf::from("admin.json"), |d| d.join("admin.json"));
    let settings = if settings_path.exists() {
        Settings::load(&settings_path).map_err(AgentError::Config)?
    } else {
        log::info!(
            "no settings at {}; using the defaults",
            settings_path.display()
        );
        Settings::default()
    };
    let source = match &opts.usb_dir {
        Some(dir) => StickSource::Directory(dir.clone()),
        None => board.stick_source(),
    };
    let board_tap = opts.tap.unwrap_or(board.tap);
    let mut tap = bind_tap(board_tap)?;
    // Registered with the reactor only while network mode forwards packet by packet: otherwise
    // every datagram would wake the runtime, and the agent should wake twice a second.
    let mut tap_ready: Option<AsyncFd<RawFdRef>> = None;
    let tap_local = tap.local_addr().map_err(setup("tap"))?;
    // Where the board's tap ended up (port 0 on the command line picks one), and the call's
    // own port while the tap has moved there.
    let board_local = tap_local;
    let mut moved_to: Option<u16> = None;
    let socket_path = opts
        .control_socket
        .clone()
        .unwrap_or_else(|| board.control_socket.clone());
    let listener = control_socket::bind(&socket_path)
        .map_err(setup(format!("control socket {}", socket_path.display())))?;
    let http_addr = opts.http.unwrap_or(board.http);
    let http_listener = tokio::net::TcpListener::bind(http_addr)
        .await
        .map_err(setup(format!("HTTP listener {http_addr}")))?;
    let http_local = http_listener.local_addr().map_err(setup("HTTP listener"))?;
    let mut watcher = StickWatcher::new(source).map_err(setup("USB stick watcher"))?;

    let clock = SystemClock::new();
    let (net_tx, mut net_updates) = mpsc::channel(16);
    let mac = opts.mac.clone().unwrap_or_else(|| board.mac_address());
    let network = network::Network::new(mac, clock.clone());
    let factory: local::StorageFactory<DirStorage> = Box::new(|s| DirStorage::new(&s.path));
    let mut session = LocalSession::new(settings.clone(), factory, tap_local.to_string());
    session.set_usb_host(board.usb_host);
    session.stick_changed(watcher.current().cloned());
    let (events, _) = broadcast::channel(control_socket::SUBSCRIBER_QUEUE);
    let mut driver = Driver::new(
        settings,
        settings_path,
        session,
        network,
        board.usb_host,
        clock.clone(),
    );
    let mut shell = Shell {
        replies: HashMap::new(),
        next_job: 0,
        events: events.clone(),
        net_updates: net_tx,
        clock: clock.clone(),
    };

    let (job_tx, mut jobs) = mpsc::channel(control_socket::QUEUE);
    tokio::spawn(control_socket::serve(listener, job_tx.clone(), events));
    // One reader thread for downloads and password hashing: a phone has few cores.
    let pool = callrec_platform::download::pool::Pool::new(1, 8).map_err(setup("reader thread"))?;
    let web = std::sync::Arc::new(web::api::Web::new(password_file, pool, clock.clone()));
    tokio::spawn(http::serve(http_listener, job_tx, web));
    let (stick_tx, mut sticks) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let stick = watcher.changed().await;
            if stick_tx.send(stick).await.is_err() {
                return;
            }
        }
    });
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;

    log::info!(
        "agent up: board {}, tap {tap_local}, control {}, http {http_local}",
        board.model,
        socket_path.display()
    );
    // Ready line for supervisors and tests: printed once everything is bound.
    println!(
        "callrec agent ready tap={tap_local} control={} http={http_local}",
        socket_path.display()
    );

    // One wake-up per tick, whatever the packet rate: the tap is drained in batches, then the
    // recorder's deadlines (reorder hold, the one-second commit) are served. The tick's timer is
    // only ever moved later, so the runtime never has to wake itself early.
    let mut tick =
        callrec_platform::ticker::Ticker::new(TICK, TICK).map_err(setup("tick timer"))?;
    loop {
        let mut answer = None;
        tokio::select! {
            biased;
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = sighup.recv() => {
                log::info!("SIGHUP: reading the settings again");
                let _ = driver.reload(true);
            }
            r = readable(tap_ready.as_ref()), if tap_ready.is_some() => {
                if let Ok(mut guard) = r {
                    drain(&mut tap, &mut driver, &clock);
                    // A datagram that landed meanwhile keeps the readiness (tokio tracks it).
                    guard.clear_ready();
                }
            }
            Some(job) = jobs.recv() => {
                // Every datagram that reached the tap before the command is handled first.
                drain(&mut tap, &mut driver, &clock);
                let control_socket::Job { request, reply } = job;
                answer = driver.job(shell.take(reply), request);
            }
            Some(update) = net_updates.recv() => {
                driver.network.on_update(update);
                driver.settle();
            }
            Some(stick) = sticks.recv() => {
                drain(&mut tap, &mut driver, &clock);
                driver.local.stick_changed(stick);
                driver.settle();
            }
            _ = tick.tick() => {
                drain(&mut tap, &mut driver, &clock);
                driver.tick();
            }
        }
        // A call whose RTP goes to its own port: the tap follows it, and comes back after.
        let wanted = driver
            .wanted_tap_port()
            .filter(|&p| p != board_local.port());
        if wanted != moved_to {
            moved_to = wanted;
            let addr = wanted.map_or(board_local, |p| SocketAddr::new(board_local.ip(), p));
            drain(&mut tap, &mut driver, &clock);
            // The old socket goes first, so that coming back can bind its port again.
            tap_ready = None;
            drop(tap);
            tap = match bind_tap(addr) {
                Ok(bound) => bound,
                Err(e) => {
                    log::warn!("cannot move the tap to {addr}: {e}; staying on the board's");
                    moved_to = None;
                    bind_tap(board_local)?
                }
            };
            let now_at = tap.local_addr().unwrap_or(addr);
            log::info!("tap now at {now_at}");
            driver.local.set_tap(now_at.to_string());
        }
        if driver.network.forwarding() != tap_ready.is_some() {
            tap_ready = if tap_ready.is_none() {
                Some(register(&tap)?)
            } else {
                None
            };
        }
        // Answered after the tap moved, so a client may send RTP to the new port at once.
        if let Some(a) = answer {
            driver.reply(a);
        }
        shell.carry_out(&mut driver);
    }
    drain(&mut tap, &mut driver, &clock);
    shell.carry_out(&mut driver);
    driver.network.shutdown(&mut net_updates).await;
    log::info!("agent stopping");
    driver.local.shutdown(&clock);
    shell.carry_out(&mut driver);
    let _ = std::fs::remove_file(&socket_path);
    Ok(())
}

/// What the main loop keeps to carry out the driver's [`Output`]s.
struct Shell {
    /// The way back to each client whose command the driver has not answered yet.
    replies: HashMap<u64, oneshot::Sender<Response>>,
    next_job: u64,
    events: broadcast::Sender<Arc<str>>,
    net_updates: mpsc::Sender<network::LegUpdate>,
    clock: SystemClock,
}

impl Shell {
    /// Keeps a client's way back; the driver's answer names it.
    fn take(&mut self, reply: oneshot::Sender<Response>) -> JobId {
        self.next_job += 1;
        self.replies.insert(self.next_job, reply);
        JobId(self.next_job)
    }

    fn carry_out<S: callrec_platform::store::Storage>(
        &mut self,
        driver: &mut Driver<S, SystemClock>,
    ) {
        while let Some(output) = driver.poll_output() {
            match output {
                Output::Reply { job, response } => {
                    if let Some(reply) = self.replies.remove(&job.0) {
                        // A client that went away is fine.
                        let _ = reply.send(*response);
                    }
                }
                Output::Event { line, sip_request } => {
                    if sip_request && self.events.receiver_count() == 0 {
                        log::warn!("SIP INFO: no SIP stack is subscribed to send the request");
                    }
                    // No subscriber is fine; a lagging one notices by itself.
                    let _ = self.events.send(line);
                }
                Output::OpenLeg(leg) => {
                    tokio::spawn(network::run_leg(
                        *leg,
                        self.net_updates.clone(),
                        self.clock.clone(),
                    ));
                }
            }
        }
    }
}

/// Binds the tap.
fn bind_tap(addr: SocketAddr) -> Result<udp::TapReader, AgentError> {
    let tap = udp::bind(addr).map_err(setup(format!("tap {addr}")))?;
    Ok(udp::TapReader::new(tap))
}

/// Registers the tap's readiness with the reactor (network mode forwards each packet at once).
fn register(tap: &udp::TapReader) -> Result<AsyncFd<RawFdRef>, AgentError> {
    // SAFETY: the main loop drops the registration before the TapReader, which owns the
    // descriptor (it clears `tap_ready` before moving the tap); the wrapper never closes it.
    unsafe { AsyncFd::register(RawFdRef(tap.raw_fd())) }.map_err(|e| AgentError::Setup {
        what: "tap".into(),
        error: e.into_parts().1,
    })
}

/// Waits for the tap to be readable; `None` never is (the branch is disabled then anyway).
async fn readable(
    fd: Option<&AsyncFd<RawFdRef>>,
) -> std::io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, RawFdRef>> {
    match fd {
        Some(fd) => fd.readable().await,
        None => std::future::pending().await,
    }
}

fn signal(kind: SignalKind) -> Result<tokio::signal::unix::Signal, AgentError> {
    tokio::signal::unix::signal(kind).map_err(setup("signal handler"))
}

/// A descriptor owned elsewhere, registered with the reactor.
struct RawFdRef(std::os::fd::RawFd);

impl std::os::fd::AsRawFd for RawFdRef {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

/// How often the tap is drained and deadlines served. Packets wait in the kernel's buffer
/// meanwhile (25 of them at 20 ms); the agent wakes twice a second instead of 50 times.
pub const TICK: Duration = Duration::from_millis(500);

/// Hands every waiting datagram to the session (and the record server) at its kernel arrival
/// time, then serves the recorder's deadlines and lets the driver settle.
fn drain<S: callrec_platform::store::Storage>(
    tap: &mut udp::TapReader,
    driver: &mut Driver<S, SystemClock>,
    clock: &SystemClock,
) {
    let (session, network) = (&mut driver.local, &mut driver.network);
    if let Err(e) = tap.drain(|datagram, r| {
        network.forward(datagram);
        session.datagram(udp::arrival_ms(r.arrival, clock), datagram, clock);
    }) {
        log::warn!("tap receive: {e}");
    }
    let now = clock.now_ms();
    while session.poll_timeout().is_some_and(|t| t <= now) {
        session.timeout(now, clock);
    }
    driver.settle();
}
