//! `callrec-server`: the record server of the guide's network recording.
//!
//! Phones open a TCP control connection per session ([`connection`], a shell around the core's
//! `net_server::ServerSession`, which decides the protocol), the server hands each session a
//! UDP port of its range ([`ports`]) and records the phone's RTP there with the same core as the
//! phone's local recording, in shard threads ([`media`]), into a Record file with a JSON sidecar
//! ([`store`]). The protocol is `../shared/spec/record-protocol.md`.
//!
//! One server per storage folder: [`run`] takes `STORAGE/.callrec-server.lock` (flock(2), naming
//! its pid) before anything reads or writes the storage. A watcher thread keeps the storage's
//! free space above the reserve ([`space`]); what a peer can make the server log over and over
//! is rate-limited ([`logs`]).
//!
//! Admission: control connections from outside `--allow` are closed at accept, unread; a start
//! is refused when its address or its device holds its share of the sessions
//! (`callrec_core::admission`), or, with `--known-devices-only`, when its device is not in the
//! device registry ([`devices`]).

pub mod audit;
pub mod auth;
pub mod backup;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod connection;
pub mod devices;
pub mod digest;
pub mod error;
pub mod http;
pub mod integrity;
pub mod logs;
pub mod media;
pub mod metrics;
pub mod ports;
pub mod recover;
pub mod retention;
pub mod rid;
pub mod space;
pub mod store;
pub mod validate;
pub mod verify;

use callrec_core::admission::{Limits, Sessions};
use callrec_core::cidr::AllowList;
use callrec_core::net_server::{AdmitRefusal, ServerTimeouts};
use callrec_platform::clock::SystemClock;
use catalog::{Catalog, CatalogSpec, Device};
use error::ServerError;
use media::Command;
use ports::PortPool;
use space::{Finals, Space};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::Store;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    pub storage: PathBuf,
    pub rtp_ports: (u16, u16),
    pub max_sessions: usize,
    /// Live sessions one phone address may hold (`--max-sessions-per-address`).
    pub max_sessions_per_address: usize,
    /// Live sessions one device (the start's MAC) may hold (`--max-sessions-per-device`).
    pub max_sessions_per_device: usize,
    /// Where control connections may come from (`--allow`, repeatable); none: anywhere.
    pub allow: AllowList,
    /// Refuse a start from a device that is not in the registry (`--known-devices-only`).
    pub known_devices_only: bool,
    /// A session with no RTP and no known control message for this long ends (`idle`).
    pub idle_timeout: Duration,
    /// A session with no RTP at all for this long after its start ends (`no_rtp`).
    pub no_rtp_timeout: Duration,
    pub shards: usize,
    /// Control connections one address may hold at once.
    pub max_connections_per_peer: usize,
    /// Where the web page and JSON API listen (`--http`); `None`: no web side.
    pub http: Option<SocketAddr>,
    /// Where `/metrics` is served without authentication (`--metrics`, loopback only).
    pub metrics: Option<SocketAddr>,
    /// The web side's certificate chain and key, PEM (`--tls-cert`, `--tls-key`).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// The names the web side answers to (`--http-name`, [`http::host`]).
    pub http_names: Vec<http::host::Host>,
    /// Where the catalog is (`--catalog`): `None` is `STORAGE/catalog.sqlite`.
    pub catalog: Option<String>,
    /// Free space the storage keeps, in bytes (`--reserve`, in MiB): below it new sessions are
    /// refused and running ones end ([`space`]).
    pub reserve: u64,
    /// How often the retention sweep runs (`--sweep-every`, [`retention::sweep`]).
    pub sweep_every: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            listen: "0.0.0.0:5060".parse().expect("a valid literal"),
            storage: PathBuf::from("recordings"),
            rtp_ports: (40_000, 49_999),
            max_sessions: 4000,
            max_sessions_per_address: 4,
            max_sessions_per_device: 2,
            allow: AllowList::default(),
            known_devices_only: false,
            idle_timeout: Duration::from_secs(60),
            no_rtp_timeout: Duration::from_secs(10),
            shards: 2,
            max_connections_per_peer: 64,
            http: None,
            metrics: None,
            tls: None,
            http_names: Vec::new(),
            catalog: None,
            reserve: space::DEFAULT_RESERVE,
            sweep_every: retention::sweep::SWEEP_EVERY,
        }
    }
}

/// The storage folder's lock file (one server per storage).
pub const LOCK_FILE: &str = ".callrec-server.lock";
/// Commands waiting for one shard.
const SHARD_QUEUE: usize = 1024;

/// State shared by the control connections.
pub struct Shared {
    pub store: Store,
    pub catalog: Catalog,
    /// The storage's free space as the watcher last saw it.
    pub space: Space,
    /// Final sidecars the storage refused, written again by the watcher.
    pub finals: Finals,
    pub clock: SystemClock,
    /// Every connection's handshake and idle time ([`connection`]).
    pub timeouts: ServerTimeouts,
    /// The device registry as last read from the catalog.
    pub devices: Arc<devices::Registry>,
    /// Starts from devices not in the registry are refused (`unknown_device`).
    pub known_devices_only: bool,
    /// Control connections closed at accept for coming from outside `--allow`.
    pub outside: AtomicU64,
    shards: Vec<SyncSender<Command>>,
    registry: Mutex<Registry>,
}

struct Registry {
    /// The live sessions, counted per address and per device.
    sessions: Sessions,
    ports: Arc<PortPool>,
    load: Vec<usize>,
    shard_of: HashMap<String, usize>,
    peers: HashMap<IpAddr, usize>,
}

/// A session admitted: its shard, its port and the port's socket, and its device's entry in
/// the registry (if it has one).
pub struct Admitted {
    pub shard: usize,
    pub port: u16,
    pub socket: UdpSocket,
    pub device: Option<Arc<Device>>,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock is a bug elsewhere; the registry itself stays usable.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new session `id` from the phone at `peer` for its `device` (the start's
    /// field): free space, a known device if only those are taken, a unique id, room under the
    /// limits (per address, per device, in all), a port on `local` (the address the phone
    /// reached). Returns the shard, the port and its socket, and the device's registry entry;
    /// or why not.
    pub fn admit(
        &self,
        id: &str,
        peer: IpAddr,
        device: &str,
        local: IpAddr,
    ) -> Result<Admitted, AdmitRefusal> {
        if !self.space.admits() {
            return Err(AdmitRefusal::StorageFull);
        }
        let entry = self.devices.lookup(device);
        if self.known_devices_only && entry.is_none() {
            return Err(AdmitRefusal::UnknownDevice);
        }
        let mut r = self.registry();
        r.sessions.admit(id, peer, device)?;
        let (socket, port) = match r.ports.bind(local) {
            Ok(p) => p,
            Err(_) => {
                r.sessions.release(id);
                return Err(AdmitRefusal::NoFreePort);
            }
        };
        let shard = (0..r.load.len()).min_by_key(|&i| r.load[i]).unwrap_or(0);
        r.load[shard] += 1;
        r.shard_of.insert(id.to_owned(), shard);
        Ok(Admitted {
            shard,
            port,
            socket,
            device: entry,
        })
    }

    /// Forgets a session that ended.
    pub fn release(&self, id: &str, port: u16) {
        let mut r = self.registry();
        if r.sessions.release(id) {
            if let Some(shard) = r.shard_of.remove(id) {
                r.load[shard] = r.load[shard].saturating_sub(1);
            }
        }
        r.ports.free(port);
    }

    /// Hands a command to a shard; false if its queue is full or it has stopped.
    pub fn send(&self, shard: usize, cmd: Command) -> bool {
        match self.shards.get(shard).map(|tx| tx.try_send(cmd)) {
            Some(Ok(())) => true,
            Some(Err(TrySendError::Full(_))) => {
                crate::limited!(logs::Kind::Media, "shard {shard} queue full");
                false
            }
            _ => false,
        }
    }

    pub fn sessions(&self) -> usize {
        self.registry().sessions.len()
    }

    /// Counts a new connection from `ip`; false if it already holds its limit.
    fn connect(&self, ip: IpAddr, limit: usize) -> bool {
        let mut r = self.registry();
        let n = r.peers.entry(ip).or_insert(0);
        if *n >= limit {
            return false;
        }
        *n += 1;
        true
    }

    fn disconnect(&self, ip: IpAddr) {
        let mut r = self.registry();
        if let Some(n) = r.peers.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                r.peers.remove(&ip);
            }
        }
    }
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(opts: ServerOptions) -> Result<(), ServerError> {
    // Before the storage: a certificate that cannot be used is the operator's to fix.
    let tls = match &opts.tls {
        Some((cert, key)) => {
            Some(http::tls::load(cert, key).map_err(|e| ServerError::Usage(e.to_string()))?)
        }
        None => None,
    };
    let store = Store::open(&opts.storage).map_err(ServerError::setup(format!(
        "storage {}",
        opts.storage.display()
    )))?;
    // Before the catalog or the recovery touch the storage: a second server must not finish
    // the first one's live sessions as cut off.
    let _lock = lock_storage(&store)?;
    let spec = CatalogSpec::parse(opts.catalog.as_deref(), &opts.storage);
    let what = spec.describe();
    let (catalog, report) = Catalog::open(spec, &store)?;
    log::info!("catalog: {what}: {report}");
    let registry = Arc::new(devices::Registry::load(&catalog)?);
    log::info!("device registry: {} device(s)", registry.len());
    if opts.known_devices_only && registry.is_empty() {
        log::warn!(
            "--known-devices-only with no device registered: every start is refused \
             (unknown_device) until `callrec-server device add` registers one"
        );
    }
    let refresher = devices::Refresher::start(registry.clone(), catalog.clone())
        .map_err(ServerError::setup("device registry thread"))?;
    let finals = Finals::new(catalog.clone());
    recover::unfinished(&store, &finals)?;
    let space = Space::new(store.root(), opts.reserve);
    let needed = space::Reserve::needed_for(opts.max_sessions);
    if opts.reserve < needed {
        log::warn!(
            "--reserve {} is less than {} sessions may need to end cleanly ({}); a full storage \
             may cut some off",
            space::mib(opts.reserve),
            opts.max_sessions,
            space::mib(needed)
        );
    }
    let watcher = space::Watcher::start(space.clone(), finals.clone())
        .map_err(ServerError::setup("storage watcher thread"))?;
    // After the recovery: a session cut off by the last stop is finished before it is judged.
    let sweeper =
        retention::sweep::Sweeper::start(catalog.clone(), store.clone(), opts.sweep_every)
            .map_err(ServerError::setup("retention sweep thread"))?;
    let clock = SystemClock::new();
    let mut shards = Vec::new();
    let mut threads = Vec::new();
    for i in 0..opts.shards.max(1) {
        let (tx, rx) = sync_channel(SHARD_QUEUE);
        let c = clock.clone();
        let sp = space.clone();
        let t = std::thread::Builder::new()
            .name(format!("media-{i}"))
            .spawn(move || media::run_shard(rx, c, sp))
            .map_err(ServerError::setup("shard thread"))?;
        shards.push(tx);
        threads.push(t);
    }
    let ports = PortPool::start(opts.rtp_ports.0, opts.rtp_ports.1)
        .map_err(ServerError::setup("port sweeper thread"))?;
    let shared = Arc::new(Shared {
        store,
        catalog: catalog.clone(),
        space,
        finals: finals.clone(),
        clock,
        timeouts: ServerTimeouts {
            idle_ms: u64::try_from(opts.idle_timeout.as_millis()).unwrap_or(u64::MAX),
            no_rtp_ms: u64::try_from(opts.no_rtp_timeout.as_millis()).unwrap_or(u64::MAX),
            ..ServerTimeouts::default()
        },
        devices: registry,
        known_devices_only: opts.known_devices_only,
        outside: AtomicU64::new(0),
        registry: Mutex::new(Registry {
            sessions: Sessions::new(Limits {
                sessions: opts.max_sessions,
                per_address: opts.max_sessions_per_address,
                per_device: opts.max_sessions_per_device,
            }),
            ports,
            load: vec![0; shards.len()],
            shard_of: HashMap::new(),
            peers: HashMap::new(),
        }),
        shards,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServerError::setup("runtime"))?;
    let result = runtime.block_on(accept_loop(shared.clone(), &opts, tls));
    // Closing the shards' channels ends their sessions cleanly.
    drop(runtime);
    let outside = shared.outside.load(Ordering::Relaxed);
    if outside > 0 {
        log::info!("{outside} control connection(s) from outside --allow were closed");
    }
    drop(shared);
    for t in threads {
        let _ = t.join();
    }
    watcher.stop();
    refresher.stop();
    sweeper.stop();
    let left = finals.retry();
    if left > 0 {
        log::error!(
            "{left} final sidecar(s) could not be written; the next start finishes them \
             (server restart)"
        );
    }
    catalog.flush(Duration::from_secs(5));
    result
}

/// Takes the storage's lock, or says which server holds it.
fn lock_storage(store: &Store) -> Result<callrec_platform::pid_lock::PidLock, ServerError> {
    use callrec_platform::pid_lock::{acquire, LockError};
    let path = store.root().join(LOCK_FILE);
    acquire(&path).map_err(|e| match e {
        LockError::Held { path, pid } => ServerError::StorageInUse {
            storage: store.root().to_owned(),
            lock: path,
            pid,
        },
        LockError::Io { path, error } => ServerError::Setup {
            what: format!("lock {}", path.display()),
            error,
        },
    })
}

async fn accept_loop(
    shared: Arc<Shared>,
    opts: &ServerOptions,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), ServerError> {
    use tokio::signal::unix::{signal, SignalKind};
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(ServerError::setup(format!("listen {}", opts.listen)))?;
    let local = listener
        .local_addr()
        .map_err(ServerError::setup("listener"))?;
    let mut term = signal(SignalKind::terminate()).map_err(ServerError::setup("signal handler"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServerError::setup("signal handler"))?;
    log::info!(
        "record server on {local}, RTP ports {}-{}",
        opts.rtp_ports.0,
        opts.rtp_ports.1
    );
    if !opts.allow.ranges().is_empty() {
        let ranges: Vec<String> = opts.allow.ranges().iter().map(|c| c.to_string()).collect();
        log::info!("control connections only from {}", ranges.join(", "));
    }
    let web = match opts.http {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(ServerError::setup(format!("http listen {addr}")))?;
            let web = l
                .local_addr()
                .map_err(ServerError::setup("http listener"))?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            log::info!("web page and API on {scheme}://{web}/");
            let site = http::Site {
                store: shared.store.clone(),
                catalog: shared.catalog.clone(),
                space: shared.space.clone(),
                tls,
                names: http::host::Names::new(opts.http_names.clone()),
            };
            tokio::spawn(http::serve(l, site));
            format!(" http={web}")
        }
        None => String::new(),
    };
    let scrape = match opts.metrics {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(ServerError::setup(format!("metrics listen {addr}")))?;
            let at = l
                .local_addr()
                .map_err(ServerError::setup("metrics listener"))?;
            log::info!("metrics without authentication on http://{at}/metrics");
            let s = http::metrics::Scraped {
                catalog: shared.catalog.clone(),
                space: shared.space.clone(),
                storage: shared.store.root().to_owned(),
            };
            let names = http::host::Names::new(opts.http_names.clone());
            tokio::spawn(http::metrics::serve_loopback(l, s, names));
            format!(" metrics={at}")
        }
        None => String::new(),
    };
    println!("callrec-server ready control={local}{web}{scrape}");
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            r = listener.accept() => {
                let (stream, peer) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        crate::limited!(logs::Kind::Accept, "accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if !opts.allow.allows(peer.ip()) {
                    // Closed before a byte is read: nothing from outside reaches a session.
                    drop(stream);
                    let n = shared.outside.fetch_add(1, Ordering::Relaxed) + 1;
                    metrics::METRICS.outside_allow();
                    crate::limited!(
                        logs::Kind::Outside,
                        "{peer}: not in --allow; closed ({n} so far)"
                    );
                    continue;
                }
                if !shared.connect(peer.ip(), opts.max_connections_per_peer) {
                    crate::limited!(
                        logs::Kind::Accept,
                        "{peer}: too many connections from this address; refused"
                    );
                    continue;
                }
                let s = shared.clone();
                tokio::spawn(async move {
                    connection::serve(s.clone(), stream, peer).await;
                    s.disconnect(peer.ip());
                });
            }
        }
    }
    log::info!("record server stopping");
    Ok(())
}
