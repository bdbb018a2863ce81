//! The recording settings page in a real browser (headless Chromium through chromedriver).

mod common;

use common::webdriver::{Browser, ENTER};
use common::{record_files, Agent, AgentSpec, Sender, TempDir};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SHORT: Duration = Duration::from_secs(5);

/// A tiny static site for the harness's own test: `/` redirects to `/form`, `/form` is a
/// page with a field, a select and a button that answers later, `/file.bin` is a download.
fn static_site() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            if r.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).map_or(true, |n| n == 0) || h == "\r\n" {
                    break;
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, headers, body): (&str, &str, Vec<u8>) = match path.as_str() {
                "/" => ("303 See Other", "Location: /form\r\n", Vec::new()),
                "/form" => (
                    "200 OK",
                    "Content-Type: text/html; charset=utf-8\r\n",
                    FORM.into(),
                ),
                "/file.bin" => (
                    "200 OK",
                    "Content-Type: application/octet-stream\r\n\
                     Content-Disposition: attachment; filename=\"file.bin\"\r\n",
                    (0..=255u8).collect(),
                ),
                _ => ("404 Not Found", "", Vec::new()),
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(&body);
        }
    });
    addr
}

const FORM: &str = r#"<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>harness</title></head>
<body><h1>Harness</h1>
<input id="name" value="old"> <select id="mode"><option value="a">A</option>
<option value="b">B</option><option value="c" disabled>C</option></select>
<input id="check" type="checkbox">
<button id="go" type="button">Go</button> <span id="out"></span>
<p id="hidden" hidden>hidden</p>
<a id="dl" href="/file.bin">download</a>
<script>
document.getElementById('go').addEventListener('click', function () {
  var v = document.getElementById('name').value + '/' + document.getElementById('mode').value;
  setTimeout(function () { document.getElementById('out').textContent = 'got ' + v; }, 300);
});
document.getElementById('name').addEventListener('keydown', function (e) {
  if (e.key === 'Enter') document.getElementById('out').textContent = 'enter';
});
</script></body></html>"#;

/// Every helper of the WebDriver client against the static site: it is the ground the page
/// test stands on.
#[test]
fn harness_drives_a_static_page() {
    let site = static_site();
    let b = Browser::start(360, 740);
    assert_eq!(b.viewport(), (360, 740));
    assert!(b.window_size().1 >= 740);
    b.goto(&format!("http://{site}/"));
    b.wait_path("/form", SHORT);
    assert_eq!(b.title(), "harness");
    assert_eq!(b.find("h1").text(), "Harness");
    assert!(b.try_find("#nothing").is_err());
    assert_eq!(b.find_all("option").len(), 3);
    assert!(!b.is_displayed("#hidden"));
    b.wait_hidden("#hidden", SHORT);

    let name = b.find("#name");
    assert_eq!(name.value(), "old");
    b.fill("#name", "new");
    assert_eq!(name.value(), "new");
    assert_eq!(name.attribute("id").as_deref(), Some("name"));
    b.find("#mode").select_value("b");
    let check = b.find("#check");
    assert_eq!(check.property("checked"), json!(false));
    check.click();
    assert_eq!(check.property("checked"), json!(true));
    assert!(!b.find("#mode option[value=c]").enabled());
    b.click("#go");
    let out = b.wait_text("#out", SHORT, "to answer", |t| !t.is_empty());
    assert_eq!(out, "got new/b");
    name.send_keys(ENTER);
    b.wait_text("#out", SHORT, "to say enter", |t| t == "enter");
    assert_eq!(b.execute("return arguments[0] + 1", json!([41])), json!(42));

    let dir = std::env::temp_dir().join(format!("callrec-harness-{}", std::process::id()));
    b.screenshot(&dir.join("viewport.png"));
    b.screenshot_full(&dir.join("full.png"));
    assert!(std::fs::read(dir.join("viewport.png"))
        .unwrap()
        .starts_with(b"\x89PNG"));
    let _ = std::fs::remove_dir_all(&dir);

    b.click("#dl");
    let f = b.wait_download("file.bin", Duration::from_secs(10), |n| n == "file.bin");
    assert_eq!(std::fs::read(f).unwrap(), (0..=255u8).collect::<Vec<u8>>());

    b.set_window_size(1280, 900);
    assert_eq!(b.window_size(), (1280, 900));
    b.set_viewport_size(1280, 900);
    assert_eq!(b.viewport(), (1280, 900));
    b.quit();
}

// ---- the settings page, end to end, against the real agent ----

/// Long enough for the page's one-second status poll and a fetch or two.
const PAGE: Duration = Duration::from_secs(8);
const NEW_PASSWORD: &str = "Desk-Phone-42";

/// Where the screenshots go: `target/web-screens/`, kept for people to look at.
fn screens_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("web-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A screenshot of the window (`full`: of the whole page, below the fold too).
fn shot(b: &Browser, name: &str, full: bool) {
    let path = screens_dir().join(name);
    if full {
        b.screenshot_full(&path);
    } else {
        b.screenshot(&path);
    }
    eprintln!("screenshot {}", path.display());
}

/// Scrolls the page to its top (the status panel).
fn scroll_top(b: &Browser) {
    b.execute("window.scrollTo(0, 0)", json!([]));
}

/// Records `packets` PCMA packets of `byte` through the control socket and the tap.
fn record(agent: &Agent, packets: u16, byte: u8) {
    assert_eq!(agent.ok("start").state, "recording");
    let s = Sender::new(agent.tap);
    for seq in 0..packets {
        s.send(seq, u32::from(seq) * 160, &[byte; 160]);
    }
    assert_eq!(agent.ok("stop").state, "idle");
}

/// Logs in on the login page (which must be showing).
fn log_in(b: &Browser, password: &str) {
    b.wait_displayed("#login", PAGE);
    b.fill("#user", "admin");
    b.fill("#password", password);
    b.click("#login");
    b.wait_path("/", PAGE);
}

/// Waits until the settings form holds the agent's settings (the save button is enabled).
fn wait_settings_loaded(b: &Browser) {
    b.wait_displayed("#main", PAGE);
    b.wait_until("the settings to load", PAGE, |b| {
        let modes = b.find_all("#mode option").len();
        (modes >= 3 && b.find("#save").enabled()).then_some(())
    });
}

/// Waits until the status panel has been filled once (`#status-mode` no longer `—`).
fn wait_status_loaded(b: &Browser) {
    b.wait_text("#status-mode", PAGE, "to show the mode", |t| {
        t != "—" && !t.is_empty()
    });
}

/// Clicks save and waits for the page's answer in `#save-message`.
fn save(b: &Browser) -> String {
    // The message is cleared, then "Saving…", then the answer.
    b.execute(
        "document.getElementById('save-message').textContent = ''",
        json!([]),
    );
    b.click("#save");
    b.wait_text("#save-message", PAGE, "to give the answer", |t| {
        !t.is_empty() && t != "Saving…"
    })
}

/// No script error, CSP violation or failed asset in the console. The API's expected refusals
/// (`401` of the session check on the login page, `400` of a bad setting) are not errors,
/// nor the `404` of `/favicon.ico`; Chromium logs every 4xx of a fetch all the same.
fn assert_no_page_errors(b: &Browser) {
    let errors: Vec<_> = b
        .console_log()
        .into_iter()
        .filter(|(level, msg)| {
            let expected = msg.contains("/api/")
                && (msg.contains("status of 400") || msg.contains("status of 401"))
                // the browser's own guess, which the page never asks for
                || msg.contains("/favicon.ico ");
            level == "SEVERE" && !expected
        })
        .collect();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
}

fn row(name: &str) -> String {
    format!("tr[data-name=\"{name}\"]")
}

fn assert_wav(bytes: &[u8], samples: usize) {
    assert!(bytes.len() >= 44, "{} bytes", bytes.len());
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    assert_eq!(
        bytes.len(),
        44 + samples * 2,
        "a PCM16 WAV of {samples} samples"
    );
}

#[test]
fn settings_page_in_a_phone_sized_browser_and_on_a_desktop() {
    let dir = TempDir::new("web-browser");
    let spec = AgentSpec::host(dir.path());
    let stick = spec.usb_dir.clone().unwrap();
    let agent = Agent::start(&spec);
    // A recording on the stick before anyone looks: 50 packets, 1 s of PCMA.
    record(&agent, 50, 0x55);
    let first = record_files(&stick);
    assert_eq!(first.len(), 1);
    let first = first[0].clone();
    let first_name = first.file_name().unwrap().to_str().unwrap().to_string();
    let base = format!("http://{}", agent.http);

    let b = Browser::start(360, 740);
    assert_eq!(b.viewport(), (360, 740), "a phone-sized layout viewport");

    // Not logged in: the settings page redirects to the login page.
    b.goto(&format!("{base}/"));
    b.wait_path("/login", PAGE);
    b.wait_displayed("#login", PAGE);
    assert_eq!(b.find("#login-error").text(), "");
    shot(&b, "01-login.png", false);

    // The default password: the page asks for a new one before anything else.
    log_in(&b, "admin");
    b.wait_displayed("#pw-section", PAGE);
    assert!(b.is_displayed("#pw-required"));
    assert!(!b.is_displayed("#main"));
    assert!(!b.is_displayed("#pw-cancel"), "no way around the change");
    b.fill("#pw-current", "admin");
    b.fill("#pw-new", "short");
    b.fill("#pw-new2", "short");
    b.click("#pw-save");
    let err = b.wait_text("#err-new", PAGE, "to say the password is too short", |t| {
        !t.is_empty()
    });
    assert!(err.contains('8'), "{err}");
    b.find("#pw-new").scroll_into_view();
    shot(&b, "02-change-password.png", false);
    b.fill("#pw-new", NEW_PASSWORD);
    b.fill("#pw-new2", NEW_PASSWORD);
    b.click("#pw-save");
    b.wait_hidden("#pw-section", PAGE);

    // The settings page: status, settings, recordings.
    wait_settings_loaded(&b);
    wait_status_loaded(&b);
    b.wait_displayed(&row(&first_name), PAGE);
    assert_eq!(b.find("#mode").value(), "local");
    assert_eq!(b.find("#status-state").text(), "Idle");
    scroll_top(&b);
    shot(&b, "03-settings.png", true);

    // Network mode with a bad server address: the agent's message beside the field.
    b.find("#mode").select_value("network");
    b.wait_displayed("#server_address", PAGE);
    b.fill("#server_address", "999.1.1.1");
    b.fill("#server_port", "5070");
    let answer = save(&b);
    assert!(answer.starts_with("Not saved"), "{answer}");
    let err = b.wait_text("#err-server_address", PAGE, "to say why", |t| !t.is_empty());
    assert!(err.contains("IP address"), "{err}");
    assert_eq!(
        b.find("#server_address")
            .attribute("aria-invalid")
            .as_deref(),
        Some("true")
    );
    assert_eq!(agent.status().mode, "local", "nothing applied");
    b.find("#server_address").scroll_into_view();
    shot(&b, "04-field-error.png", false);

    // A good address: saved and applied live, the status panel follows.
    b.fill("#server_address", "127.0.0.1");
    let answer = save(&b);
    assert_eq!(answer, "Saved and applied.");
    assert_eq!(b.find("#err-server_address").text(), "");
    b.wait_text("#status-mode", PAGE, "to show network mode", |t| {
        t.starts_with("Network")
    });
    let st = agent.status();
    assert_eq!(st.mode, "network", "the agent applied it live");
    b.find("#save-message").scroll_into_view();
    shot(&b, "05-saved.png", false);
    scroll_top(&b);
    shot(&b, "05b-status-network.png", false);

    // Back to local mode, and a recording: the status panel shows it.
    b.find("#mode").select_value("local");
    b.wait_hidden("#network-fields", PAGE);
    assert_eq!(save(&b), "Saved and applied.");
    b.wait_text("#status-mode", PAGE, "to show local mode", |t| {
        t.starts_with("Local")
    });
    assert_eq!(agent.status().mode, "local");
    assert_eq!(agent.ok("start").state, "recording");
    let s = Sender::new(agent.tap);
    for seq in 0..100u16 {
        s.send(seq, u32::from(seq) * 160, &[0x66; 160]);
    }
    let file = agent.status().file.expect("a file is being written");
    b.wait_text("#status-state", PAGE, "to show the recording", |t| {
        t == "Recording"
    });
    b.wait_text("#status-file", PAGE, "to name the file", |t| t == file);
    b.wait_displayed(&format!("{} .badge", row(&file)), PAGE);
    scroll_top(&b);
    shot(&b, "06-recording.png", false);
    b.find(&row(&file)).scroll_into_view();
    shot(&b, "06b-recording-row.png", false);
    assert_eq!(agent.ok("stop").state, "idle");
    b.wait_text("#status-state", PAGE, "to show idle again", |t| t == "Idle");

    // The recordings: both files listed; the first downloaded as WAV and as stored.
    b.wait_until("the badge to go", PAGE, |b| {
        b.try_find(&format!("{} .badge", row(&file)))
            .is_err()
            .then_some(())
    });
    assert_eq!(b.find_all("#recordings tr[data-name]").len(), 2);
    b.click(&format!("{} a.download-wav", row(&first_name)));
    let wav_name = first_name.replace(".wav", ".pcm.wav");
    let wav = b.wait_download(&wav_name, PAGE, |n| n == wav_name);
    assert_wav(&std::fs::read(&wav).unwrap(), 50 * 160);
    b.click(&format!("{} a.download-original", row(&first_name)));
    let orig = b.wait_download(&first_name, PAGE, |n| n == first_name);
    assert_eq!(
        std::fs::read(&orig).unwrap(),
        std::fs::read(&first).unwrap()
    );
    b.find("#recordings").scroll_into_view();
    shot(&b, "07-recordings.png", false);

    // Log out: back to the login page, and the settings page needs a login again.
    b.click("#logout");
    b.wait_path("/login", PAGE);
    b.wait_displayed("#login", PAGE);
    b.goto(&format!("{base}/"));
    b.wait_path("/login", PAGE);
    shot(&b, "08-logged-out.png", false);
    assert_no_page_errors(&b);
    b.quit();

    // The key steps again on a desktop-sized window.
    let d = Browser::start(1280, 900);
    d.goto(&format!("{base}/"));
    d.wait_path("/login", PAGE);
    d.wait_displayed("#login", PAGE);
    shot(&d, "desktop-01-login.png", false);
    log_in(&d, NEW_PASSWORD);
    wait_settings_loaded(&d);
    wait_status_loaded(&d);
    assert!(
        !d.is_displayed("#pw-section"),
        "the password was changed already"
    );
    d.wait_until("both recordings", PAGE, |b| {
        (b.find_all("#recordings tr[data-name]").len() == 2).then_some(())
    });
    shot(&d, "desktop-03-settings.png", true);
    d.find("#mode").select_value("network");
    d.fill("#server_address", "999.1.1.1");
    assert!(save(&d).starts_with("Not saved"));
    d.wait_text("#err-server_address", PAGE, "to say why", |t| !t.is_empty());
    d.find("#server_address").scroll_into_view();
    shot(&d, "desktop-04-field-error.png", false);
    assert_eq!(agent.status().mode, "local");
    d.click(&format!("{} a.download-wav", row(&file)));
    let wav_name = file.replace(".wav", ".pcm.wav");
    let wav = d.wait_download(&wav_name, PAGE, |n| n == wav_name);
    assert_wav(&std::fs::read(&wav).unwrap(), 100 * 160);
    d.click("#logout");
    d.wait_path("/login", PAGE);
    assert_no_page_errors(&d);
    d.quit();
}
