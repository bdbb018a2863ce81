//! Who the real `callrec-server` lets in: the live sessions of one phone address and of one
//! device (`--max-sessions-per-address`, `--max-sessions-per-device`), the networks control
//! connections may come from (`--allow`), and the device registry managed on the console
//! (`callrec-server device add|list|remove`) beside the running server, with
//! `--known-devices-only` and the registry's fields in the API. Raw TCP lines on loopback; a
//! second loopback address (127.0.0.2) is another phone.

mod common;
use common::server::{get, Conn, Server};
use common::TempDir;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// Sessions here never send RTP: long enough timeouts that none ends by itself mid-test.
const PATIENT: [&str; 4] = ["--no-rtp-timeout", "120", "--idle-timeout", "120"];

fn start(id: &str, device: &str) -> String {
    format!(
        "cmd=RecordStartRequest&id={id}&device={device}&remote_number=1002&local_number=1001\
         &dir=in&codec=PCMA\n"
    )
}

/// Sends a start on `c`; the answer's `result` and `reason`.
fn ask(c: &mut Conn, id: &str, device: &str) -> (String, String) {
    c.send(start(id, device).as_bytes());
    let line = c.line();
    assert_eq!(get(&line, "cmd"), Some("RecordStartResponse"), "{line:?}");
    assert_eq!(get(&line, "id"), Some(id), "{line:?}");
    (
        get(&line, "result").unwrap_or("").to_owned(),
        get(&line, "reason").unwrap_or("").to_owned(),
    )
}

fn started(c: &mut Conn, id: &str, device: &str) {
    let (result, reason) = ask(c, id, device);
    assert_eq!(result, "success", "{id}: {reason}");
}

fn refused(c: &mut Conn, id: &str, device: &str, why: &str) {
    assert_eq!(
        ask(c, id, device),
        ("failed".to_owned(), why.to_owned()),
        "{id}"
    );
}

fn stop(c: &mut Conn, id: &str) {
    c.send(format!("cmd=RecordStopRequest&id={id}&reason=user\n").as_bytes());
    let line = c.line();
    assert_eq!(get(&line, "result"), Some("success"), "{line:?}");
}

/// Asks again on `c` until the answer is `result` (a change the server makes in its own time:
/// a session's end after its connection closed, the registry read again); bounded.
fn until(c: &mut Conn, id: &str, device: &str, result: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = ask(c, id, device);
        if answer.0 == result || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn loopback(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

#[test]
fn an_address_holds_at_most_its_sessions_and_gets_room_back_as_they_end() {
    let dir = TempDir::new("adm-address");
    let mut args = vec![
        "--max-sessions-per-address",
        "2",
        "--max-sessions-per-device",
        "9",
    ];
    args.extend(PATIENT);
    let server = Server::start(dir.path(), &args);
    let mut a = server.connect();
    started(&mut a, "a", "001565000001");
    let mut b = server.connect();
    started(&mut b, "b", "001565000002");
    let mut c = server.connect();
    refused(&mut c, "c", "001565000003", "address_limit");
    // Another phone's address is not affected.
    let mut other = server.connect_from(loopback(2));
    started(&mut other, "o", "001565000004");
    // A session that stops frees its place at once (before its stop is answered).
    stop(&mut a, "a");
    started(&mut c, "c", "001565000003");
    refused(&mut server.connect(), "d", "001565000005", "address_limit");
    // So does one whose connection the phone drops (the server notices the close).
    drop(b);
    let mut d = server.connect();
    assert_eq!(
        until(&mut d, "d", "001565000005", "success"),
        ("success".to_owned(), String::new())
    );
    assert!(server.sidecars().len() >= 3);
}

#[test]
fn a_device_holds_at_most_its_sessions_whatever_the_spelling_of_its_mac() {
    let dir = TempDir::new("adm-device");
    let mut args = vec![
        "--max-sessions-per-device",
        "2",
        "--max-sessions-per-address",
        "9",
    ];
    args.extend(PATIENT);
    let server = Server::start(dir.path(), &args);
    let mut a = server.connect();
    started(&mut a, "a", "00:15:65:AA:BB:CC");
    let mut b = server.connect_from(loopback(2));
    started(&mut b, "b", "001565aabbcc");
    // The same device from a third address, in a third spelling.
    let mut c = server.connect_from(loopback(3));
    refused(&mut c, "c", "00-15-65-aa-bb-cc", "device_limit");
    // Another device is not affected.
    started(&mut server.connect(), "x", "001565AABBCD");
    stop(&mut b, "b");
    started(&mut c, "c", "0015.65AA.BBCC");
    refused(&mut server.connect(), "d", "001565AABBCC", "device_limit");
    drop(a);
    let mut d = server.connect();
    assert_eq!(until(&mut d, "d", "001565AABBCC", "success").0, "success");
}

#[test]
fn the_defaults_allow_four_sessions_an_address_and_two_a_device() {
    let dir = TempDir::new("adm-defaults");
    let server = Server::start(dir.path(), &PATIENT);
    let mut held = Vec::new();
    for i in 0..4 {
        let mut c = server.connect();
        started(&mut c, &format!("s{i}"), &format!("00156500000{i}"));
        held.push(c);
    }
    refused(&mut server.connect(), "s4", "001565000009", "address_limit");
    let mut c = server.connect_from(loopback(2));
    started(&mut c, "t0", "001565000000");
    let mut c2 = server.connect_from(loopback(3));
    refused(&mut c2, "t1", "001565000000", "device_limit");
}

#[test]
fn connections_from_outside_allow_are_closed_without_a_word_read() {
    let dir = TempDir::new("adm-allow");
    let mut args = vec!["--allow", "127.0.0.1/32", "--allow", "2001:db8::/32"];
    args.extend(PATIENT);
    let server = Server::start(dir.path(), &args);
    for _ in 0..30 {
        let mut outside = server.connect_from(loopback(2));
        // Whatever it sends gets no answer: the server has closed it (the write itself may
        // fail, if the close came first).
        outside.try_send(start("x", "001565000002").as_bytes());
        assert!(outside.closed_within(Duration::from_secs(10)));
    }
    // Inside the range: served as ever.
    let mut inside = server.connect();
    started(&mut inside, "in", "001565000001");
    stop(&mut inside, "in");
    let sidecars = server.sidecars();
    assert_eq!(sidecars.len(), 1);
    assert_eq!(sidecars[0]["peer"], "127.0.0.1");
    // Counted, and logged at most 10 times per 10 s, not once each.
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let lines = log.matches("not in --allow; closed").count();
    assert!((1..=10).contains(&lines), "{lines} lines:\n{log}");
    assert!(log.contains("control connections only from 127.0.0.1/32, 2001:db8::/32"));
}

#[test]
fn bad_admission_options_are_usage_errors_at_start_up() {
    let dir = TempDir::new("adm-usage");
    let storage = dir.path().join("s");
    for (args, says) in [
        (&["--allow", "10.1.2.3/16"][..], "bad --allow \"10.1.2.3/16\": the address has bits set past the prefix length (the range is 10.1.0.0/16)"),
        (&["--allow", "10.0.0.0/33"], "bad --allow \"10.0.0.0/33\""),
        (&["--allow", "10.0.0.0/8", "--allow", "phones"], "bad --allow \"phones\": not an IPv4 or IPv6 address"),
        (&["--max-sessions-per-address", "0"], "bad --max-sessions-per-address"),
        (&["--max-sessions-per-device", "-1"], "bad --max-sessions-per-device"),
    ] {
        let out = Command::new(common::bins::server())
            .args(["--listen", "127.0.0.1:0", "--storage", storage.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        // Refused before anything was made.
        assert!(!storage.exists(), "{args:?}");
    }
}

/// `callrec-server device ARGS`: exit code, stdout, stderr.
fn device(args: &[&str]) -> (i32, String, String) {
    common::server::console("device", args)
}

/// `GET path` of the web side: the status and the body.
fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let token = common::server::token_of(addr).unwrap_or_default();
    s.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8(all).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head[9..12].parse().unwrap(), body.to_owned())
}

fn api(http: SocketAddr, query: &str) -> Vec<serde_json::Value> {
    let (status, body) = http_get(http, &format!("/api/recordings{query}"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn ids(rows: &[serde_json::Value]) -> Vec<&str> {
    rows.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

#[test]
fn the_console_manages_the_registry_beside_the_server_which_takes_only_known_devices() {
    let dir = TempDir::new("adm-registry");
    let mut args = vec!["--known-devices-only", "--http", "127.0.0.1:0"];
    args.extend(PATIENT);
    let server = Server::start(dir.path(), &args);
    let http = server.http.unwrap();
    let storage = server.storage.to_str().unwrap().to_owned();
    let s = storage.as_str();
    let mut c = server.connect();
    refused(&mut c, "a1", "00:15:65:AA:BB:CC", "unknown_device");
    // A device field that is no MAC is never a known device.
    refused(&mut c, "a1", "00:15:65", "unknown_device");

    // Registered on the console while the server runs (it holds the storage's lock).
    let (code, out, err) = device(&[
        "add",
        "--storage",
        s,
        "00-15-65-aa-bb-cc",
        "--owner",
        "Anna Schmidt",
        "--extension",
        "1001",
        "--group",
        "Sales",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "added 001565AABBCC: owner \"Anna Schmidt\", extension \"1001\", group \"Sales\"\n"
    );
    let (code, _, err) = device(&[
        "add",
        "--storage",
        s,
        "001565000002",
        "--owner",
        "王芳",
        "--group",
        "Support",
    ]);
    assert_eq!(code, 0, "{err}");
    // The server reads the change within about a second; until then it refuses.
    assert_eq!(
        until(&mut c, "a1", "00:15:65:AA:BB:CC", "success"),
        ("success".to_owned(), String::new())
    );
    stop(&mut c, "a1");
    let mut c2 = server.connect();
    started(&mut c2, "b1", "001565000002");
    stop(&mut c2, "b1");

    let (code, out, _) = device(&["list", "--storage", s]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].starts_with("MAC           OWNER         EXTENSION  GROUP    UPDATED"),
        "{out}"
    );
    assert!(
        // Columns by characters: the owner's is 12 wide, the extension's 9, then 2 between.
        lines[1].starts_with(&format!(
            "001565000002  王芳{}Support  ",
            " ".repeat(10 + 2 + 9 + 2)
        )),
        "{out}"
    );
    assert!(
        lines[2].starts_with("001565AABBCC  Anna Schmidt  1001       Sales    "),
        "{out}"
    );

    // The recordings keep the registry's fields of their start, in the API and on the page.
    let rows = api(http, "");
    assert_eq!(ids(&rows), ["b1", "a1"]);
    let a1 = &rows[1];
    assert_eq!(
        (&a1["owner"], &a1["extension"], &a1["group"], &a1["device"]),
        (
            &serde_json::json!("Anna Schmidt"),
            &serde_json::json!("1001"),
            &serde_json::json!("Sales"),
            &serde_json::json!("00:15:65:AA:BB:CC")
        )
    );
    assert_eq!(rows[0]["owner"], "王芳");
    assert_eq!(ids(&api(http, "?group=Sales")), ["a1"]);
    assert_eq!(ids(&api(http, "?group=Support")), ["b1"]);
    assert!(api(http, "?group=sales").is_empty());
    let (status, page) = http_get(http, "/plain?group=Sales");
    assert_eq!(status, 200);
    assert!(
        page.contains("Anna Schmidt<span class=\"sub\">ext 1001 · Sales</span>"),
        "{page}"
    );
    assert!(!page.contains("王芳"), "{page}");

    // Replaced: later recordings have the new owner, the earlier keeps the one of its start.
    let (code, out, _) = device(&[
        "add",
        "--storage",
        s,
        "001565AABBCC",
        "--owner",
        "Bob Meyer",
        "--group",
        "Sales",
    ]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("updated 001565AABBCC: owner \"Bob Meyer\""),
        "{out}"
    );
    assert!(
        out.contains("(was owner \"Anna Schmidt\", extension \"1001\""),
        "{out}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 1;
    let owner = loop {
        n += 1;
        let id = format!("a{n}");
        let mut c = server.connect();
        started(&mut c, &id, "001565AABBCC");
        stop(&mut c, &id);
        let row = api(http, "")
            .into_iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap();
        if row["owner"] == "Bob Meyer" || Instant::now() > deadline {
            break row["owner"].clone();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(owner, "Bob Meyer");
    let rows = api(http, "");
    assert_eq!(
        rows.iter().find(|r| r["id"] == "a1").unwrap()["owner"],
        "Anna Schmidt"
    );

    // Removed: refused again (within about a second), and the removal is said once.
    let (code, out, _) = device(&["remove", "--storage", s, "00:15:65:aa:bb:cc"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("removed 001565AABBCC: owner \"Bob Meyer\""),
        "{out}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let refusal = loop {
        // Until the server has read the change, the start is taken: stopped, then asked again.
        let mut c = server.connect();
        let (result, reason) = ask(&mut c, "z1", "001565AABBCC");
        if result == "failed" || Instant::now() > deadline {
            break (result, reason);
        }
        stop(&mut c, "z1");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(refusal, ("failed".to_owned(), "unknown_device".to_owned()));
    let (code, _, err) = device(&["remove", "--storage", s, "001565AABBCC"]);
    assert_eq!(
        (code, err.trim()),
        (
            1,
            "callrec-server device: 001565AABBCC is not in the registry"
        )
    );
    // A MAC that is none, and a missing owner, are the command line's errors.
    let (code, _, err) = device(&["add", "--storage", s, "00:15:65:aa:bb", "--owner", "X"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("\"00:15:65:aa:bb\" is not a MAC"), "{err}");
    let (code, _, err) = device(&["add", "--storage", s, "001565AABBCC"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--owner NAME is required"), "{err}");
    // A storage that is not there is no catalog to make.
    let missing = dir.path().join("nowhere");
    let (code, _, err) = device(&["list", "--storage", missing.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(!missing.exists());
}

#[test]
fn without_known_devices_only_every_device_is_taken_and_registered_ones_are_named() {
    let dir = TempDir::new("adm-open");
    let storage = dir.path().join("recordings");
    std::fs::create_dir_all(&storage).unwrap();
    // Registered before the server's first start: the command makes the catalog.
    let (code, _, err) = device(&[
        "add",
        "--storage",
        storage.to_str().unwrap(),
        "001565AABBCC",
        "--owner",
        "Anna",
        "--extension",
        "1001",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(storage.join("catalog.sqlite").is_file());
    let mut args = vec!["--http", "127.0.0.1:0"];
    args.extend(PATIENT);
    let server = Server::start_at(&storage, dir.path(), &args);
    let mut c = server.connect();
    started(&mut c, "known", "00:15:65:aa:bb:cc");
    stop(&mut c, "known");
    let mut c = server.connect();
    started(&mut c, "stranger", "001565000009");
    stop(&mut c, "stranger");
    let rows = api(server.http.unwrap(), "");
    let known = rows.iter().find(|r| r["id"] == "known").unwrap();
    assert_eq!(
        (&known["owner"], &known["extension"], &known["group"]),
        (
            &serde_json::json!("Anna"),
            &serde_json::json!("1001"),
            &serde_json::json!("")
        )
    );
    let stranger = rows.iter().find(|r| r["id"] == "stranger").unwrap();
    assert_eq!(
        (&stranger["owner"], &stranger["group"]),
        (&serde_json::json!(""), &serde_json::json!(""))
    );
    // The sidecar keeps them too: the recovery record has them.
    let sidecar = server
        .sidecars()
        .into_iter()
        .find(|s| s["id"] == "known")
        .unwrap();
    assert_eq!(sidecar["owner"], "Anna");
}
