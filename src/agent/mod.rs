//! The agent: a thin tokio shell (one thread) around the [`session::Session`].
//!
//! The main loop owns all state and waits on: the tap socket, the recorder's next deadline,
//! commands from control clients, stick changes and SIGTERM/SIGINT. Control clients and the stick
//! watcher run as their own tasks and talk to it through bounded channels.

pub mod control;
pub mod http;
pub mod network;
pub mod session;

use crate::config::board::Board;
use crate::config::settings::Settings;
use crate::config::ConfigError;
use crate::platform::clock::{Clock, SystemClock};
use crate::platform::udp;
use crate::platform::usb::{StickSource, StickWatcher};
use crate::store::fs::DirStorage;
use core::fmt;
use session::Session;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

/// How the agent is started: the board, and overrides for the host and tests.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub board: Board,
    pub settings: Option<PathBuf>,
    pub usb_dir: Option<PathBuf>,
    pub tap: Option<SocketAddr>,
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
    let settings = if settings_path.exists() {
        Settings::load(&settings_path).map_err(AgentError::Config)?
    } else {
        log::info!(
            "no settings at {}; using the defaults",
            settings_path.display()
        );
        Settings::default()
    };
    if !board.usb_host && settings.mode == crate::config::settings::Mode::Local {
        log::warn!(
            "{} has no USB host port: local recording is not available",
            board.model
        );
    }
    let source = match &opts.usb_dir {
        Some(dir) => StickSource::Directory(dir.clone()),
        None => board.stick_source(),
    };
    let tap_addr = opts.tap.unwrap_or(board.tap);
    let tap = udp::bind(tap_addr).map_err(setup(format!("tap {tap_addr}")))?;
    let mut tap = udp::TapReader::new(tap);
    let tap_local = tap.local_addr().map_err(setup("tap"))?;
    let socket_path = opts
        .control_socket
        .clone()
        .unwrap_or_else(|| board.control_socket.clone());
    let listener = control::bind(&socket_path)
        .map_err(setup(format!("control socket {}", socket_path.display())))?;
    let mut watcher = StickWatcher::new(source).map_err(setup("USB stick watcher"))?;

    let clock = SystemClock::new();
    let (net_tx, mut net_updates) = mpsc::channel(16);
    let mut network = match settings.mode {
        crate::config::settings::Mode::Network => {
            let mac = opts.mac.clone().unwrap_or_else(|| board.mac_address());
            let n = network::Network::new(settings.clone(), mac, clock.clone(), net_tx)
                .map_err(setup("RTP forwarding socket"))?;
            Some(n)
        }
        _ => None,
    };
    // Readiness of the tap, for network mode (each packet forwarded as it arrives).
    // SAFETY: `tap` owns the descriptor and outlives `tap_ready` (declared after it, dropped
    // before it); the wrapper never closes it.
    let tap_ready =
        unsafe { tokio::io::unix::AsyncFd::register(RawFdRef(tap.raw_fd())) }.map_err(|e| {
            AgentError::Setup {
                what: "tap".into(),
                error: e.into_parts().1,
            }
        })?;
    let factory: session::StorageFactory<DirStorage> = Box::new(|s| DirStorage::new(&s.path));
    let mut session = Session::new(settings, factory, tap_local.to_string());
    session.set_usb_host(board.usb_host);
    session.stick_changed(watcher.current().cloned());

    let (job_tx, mut jobs) = mpsc::channel(control::QUEUE);
    tokio::spawn(control::serve(listener, job_tx));
    let (stick_tx, mut sticks) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let stick = watcher.changed().await;
            if stick_tx.send(stick).await.is_err() {
                return;
            }
        }
    });
    let mut sigterm = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = signal(tokio::signal::unix::SignalKind::interrupt())?;

    log::info!(
        "agent up: board {}, tap {tap_local}, control {}",
        board.model,
        socket_path.display()
    );
    // Ready line for supervisors and tests: printed once everything is bound.
    println!(
        "callrec agent ready tap={tap_local} control={}",
        socket_path.display()
    );

    // One wake-up per tick, whatever the packet rate: the tap is drained in batches, then the
    // recorder's deadlines (reorder hold, the one-second commit) are served. The tick's timer is
    // only ever moved later, so the runtime never has to wake itself early.
    let mut tick = crate::platform::ticker::Ticker::new(TICK, TICK).map_err(setup("tick timer"))?;
    loop {
        tokio::select! {
            biased;
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            r = tap_ready.readable(), if network.as_ref().is_some_and(|n| n.forwarding()) => {
                if let Ok(mut guard) = r {
                    drain(&mut tap, &mut session, network.as_mut(), &clock);
                    // A datagram that landed meanwhile keeps the readiness (tokio tracks it).
                    guard.clear_ready();
                }
            }
            Some((cmd, call, reply)) = jobs.recv() => {
                // Every datagram that reached the tap before the command is handled first.
                drain(&mut tap, &mut session, network.as_mut(), &clock);
                match network.as_mut() {
                    Some(n) => n.command(&cmd, call, reply),
                    None => {
                        let response = session.command(clock.now_ms(), &cmd, &clock);
                        let _ = reply.send(response);
                    }
                }
            }
            Some(update) = net_updates.recv() => {
                if let Some(n) = network.as_mut() {
                    n.on_update(update);
                }
            }
            Some(stick) = sticks.recv() => {
                drain(&mut tap, &mut session, network.as_mut(), &clock);
                session.stick_changed(stick);
            }
            _ = tick.tick() => drain(&mut tap, &mut session, network.as_mut(), &clock),
        }
    }
    drain(&mut tap, &mut session, network.as_mut(), &clock);
    if let Some(n) = network.as_mut() {
        n.shutdown(&mut net_updates).await;
    }
    log::info!("agent stopping");
    session.shutdown(&clock);
    let _ = std::fs::remove_file(&socket_path);
    Ok(())
}

fn signal(
    kind: tokio::signal::unix::SignalKind,
) -> Result<tokio::signal::unix::Signal, AgentError> {
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

/// Hands every waiting datagram to the session at its kernel arrival time, then serves the
/// recorder's deadlines.
fn drain<S: crate::store::Storage>(
    tap: &mut udp::TapReader,
    session: &mut Session<S>,
    mut network: Option<&mut network::Network>,
    clock: &SystemClock,
) {
    let now = clock.now_ms();
    if let Err(e) = tap.drain(|datagram, r| {
        if let Some(n) = network.as_deref_mut() {
            n.forward(datagram);
        }
        session.datagram(udp::arrival_ms(r.arrival, now), datagram, clock);
    }) {
        log::warn!("tap receive: {e}");
    }
    let now = clock.now_ms();
    while session.poll_timeout().is_some_and(|t| t <= now) {
        session.timeout(now, clock);
    }
}
