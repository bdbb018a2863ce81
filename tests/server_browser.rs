//! The record server's web app in a real browser (headless Chromium through chromedriver),
//! against the real `callrec-server`: the first admin made on the console logs in through the
//! form, registers two devices in two groups and makes a supervisor limited to one of them and
//! an auditor (through the admin pages); calls are recorded on both devices through the real
//! protocol; the supervisor searches, sees only the group's recording, listens (the audio
//! element plays: its currentTime advances) and puts it on legal hold; the admin's delete is
//! refused, then done after the hold's release with a reason; the auditor finds each of those
//! steps in the trail and exports it as CSV and JSON. Every step is photographed at phone
//! (360×740) and desktop (1280×800) width into `target/screenshots/server/`.

mod common;

use common::server::{add_user, Server};
use common::webdriver::Browser;
use common::TempDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Long enough for a fetch or two on a loaded machine.
const PAGE: Duration = Duration::from_secs(15);
const ADMIN_PW: &str = "the admin's long password";
const SUP_PW: &str = "the supervisor's password";
const AUD_PW: &str = "the auditor's password";
const SALES: &str = "00:15:65:00:00:01";
const SUPPORT: &str = "00:15:65:00:00:02";

fn screens_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots").join("server");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The whole page at phone width, then at desktop width (where the test works).
fn shot(b: &Browser, name: &str) {
    for (w, h, kind) in [(360, 740, "phone"), (1280, 800, "desktop")] {
        b.set_viewport_size(w, h);
        // The layout after the resize (two frames).
        std::thread::sleep(Duration::from_millis(250));
        // From the top: the sticky header is drawn where the page is scrolled to.
        b.execute("window.scrollTo(0, 0)", json!([]));
        let width = b.execute("return document.documentElement.scrollWidth", json!([]));
        assert!(
            width.as_u64().unwrap() <= u64::from(w),
            "{name} is wider than {w} px: {width}"
        );
        let path = screens_dir().join(format!("{name}-{kind}.png"));
        b.screenshot_full(&path);
        eprintln!("screenshot {}", path.display());
    }
}

/// A finished call of `device` from `number` (`name`): `packets` 20 ms of a 440 Hz tone.
fn call(server: &Server, id: &str, device: &str, number: &str, name: &str, packets: u16) {
    use callrec_core::audio::g711::linear_to_alaw;
    let fields = format!("&remote_number={number}&remote_name={name}&local_number=100");
    server.record_call(id, device, &fields, packets, |seq| {
        core::array::from_fn(|i| {
            let t = f64::from(u32::from(seq) * 160 + i as u32) / 8000.0;
            linear_to_alaw(((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16)
        })
    });
}

fn log_in(b: &Browser, base: &str, name: &str, password: &str) {
    b.goto(&format!("{base}/login"));
    b.wait_displayed("#login", PAGE);
    b.fill("#user", name);
    b.fill("#password", password);
    b.click("#login");
    b.wait_path("/", PAGE);
    b.wait_text("#whoami", PAGE, "to name who is logged in", |t| {
        t.starts_with(name)
    });
}

fn log_out(b: &Browser) {
    b.click("#logout");
    b.wait_path("/login", PAGE);
}

/// Opens a view by its hash and waits for `ready` to be shown.
fn open(b: &Browser, base: &str, hash: &str, ready: &str) {
    b.goto(&format!("{base}/{hash}"));
    b.wait_displayed(ready, PAGE);
}

/// Ticks exactly the role boxes `roles` among those named `name`.
fn roles(b: &Browser, name: &str, roles: &[&str]) {
    for r in ["admin", "supervisor", "auditor"] {
        let e = b.find(&format!("input[name=\"{name}\"][value=\"{r}\"]"));
        if (e.property("checked") == json!(true)) != roles.contains(&r) {
            e.click();
        }
    }
}

/// What the page's own fetch of `path` gives (with its session): status and JSON.
fn fetch_json(b: &Browser, path: &str) -> (u64, Value) {
    let v = b.execute(
        "var x = new XMLHttpRequest(); x.open('GET', arguments[0], false); x.send(); \
         return [x.status, x.responseText];",
        json!([path]),
    );
    let text = v[1].as_str().unwrap();
    (
        v[0].as_u64().unwrap(),
        serde_json::from_str(text).unwrap_or(Value::Null),
    )
}

/// No script error or CSP violation since the last look. The refusals the test provokes
/// through the page (the wrong password: 401; the delete of a held recording: 409) are
/// expected; so is the browser's own `/favicon.ico`.
fn assert_no_page_errors(b: &Browser) {
    let errors: Vec<_> = b
        .console_log()
        .into_iter()
        .filter(|(level, msg)| {
            let expected = (msg.contains("/login ") && msg.contains("status of 401"))
                || (msg.contains("/api/recordings/") && msg.contains("status of 409"))
                || msg.contains("/favicon.ico ");
            level == "SEVERE" && !expected
        })
        .collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
}

#[test]
fn search_listen_hold_delete_and_audit_in_a_browser() {
    let dir = TempDir::new("server-browser");
    let server = Server::start(dir.path(), &["--http=127.0.0.1:0"]);
    let base = format!("http://{}", server.http.unwrap());
    // The first admin, on the console: there is no default password.
    let (code, err) = add_user(&server.storage, None, "admin", "admin", None, ADMIN_PW);
    assert_eq!(code, 0, "{err}");

    let b = Browser::start(1280, 800);
    b.set_viewport_size(1280, 800);
    b.goto(&format!("{base}/"));
    b.wait_path("/login", PAGE);
    b.wait_displayed("#login", PAGE);
    shot(&b, "01-login");
    b.fill("#user", "admin");
    b.fill("#password", "not the password");
    b.click("#login");
    b.wait_text("#login-error", PAGE, "to refuse", |t| t.contains("Wrong"));
    shot(&b, "02-login-refused");
    log_in(&b, &base, "admin", ADMIN_PW);
    b.wait_displayed("#search-view", PAGE);
    assert!(b.is_displayed("#nav-users") && !b.is_displayed("#nav-audit"));

    // Two devices in two groups, through the devices page.
    open(&b, &base, "#/devices", "#device-form");
    for (mac, owner, ext, group) in [
        (SALES, "Anna Sales", "1001", "sales"),
        (SUPPORT, "Bob <b>Support</b>", "2001", "support"),
    ] {
        b.fill("#dev-mac", mac);
        b.fill("#dev-owner", owner);
        b.fill("#dev-ext", ext);
        b.fill("#dev-group", group);
        b.click("#dev-save");
        b.wait_text("#flash", PAGE, "to say it is saved", |t| {
            t.contains("saved")
        });
    }
    b.wait_until("both devices listed", PAGE, |b| {
        (b.find_all("#devices tbody tr").len() == 2).then_some(())
    });
    // A name with markup is shown as text.
    let bob = b.find("#devices tr[data-mac=\"001565000002\"]").text();
    assert!(bob.contains("Bob <b>Support</b>"), "{bob}");
    shot(&b, "03-devices");

    // A supervisor of the sales group and an auditor, through the users page.
    open(&b, &base, "#/users", "#user-form");
    b.fill("#new-user", "sue");
    b.fill("#new-password", SUP_PW);
    roles(&b, "new-role", &["supervisor"]);
    b.fill("#new-groups", "sales");
    b.click("#user-add");
    b.wait_text("#flash", PAGE, "to say sue is added", |t| t.contains("sue"));
    b.fill("#new-user", "audrey");
    b.fill("#new-password", AUD_PW);
    roles(&b, "new-role", &["auditor"]);
    b.fill("#new-groups", "");
    b.click("#user-add");
    b.wait_text("#flash", PAGE, "to say audrey is added", |t| {
        t.contains("audrey")
    });
    b.wait_displayed("#users tr[data-name=\"audrey\"]", PAGE);
    let sue = b.find("#users tr[data-name=\"sue\"]").text();
    assert!(sue.contains("supervisor") && sue.contains("sales"), "{sue}");
    shot(&b, "04-users");

    // A token, shown once.
    open(&b, &base, "#/tokens", "#token-form");
    b.fill("#token-name", "crm");
    roles(&b, "token-role", &["admin"]);
    b.click("#token-add");
    let secret = b.wait_text("#token-secret", PAGE, "to show the token", |t| {
        t.starts_with("crt_")
    });
    b.wait_displayed("#tokens tbody tr", PAGE);
    assert!(!b.find("#tokens").text().contains(&secret[4..]));
    shot(&b, "05-token-shown");

    // Calls on both devices, through the real protocol (the registry is read within 1 s).
    std::thread::sleep(Duration::from_millis(1500));
    call(&server, "s1", SALES, "5550100", "Zhang%20San", 150);
    call(
        &server,
        "t1",
        SUPPORT,
        "5550200",
        "%3Cscript%3Ex%3C%2Fscript%3E",
        100,
    );

    open(&b, &base, "#/storage", "#storage-count");
    b.wait_text("#storage-count", PAGE, "to count both calls", |t| t == "2");
    assert!(b.find("#storage-free").text().contains("B"));
    shot(&b, "06-storage");
    // A retention: its dry run says how many recordings it would delete, then it is applied.
    open(&b, &base, "#/retention", "#ret-dry");
    b.fill("#ret-days", "3650");
    b.click("#ret-add-group");
    b.fill("#ret-groups .ret-group", "support");
    b.fill("#ret-groups .ret-group-days", "30");
    assert!(!b.find("#ret-apply").enabled(), "no apply before a dry run");
    b.click("#ret-dry");
    let said = b.wait_text("#ret-count", PAGE, "to say the count", |t| !t.is_empty());
    assert_eq!(said, "0 recordings would be deleted by this retention.");
    shot(&b, "07-retention-dry-run");
    b.click("#ret-apply");
    b.wait_text("#flash", PAGE, "to say it is applied", |t| {
        t.contains("applied")
    });
    let (status, policy) = fetch_json(&b, "/api/retention");
    assert_eq!(
        (status, policy),
        (200, json!({ "days": 3650, "groups": { "support": 30 } }))
    );
    log_out(&b);

    // The supervisor: only the sales recording exists, in the list and in the count.
    log_in(&b, &base, "sue", SUP_PW);
    assert!(!b.is_displayed("#nav-users") && !b.is_displayed("#nav-audit"));
    b.wait_text("#summary", PAGE, "to count one recording", |t| {
        t.starts_with("1 recording")
    });
    let rows = b.find_all("#recordings tbody tr");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].text().contains("5550100"));
    assert!(!b.body_text().contains("5550200"));
    shot(&b, "08-search");
    // A search by number: the support call is not found even by its own number.
    b.fill("#f-number", "5550200");
    b.click("#f-submit");
    b.wait_text("#summary", PAGE, "to find nothing", |t| {
        t.starts_with("0 recording")
    });
    b.fill("#f-number", "555");
    b.click("#f-submit");
    b.wait_text("#summary", PAGE, "to find one", |t| {
        t.starts_with("1 recording")
    });
    // "Device or owner": a whole owner, case aside, or a MAC in another spelling; the support
    // device's are not found.
    for (who, found) in [
        ("bob <b>support</b>", "0 recording"),
        ("ANNA SALES", "1 recording"),
        ("00-15-65-00-00-02", "0 recording"),
        ("0015.6500.0001", "1 recording"),
    ] {
        b.fill("#f-who", who);
        b.click("#f-submit");
        b.wait_text("#summary", PAGE, who, |t| t.starts_with(found));
    }
    assert!(b.url().contains("device=0015.6500.0001"), "{}", b.url());
    b.find("#sort-time").click();
    b.wait_until("the oldest first", PAGE, |b| {
        b.url().contains("order=oldest").then_some(())
    });
    b.wait_displayed("#recordings a.open", PAGE);
    shot(&b, "09-search-number");
    let (status, support) = fetch_json(&b, "/api/recordings?group=support");
    assert_eq!((status, support), (200, json!([])));

    // Its page, and the player: it starts without downloading everything, and plays.
    b.click("#recordings a.open");
    b.wait_displayed("#player", PAGE);
    assert_eq!(
        b.find("#player").attribute("preload").as_deref(),
        Some("metadata")
    );
    b.wait_text("#integrity-state", PAGE, "to show the state", |t| {
        !t.is_empty()
    });
    let played = b.execute(
        "var a = document.getElementById('player'); a.muted = true; \
         return a.play().then(function () { return 'playing'; }, function (e) { return String(e); });",
        json!([]),
    );
    let _ = played;
    let t = b.wait_until("the audio to play", PAGE, |b| {
        let v = b.execute(
            "var a = document.getElementById('player'); \
             if (a.paused && !a.ended) { a.play().catch(function () {}); } \
             return [a.currentTime, a.duration, a.error ? a.error.code : 0];",
            json!([]),
        );
        assert_eq!(v[2], 0, "a media error: {v}");
        let now = v[0].as_f64().unwrap_or(0.0);
        (now > 0.5).then_some(v)
    });
    let duration = t[1].as_f64().unwrap();
    assert!((2.9..3.1).contains(&duration), "3 s of audio: {t}");
    // Seek: the element asks a range of the WAV and plays on from there.
    b.execute(
        "var a = document.getElementById('player'); a.currentTime = 2.0; a.play().catch(function () {});",
        json!([]),
    );
    b.wait_until("the seek", PAGE, |b| {
        let now = b.execute(
            "return document.getElementById('player').currentTime",
            json!([]),
        );
        (now.as_f64().unwrap_or(0.0) >= 2.0).then_some(())
    });
    shot(&b, "10-recording-playing");
    let rid = b.url().rsplit('/').next().unwrap().to_string();
    let (status, _) = fetch_json(&b, "/api/recordings?limit=1");
    assert_eq!(status, 200);

    // The supervisor puts it on legal hold.
    b.fill("#hold-reason", "case 2026-17");
    b.click("#hold-set");
    b.wait_text("#hold-state", PAGE, "to show the hold", |t| {
        t.starts_with("On hold")
    });
    assert!(b.find("#hold-state").text().contains("case 2026-17"));
    assert!(!b.is_displayed("#delete"), "no delete for a supervisor");
    assert!(
        !b.is_displayed("#hold-release"),
        "no release for a supervisor"
    );
    b.find("#history").scroll_into_view();
    b.wait_until("the history to show the listen", PAGE, |b| {
        b.try_find("#history tr[data-action=\"listen\"]")
            .ok()
            .map(|_| ())
    });
    shot(&b, "11-on-hold");
    log_out(&b);

    // The admin: the delete is refused while held, done after the release.
    log_in(&b, &base, "admin", ADMIN_PW);
    open(&b, &base, &format!("#/rec/{rid}"), "#delete");
    assert!(!b.is_displayed("#player"), "an admin does not listen");
    b.fill("#delete-reason", "asked by the caller");
    b.click("#delete");
    let refused = b.wait_text("#delete-error", PAGE, "to refuse", |t| !t.is_empty());
    assert!(refused.to_lowercase().contains("hold"), "{refused}");
    shot(&b, "12-delete-refused");
    b.fill("#hold-release-reason", "case closed");
    b.click("#hold-release");
    b.wait_text("#hold-state", PAGE, "to show no hold", |t| {
        t == "Not on hold."
    });
    shot(&b, "13-hold-released");
    b.fill("#delete-reason", "asked by the caller");
    b.click("#delete");
    b.wait_text("#flash", PAGE, "to say it is deleted", |t| {
        t.contains("deleted")
    });
    b.wait_text("#summary", PAGE, "to count one recording left", |t| {
        t.starts_with("1 recording")
    });
    // A hold on every recording of a search: the support call's number.
    b.fill("#f-number", "5550200");
    b.click("#f-submit");
    b.wait_text("#summary", PAGE, "to find the support call", |t| {
        t.starts_with("1 recording")
    });
    b.fill("#hold-all-reason", "audit 2026-Q4");
    b.click("#hold-all-set");
    b.wait_text("#flash", PAGE, "to say how many", |t| {
        t == "1 of 1 matching recording put on hold."
    });
    b.wait_displayed("#recordings .held", PAGE);
    b.goto(&format!("{base}/#/"));
    b.wait_text("#summary", PAGE, "to count one recording left", |t| {
        t.starts_with("1 recording")
    });
    shot(&b, "14-deleted");
    assert_no_page_errors(&b);
    assert_eq!(fetch_json(&b, &format!("/api/recordings/{rid}")).0, 404);
    let _ = b.console_log(); // that 404, asked by the test
    log_out(&b);

    // The auditor: every step in the trail, filtered and exported.
    log_in(&b, &base, "audrey", AUD_PW);
    b.wait_displayed("#audit", PAGE);
    assert!(!b.is_displayed("#nav-search") && b.is_displayed("#nav-audit"));
    let trail = b.find("#audit").text();
    for action in [
        "login_failed",
        "device_add",
        "user_add",
        "token_add",
        "search",
        "listen",
        "retention_change",
        "legal_hold",
        "delete",
    ] {
        assert!(trail.contains(action), "the trail lacks {action}:\n{trail}");
    }
    shot(&b, "15-audit");
    b.find("#audit-action").select_value("legal_hold");
    b.click("#audit-submit");
    b.wait_until("the filter", PAGE, |b| {
        let rows = b.find_all("#audit tbody tr");
        (!rows.is_empty()
            && b.find_all("#audit tbody tr[data-action=\"legal_hold\"]")
                .len()
                == rows.len())
        .then_some(())
    });
    assert!(b.find("#audit").text().contains("case 2026-17"));
    shot(&b, "16-audit-holds");
    b.goto(&format!("{base}/#/audit"));
    b.wait_displayed("#audit tbody tr", PAGE);
    b.click("#export-csv");
    let csv = b.wait_download("audit.csv", PAGE, |n| n == "audit.csv");
    let csv = std::fs::read_to_string(csv).unwrap();
    assert!(csv.lines().next().unwrap().contains("action"), "{csv}");
    for action in ["legal_hold", "delete", "listen", "user_add"] {
        assert!(
            csv.lines().any(|l| l.split(',').any(|f| f == action)),
            "the CSV lacks {action}"
        );
    }
    assert!(csv.contains("case closed") && csv.contains("asked by the caller"));
    b.click("#export-json");
    let js = b.wait_download("audit.json", PAGE, |n| n == "audit.json");
    let js: Value = serde_json::from_slice(&std::fs::read(js).unwrap()).unwrap();
    let entries = js["entries"].as_array().unwrap();
    let by = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} in {js}"))
    };
    assert_eq!(by("legal_hold")["who"], "sue");
    assert_eq!(by("legal_hold")["rid"], rid.as_str());
    // The release: `legal_hold` (what: released) by the admin.
    let released = entries.iter().any(|e| {
        e["who"] == "admin"
            && e["rid"] == rid.as_str()
            && (e["action"] == "legal_hold_release" || e["action"] == "legal_hold")
    });
    assert!(released, "no release in {js}");
    assert_eq!(by("delete")["who"], "admin");
    assert_eq!(by("listen")["who"], "sue");
    // The first admin was made on the console; sue by the admin, on the users page.
    assert!(by("user_add")["who"]
        .as_str()
        .unwrap()
        .starts_with("console:"));
    let sue_added = entries
        .iter()
        .any(|e| e["action"] == "user_add" && e["who"] == "admin" && e["what"]["user"] == "sue");
    assert!(sue_added, "{js}");
    // Seq by seq, each entry links to the one before.
    for w in entries.windows(2) {
        assert_eq!(w[1]["prev"], w[0]["hash"]);
    }
    shot(&b, "17-audit-exported");
    assert_no_page_errors(&b);
    // The auditor may not search or use the admin API.
    assert_eq!(fetch_json(&b, "/api/recordings").0, 403);
    assert_eq!(fetch_json(&b, "/api/users").0, 403);
    log_out(&b);
    b.quit();

    let (code, out, err) = common::server::console(
        "audit",
        &["verify", "--storage", server.storage.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
}
