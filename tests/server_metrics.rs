//! `/metrics` of the real `callrec-server`: what it counts is what the test did (sessions
//! started and stopped, packets sent, a stranger's and a flood's drops, a refusal by the
//! admission, failed logins, the catalog's recordings and the audit trail's entries), in
//! Prometheus' text format as a strict parser written from the format's specification reads
//! it; who may read it on the web side (the admin and the metrics role, nobody else); the
//! loopback listener without authentication (only `/metrics`, only on loopback, with the Host
//! check). The peers tier has a real Prometheus scrape both, and `promtool check metrics`;
//! and `/healthz` turns 503 while the catalog is unreachable or the storage not writable, and
//! 200 again after.
//!
//! Waits are bounded retries for what the server does on its own time; nothing asserts speed.

mod common;
use common::server::{console, get, Server};
use common::{Sender, TempDir};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
#[cfg(feature = "peers")]
use std::time::Instant;

struct Reply {
    status: u16,
    head: String,
    body: String,
}

/// One request to `to` with `extra` header lines (each ending in CRLF).
fn request(to: SocketAddr, method: &str, path: &str, host: &str, extra: &str) -> Reply {
    let mut s = TcpStream::connect(to).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\
         Content-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let all = String::from_utf8(all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").unwrap();
    Reply {
        status: head[9..12].parse().unwrap(),
        head: head.to_string(),
        body: body.to_string(),
    }
}

fn scrape(to: SocketAddr, token: Option<&str>) -> Reply {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    request(to, "GET", "/metrics", &to.to_string(), &auth)
}

/// The samples of an exposition in the text format (version 0.0.4), by series (`name` or
/// `name{l="v",…}` as written); panics on anything the format does not allow, and on what
/// this server promises besides (HELP and TYPE for every family, counters named `_total`).
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    fn metric_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
    }
    fn label_name(s: &str) -> bool {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    }
    assert!(text.ends_with('\n'), "the last line ends with a newline");
    let mut samples = BTreeMap::new();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps = std::collections::BTreeSet::new();
    let mut done = std::collections::BTreeSet::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        assert!(!line.is_empty(), "an empty line");
        if let Some(rest) = line.strip_prefix("# ") {
            let (word, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, what) = rest.split_once(' ').unwrap_or((rest, ""));
            match word {
                "HELP" => {
                    assert!(metric_name(name), "{line}");
                    assert!(!what.is_empty(), "no help text: {line}");
                    assert!(helps.insert(name.to_string()), "HELP twice: {line}");
                }
                "TYPE" => {
                    assert!(metric_name(name), "{line}");
                    let kinds = ["counter", "gauge", "histogram", "summary", "untyped"];
                    assert!(kinds.contains(&what), "{line}");
                    assert!(
                        !samples
                            .keys()
                            .any(|k: &String| k.split('{').next() == Some(name)),
                        "TYPE after its samples: {line}"
                    );
                    assert!(
                        types.insert(name.to_string(), what.to_string()).is_none(),
                        "{line}"
                    );
                    if what == "counter" {
                        assert!(
                            name.ends_with("_total"),
                            "a counter not named _total: {line}"
                        );
                    }
                    if let Some(c) = current.replace(name.to_string()) {
                        done.insert(c);
                    }
                }
                _ => {}
            }
            continue;
        }
        assert!(!line.starts_with('#'), "{line}");
        // name, labels, value (a timestamp may follow).
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("{line}"));
        let name = &line[..name_end];
        assert!(metric_name(name), "{line}");
        let mut rest = &line[name_end..];
        let mut series = name.to_string();
        if let Some(labels) = rest.strip_prefix('{') {
            let mut i = 0;
            let b = labels.as_bytes();
            let mut seen = Vec::new();
            series.push('{');
            loop {
                if b[i] == b'}' {
                    i += 1;
                    break;
                }
                let eq = labels[i..].find('=').unwrap() + i;
                let lname = &labels[i..eq];
                assert!(label_name(lname), "label {lname:?}: {line}");
                assert!(!seen.contains(&lname), "label twice: {line}");
                seen.push(lname);
                assert_eq!(b[eq + 1], b'"', "{line}");
                let mut j = eq + 2;
                while b[j] != b'"' {
                    if b[j] == b'\\' {
                        assert!(
                            matches!(b[j + 1], b'\\' | b'"' | b'n'),
                            "bad escape: {line}"
                        );
                        j += 1;
                    }
                    j += 1;
                }
                series.push_str(&labels[i..=j]);
                i = j + 1;
                match b[i] {
                    b',' => {
                        series.push(',');
                        i += 1;
                    }
                    b'}' => {}
                    _ => panic!("{line}"),
                }
            }
            series.push('}');
            rest = &labels[i..];
        }
        let mut words = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("{line}"))
            .split(' ');
        let value = words.next().unwrap();
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse().unwrap_or_else(|_| panic!("value {v:?}: {line}")),
        };
        if let Some(ts) = words.next() {
            ts.parse::<i64>()
                .unwrap_or_else(|_| panic!("timestamp: {line}"));
        }
        assert!(words.next().is_none(), "{line}");
        assert_eq!(
            current.as_deref(),
            Some(name),
            "a sample outside its family: {line}"
        );
        assert!(!done.contains(name), "a family split: {line}");
        assert!(helps.contains(name), "no HELP: {line}");
        if types[name] == "counter" {
            assert!(v >= 0.0, "{line}");
        }
        assert!(
            samples.insert(series, v).is_none(),
            "a series twice: {line}"
        );
    }
    samples
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> u64 {
    let v = *samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {samples:?}"));
    assert!(v >= 0.0 && v.fract() == 0.0, "{series} {v}");
    v as u64
}

fn start_line(id: &str) -> String {
    format!(
        "cmd=RecordStartRequest&id={id}&device=00:15:65:AA:BB:{:02X}&remote_number=1002\
         &local_number=1001&dir=in&codec=PCMA\n",
        id.len()
    )
}

fn start(c: &mut common::server::Conn, id: &str) -> Result<u16, String> {
    c.send(start_line(id).as_bytes());
    let l = c.line();
    match get(&l, "result") {
        Some("success") => Ok(get(&l, "port").unwrap().parse().unwrap()),
        _ => Err(get(&l, "reason").unwrap_or(&l).to_owned()),
    }
}

fn stop(c: &mut common::server::Conn, id: &str) {
    c.send(format!("cmd=RecordStopRequest&id={id}&reason=done\n").as_bytes());
    assert_eq!(get(&c.line(), "result"), Some("success"));
}

fn to(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn token(server: &Server, role: &str) -> String {
    let storage = server.storage.to_str().unwrap();
    let args = [
        "add",
        "--storage",
        storage,
        "--by",
        "test-admin",
        "--name",
        role,
        "--role",
        role,
    ];
    let (code, out, err) = console("token", &args);
    assert_eq!(code, 0, "{err}");
    out.trim().to_string()
}

/// What the test does to a server: its sessions, packets, a refusal, a failed login.
struct Done {
    sessions: u64,
    sent: u64,
    strangers: u64,
}

fn exercise(server: &Server) -> Done {
    let mut sent = 0;
    // Two sessions of 50 packets each from the phone, one after the other.
    for id in ["m1", "m2"] {
        let mut c = server.connect();
        let port = start(&mut c, id).unwrap();
        let phone = Sender::new(to(port));
        for k in 0..50u16 {
            phone.send(k, u32::from(k) * 160, &[1; 160]);
        }
        sent += 50;
        stop(&mut c, id);
    }
    // A third with a stranger beside the phone, and a flood from the phone (thousands of
    // packets at once: far past the flood limit), while a second start from this address is
    // refused (--max-sessions-per-address 1).
    let mut c = server.connect();
    let port = start(&mut c, "flood").unwrap();
    let phone = Sender::new(to(port));
    phone.send(0, 0, &[1; 160]);
    let stranger = Sender::new(to(port));
    for k in 0..7u16 {
        stranger.send(k, 0, &[9; 160]);
    }
    for k in 1..3000u16 {
        phone.send(k, u32::from(k) * 160, &[7; 160]);
        // Paced so that the socket's buffer (256 KiB) never overflows between two of the
        // server's 100 ms cycles, even a late one: 2,500 a second, fifty times a phone's rate.
        if k % 50 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    sent += 3000 + 7;
    let mut other = server.connect();
    assert_eq!(start(&mut other, "refused").unwrap_err(), "address_limit");
    stop(&mut c, "flood");
    Done {
        sessions: 3,
        sent,
        strangers: 7,
    }
}

fn failed_login(http: SocketAddr) {
    let mut s = TcpStream::connect(http).unwrap();
    let body = "user=test-admin&password=wrong+password+here";
    let req = format!(
        "POST /login HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert!(all.starts_with("HTTP/1.1 401"), "{all}");
}

/// Sums of the sidecars' packet statistics.
fn sidecar_sums(server: &Server) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for sc in server.sidecars() {
        for (k, v) in sc["stats"].as_object().unwrap() {
            *sums.entry(k.clone()).or_insert(0) += v.as_u64().unwrap();
        }
    }
    sums
}

fn audit_entries(server: &Server) -> u64 {
    let storage = server.storage.to_str().unwrap();
    let (code, out, err) = console(
        "audit",
        &["export", "--storage", storage, "--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    out.lines().count() as u64
}

/// Checks a scrape against what was done.
fn check(samples: &BTreeMap<String, f64>, server: &Server, done: &Done) {
    let sums = sidecar_sums(server);
    let v = |s: &str| value(samples, s);
    assert_eq!(v("callrec_server_sessions_started_total"), done.sessions);
    assert_eq!(
        v("callrec_server_sessions_ended_total{reason=\"stop\"}"),
        done.sessions
    );
    assert_eq!(v("callrec_server_sessions_live"), 0);
    assert_eq!(
        v("callrec_server_sessions_refused_total{reason=\"address_limit\"}"),
        1
    );
    assert_eq!(
        v("callrec_server_sessions_refused_total{reason=\"storage_full\"}"),
        0
    );
    // Every datagram sent on loopback reached the server, and the sidecars say the same.
    assert_eq!(v("callrec_server_packets_received_total"), done.sent);
    assert_eq!(sums["received"], done.sent);
    let dropped = |c: &str| {
        v(&format!(
            "callrec_server_packets_dropped_total{{cause=\"{c}\"}}"
        ))
    };
    assert_eq!(dropped("stranger"), done.strangers);
    let flood = dropped("flood");
    assert!(flood > 1000, "a flood of 3000 in 1.2 s: {flood} dropped");
    eprintln!(
        "metrics: {} received, {flood} dropped by the flood limit",
        done.sent
    );
    assert_eq!(flood, sums["flood_dropped"]);
    assert_eq!(dropped("late"), sums["late"]);
    assert_eq!(dropped("duplicate"), sums["duplicates"]);
    assert_eq!(dropped("malformed"), sums["malformed"]);
    assert_eq!(v("callrec_server_packets_lost_total"), sums["lost"]);
    assert_eq!(v("callrec_server_login_failures_total"), 1);
    assert_eq!(v("callrec_server_catalog_up"), 1);
    assert_eq!(v("callrec_server_catalog_recordings"), done.sessions);
    assert!(v("callrec_server_catalog_bytes") >= 4096);
    assert!(v("callrec_server_storage_free_bytes") > 0);
    assert_eq!(v("callrec_server_storage_reserve_bytes"), 64 << 20);
    assert_eq!(v("callrec_server_audit_entries"), audit_entries(server));
}

fn started(dir: &TempDir) -> Server {
    Server::start(
        dir.path(),
        &[
            "--http",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--max-sessions-per-address",
            "1",
        ],
    )
}

#[test]
fn metrics_count_what_was_done_in_the_text_format_for_those_who_may_read_them() {
    let dir = TempDir::new("server-metrics");
    let server = started(&dir);
    let (http, open) = (server.http.unwrap(), server.metrics.unwrap());
    let done = exercise(&server);
    failed_login(http);

    let metrics = token(&server, "metrics");
    let r = scrape(http, Some(&metrics));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.head
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{}",
        r.head
    );
    check(&parse_exposition(&r.body), &server, &done);
    // The same figures on the loopback listener, without a token.
    let r = scrape(open, None);
    assert_eq!(r.status, 200, "{}", r.body);
    check(&parse_exposition(&r.body), &server, &done);

    // Who may read it on the web side: the admin and the metrics role, by token.
    assert_eq!(scrape(http, server.token.as_deref()).status, 200);
    assert_eq!(scrape(http, None).status, 401);
    assert_eq!(scrape(http, Some("crt_not-a-token")).status, 401);
    let supervisor = token(&server, "supervisor");
    let r = scrape(http, Some(&supervisor));
    assert_eq!(r.status, 403, "a supervisor: {}", r.body);
    // The metrics role reads nothing else.
    let r = request(
        http,
        "GET",
        "/api/recordings",
        &http.to_string(),
        &format!("Authorization: Bearer {metrics}\r\n"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = request(http, "POST", "/metrics", &http.to_string(), "");
    assert_eq!(r.status, 405);

    // The loopback listener answers /metrics only, GET and HEAD only, to its own names only.
    let here = open.to_string();
    assert_eq!(request(open, "GET", "/healthz", &here, "").status, 404);
    assert_eq!(
        request(open, "GET", "/api/recordings", &here, "").status,
        404
    );
    let r = request(open, "HEAD", "/metrics", &here, "");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(request(open, "POST", "/metrics", &here, "").status, 405);
    assert_eq!(
        request(open, "GET", "/metrics", "evil.example", "").status,
        421
    );
    let local = format!("localhost:{}", open.port());
    assert_eq!(request(open, "GET", "/metrics", &local, "").status, 200);
}

#[test]
fn the_unauthenticated_listener_is_refused_off_loopback() {
    let dir = TempDir::new("server-metrics-refused");
    for addr in ["0.0.0.0:9464", "[::]:9464", "192.0.2.1:9464"] {
        let out = std::process::Command::new(common::bins::server())
            .args(["--listen", "127.0.0.1:0", "--storage"])
            .arg(dir.path().join("s"))
            .args(["--metrics", addr])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("is not a loopback address"), "{err}");
    }
    assert!(
        !dir.path().join("s").exists(),
        "nothing of the storage touched"
    );
}

/// A real Prometheus (Debian's) scrapes the web side with a metrics token and the loopback
/// listener without one; its query API has the test's figures from both, and promtool finds
/// nothing wrong with the exposition.
#[cfg(feature = "peers")]
#[test]
fn a_real_prometheus_scrapes_both_and_promtool_checks_the_format() {
    let dir = TempDir::new("server-metrics-prometheus");
    let server = started(&dir);
    let (http, open) = (server.http.unwrap(), server.metrics.unwrap());
    let done = exercise(&server);
    let metrics = token(&server, "metrics");

    let text = scrape(open, None).body;
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package: scripts/setup)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n\
             - job_name: web\n  authorization:\n    credentials: {metrics}\n\
             \x20 static_configs:\n  - targets: ['{http}']\n\
             - job_name: loopback\n  static_configs:\n  - targets: ['{open}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let prometheus = std::process::Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus (Debian's package: scripts/setup)");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prometheus = Kill(prometheus);
    let api = SocketAddr::from(([127, 0, 0, 1], port));
    // `query` for each job: its value, once Prometheus has scraped it.
    let query = |q: &str| -> Option<BTreeMap<String, f64>> {
        let path = format!("/api/v1/query?query={q}");
        let r = TcpStream::connect(api)
            .ok()
            .map(|_| request(api, "GET", &path, &api.to_string(), ""))?;
        let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
        let mut out = BTreeMap::new();
        for s in v["data"]["result"].as_array()? {
            let job = s["metric"]["job"].as_str()?.to_string();
            out.insert(job, s["value"][1].as_str()?.parse().ok()?);
        }
        (out.len() == 2).then_some(out)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let wanted = [
        ("up", 1.0),
        (
            "callrec_server_sessions_started_total",
            done.sessions as f64,
        ),
        ("callrec_server_packets_received_total", done.sent as f64),
        (
            "callrec_server_packets_dropped_total%7Bcause%3D%22stranger%22%7D",
            done.strangers as f64,
        ),
        (
            "callrec_server_sessions_refused_total%7Breason%3D%22address_limit%22%7D",
            1.0,
        ),
        ("callrec_server_catalog_recordings", done.sessions as f64),
    ];
    for (q, want) in wanted {
        let got = loop {
            match query(q) {
                Some(got) if got.values().all(|v| *v == want) => break got,
                got if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(dir.path().join("prometheus.log"));
                    panic!("{q}: {got:?}, want {want} from both jobs; log: {log:?}")
                }
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        eprintln!("prometheus: {q} = {got:?}");
    }
}

/// `/healthz` and `/metrics` while the catalog is away: PostgreSQL refuses the catalog's
/// database (new connections off, the open ones ended), and lets it in again.
#[cfg(feature = "peers")]
#[test]
fn healthz_is_503_while_the_catalog_is_unreachable_and_200_when_it_is_back() {
    use callrec_tools::postgres::Postgres;
    let dir = TempDir::new("server-healthz-catalog");
    let pg = Postgres::start(&dir.path().join("pg")).unwrap_or_else(|e| panic!("{e}"));
    let url = pg.database("health").unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--http",
            "127.0.0.1:0",
            "--metrics",
            "127.0.0.1:0",
            "--catalog",
            &url,
        ],
    );
    let (http, open) = (server.http.unwrap(), server.metrics.unwrap());
    let health = || {
        let r = request(http, "GET", "/healthz", &http.to_string(), "");
        (r.status, r.body)
    };
    let catalog_up = || {
        value(
            &parse_exposition(&scrape(open, None).body),
            "callrec_server_catalog_up",
        )
    };
    assert_eq!(health(), (200, "ok\n".to_string()));
    assert_eq!(catalog_up(), 1);
    let psql = |sql: &str| {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .flatten()
            .map(|e| e.path().join("bin/psql"))
            .filter(|p| p.is_file())
            .max()
            .unwrap();
        let postgres = url.replace("/health", "/postgres");
        let out = std::process::Command::new(bin)
            .args([
                postgres.as_str(),
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql("ALTER DATABASE health ALLOW_CONNECTIONS false");
    psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'health'");
    let deadline = Instant::now() + Duration::from_secs(30);
    while health() != (503, "catalog\n".to_string()) {
        assert!(Instant::now() < deadline, "still {:?}", health());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The loopback listener still answers, and says the catalog is down.
    assert_eq!(catalog_up(), 0);
    psql("ALTER DATABASE health ALLOW_CONNECTIONS true");
    let deadline = Instant::now() + Duration::from_secs(30);
    while health() != (200, "ok\n".to_string()) {
        assert!(Instant::now() < deadline, "still {:?}", health());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(catalog_up(), 1);
}

/// `/healthz` while the storage cannot be written: its folder made immutable (chattr +i, which
/// holds for root too), then writable again.
#[cfg(feature = "peers")]
#[test]
fn healthz_is_503_while_the_storage_is_not_writable_and_200_when_it_is_again() {
    let dir = TempDir::new("server-healthz-storage");
    let server = Server::start(dir.path(), &["--http", "127.0.0.1:0"]);
    let http = server.http.unwrap();
    let health = || {
        let r = request(http, "GET", "/healthz", &http.to_string(), "");
        (r.status, r.body)
    };
    assert_eq!(health(), (200, "ok\n".to_string()));
    let chattr = |flag: &str| {
        let out = std::process::Command::new("chattr")
            .arg(flag)
            .arg(&server.storage)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "chattr {flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    struct Writable<'a>(&'a dyn Fn(&str));
    impl Drop for Writable<'_> {
        fn drop(&mut self) {
            (self.0)("-i");
        }
    }
    chattr("+i");
    let writable = Writable(&chattr);
    assert_eq!(health(), (503, "storage\n".to_string()));
    drop(writable);
    assert_eq!(health(), (200, "ok\n".to_string()));
}
