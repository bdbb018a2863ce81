//! A small W3C WebDriver client for the browser tests: it starts Debian's `chromedriver` on a
//! free loopback port, opens a headless Chromium session (a fresh profile and download
//! directory in a temp dir), and speaks the WebDriver protocol as JSON over plain HTTP/1.1 on
//! a `TcpStream` (one connection per command, the answer read to its `Content-Length`).
//!
//! A browser gives no signal when a page has finished reacting to a click or a poll, so the
//! `wait_*` helpers poll a condition every 50 ms, check it first, and give up after a short
//! bound with the page's URL and text in the panic message. Nothing sleeps blindly.
//!
//! Dropping a `Browser` (also while a test panics) ends the session and kills chromedriver
//! and every Chromium process it started (they share chromedriver's process group; a process
//! that left it, such as Chromium's crash handler, is found by the browser's temp dir in its
//! arguments and killed by its id).

use super::TempDir;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The W3C key of an element reference in a JSON answer.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Enter key, for `send_keys`.
pub const ENTER: &str = "\u{E007}";

/// How long one WebDriver command may take (a page load included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the `wait_*` helpers look again.
const POLL: Duration = Duration::from_millis(50);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// An error the WebDriver answered (`value.error`, e.g. `no such element`).
#[derive(Debug, Clone)]
pub struct WdError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error, self.status, self.message)
    }
}

/// A headless Chromium driven through chromedriver.
pub struct Browser {
    driver: Child,
    port: u16,
    session: Option<String>,
    /// Where downloads land.
    downloads: PathBuf,
    /// The profile directory.
    profile: PathBuf,
    log: PathBuf,
    /// Holds the profile, the downloads and chromedriver's log (its path marks this browser's
    /// processes); removed last.
    dir: TempDir,
}

/// Panics with the way out when the browser or its driver is missing (CI installs both).
fn require_installed() {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: run scripts/setup (it installs the Debian package {package})"
        );
    }
}

/// A loopback port that was free a moment ago (chromedriver wants a number, not port 0).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose page viewport is `width`×`height`.
    pub fn start(width: u32, height: u32) -> Browser {
        require_installed();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = TempDir::new(&format!("browser{n}"));
        let profile = dir.path().join("profile");
        let downloads = dir.path().join("downloads");
        std::fs::create_dir_all(&profile).unwrap();
        std::fs::create_dir_all(&downloads).unwrap();
        let log = dir.path().join("chromedriver.log");
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Chromium's crash database and caches in the temp dir too, not in the user's home.
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            // Its own process group: Chromium inherits it, so one kill ends them all.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let mut b = Browser {
            driver,
            port,
            session: None,
            downloads,
            profile,
            log,
            dir,
        };
        b.wait_driver_ready();
        b.new_session(width, height);
        b
    }

    /// Polls `GET /status` until chromedriver says it is ready (bounded).
    fn wait_driver_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok((200, v)) = self.try_http("GET", "/status", None) {
                if v["value"]["ready"] == true {
                    return;
                }
            }
            if let Ok(Some(st)) = self.driver.try_wait() {
                panic!("chromedriver exited ({st}):\n{}", self.driver_log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver not ready on port {} after 20 s:\n{}",
                self.port,
                self.driver_log()
            );
            std::thread::sleep(POLL);
        }
    }

    fn new_session(&mut self, width: u32, height: u32) {
        let downloads = self.downloads.display().to_string();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": 30000, "script": 10000},
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-extensions",
                    "--disable-breakpad",
                    "--disable-crash-reporter",
                    // As on a phone: scrollbars take no room from the page.
                    "--hide-scrollbars",
                    "--password-store=basic",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", self.profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads,
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "safebrowsing.enabled": false,
                    "credentials_enable_service": false,
                    "profile.password_manager_enabled": false,
                },
            },
        }}});
        let v = self.command("POST", "/session", Some(&caps));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {v}"))
            .to_string();
        self.session = Some(id);
        // Headless Chromium downloads only where it is told to through the DevTools protocol.
        self.cdp(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": downloads, "eventsEnabled": false}),
        );
        self.set_viewport_size(width, height);
    }

    /// The directory downloads land in.
    pub fn downloads(&self) -> &Path {
        &self.downloads
    }

    /// chromedriver's log (for failure messages).
    pub fn driver_log(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = s.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    // ---- the wire ----

    /// One HTTP request to chromedriver; `Err` on a transport error.
    fn try_http(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::io::Result<(u16, Value)> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(COMMAND_TIMEOUT))?;
        s.set_write_timeout(Some(COMMAND_TIMEOUT))?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             Accept: application/json\r\n",
            self.port
        );
        if method != "GET" {
            req.push_str(&format!(
                "Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        s.write_all(req.as_bytes())?;
        // chromedriver keeps the connection open whatever the request says: read the head,
        // then exactly the body its length (or chunking) announces.
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let mut raw = Vec::new();
        let mut buf = [0u8; 16384];
        let end = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Err(bad("closed before the end of the headers"));
            }
            raw.extend_from_slice(&buf[..n]);
        };
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut payload = raw[end + 4..].to_vec();
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let (mut length, mut chunked) = (None, false);
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            if k == "content-length" {
                length = Some(v.parse::<usize>().map_err(|_| bad("bad Content-Length"))?);
            } else if k == "transfer-encoding" && v.contains("chunked") {
                chunked = true;
            }
        }
        loop {
            let done = match (length, chunked) {
                (_, true) => dechunk(&payload).is_some(),
                (Some(len), false) => payload.len() >= len,
                (None, false) => false,
            };
            if done {
                break;
            }
            let n = s.read(&mut buf)?;
            if n == 0 {
                if length.is_none() && !chunked {
                    break;
                }
                return Err(bad("closed before the end of the body"));
            }
            payload.extend_from_slice(&buf[..n]);
        }
        if chunked {
            payload = dechunk(&payload).ok_or_else(|| bad("bad chunked body"))?;
        } else if let Some(len) = length {
            payload.truncate(len);
        }
        let v = if payload.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&payload).map_err(|e| bad(&e.to_string()))?
        };
        Ok((status, v))
    }

    /// A command; the answer's `value`, or the WebDriver error.
    fn try_command(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WdError> {
        let (status, v) = self.try_http(method, path, body).unwrap_or_else(|e| {
            panic!("chromedriver: {method} {path}: {e}\n{}", self.driver_log())
        });
        let value = v["value"].clone();
        if status >= 400 || value.get("error").is_some_and(|e| e.is_string()) {
            return Err(WdError {
                status,
                error: value["error"].as_str().unwrap_or("?").to_string(),
                message: value["message"].as_str().unwrap_or("").to_string(),
            });
        }
        Ok(value)
    }

    /// A command that must succeed.
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.try_command(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn sid(&self) -> &str {
        self.session.as_deref().expect("no session")
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.sid())
    }

    // ---- the browser ----

    /// A Chrome DevTools Protocol command through chromedriver.
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        let p = self.s("/goog/cdp/execute");
        self.command("POST", &p, Some(&json!({"cmd": cmd, "params": params})))
    }

    /// Sets the window's outer size.
    pub fn set_window_size(&self, width: u32, height: u32) {
        let p = self.s("/window/rect");
        self.command("POST", &p, Some(&json!({"width": width, "height": height})));
    }

    /// Sizes the window so that the page's viewport is `width`×`height` (the window's own
    /// frame, which headless Chromium draws too, comes on top).
    pub fn set_viewport_size(&self, width: u32, height: u32) {
        self.set_window_size(width, height);
        let (w, h) = self.viewport();
        if (w, h) != (width, height) {
            self.set_window_size(2 * width - w, 2 * height - h);
        }
        assert_eq!(self.viewport(), (width, height), "the viewport size");
    }

    /// The window's outer size.
    pub fn window_size(&self) -> (u32, u32) {
        let v = self.command("GET", &self.s("/window/rect"), None);
        (
            v["width"].as_u64().unwrap() as u32,
            v["height"].as_u64().unwrap() as u32,
        )
    }

    /// The page's layout viewport (`innerWidth`, `innerHeight`).
    pub fn viewport(&self) -> (u32, u32) {
        let v = self.execute("return [window.innerWidth, window.innerHeight]", json!([]));
        (v[0].as_u64().unwrap() as u32, v[1].as_u64().unwrap() as u32)
    }

    /// Opens `url` and waits for the page load.
    pub fn goto(&self, url: &str) {
        self.command("POST", &self.s("/url"), Some(&json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.command("GET", &self.s("/url"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn title(&self) -> String {
        self.command("GET", &self.s("/title"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Runs a synchronous script (`return …` gives the value); `args` is a JSON array.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.try_execute(script, args)
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    pub fn try_execute(&self, script: &str, args: Value) -> Result<Value, WdError> {
        let p = self.s("/execute/sync");
        self.try_command("POST", &p, Some(&json!({"script": script, "args": args})))
    }

    /// The visible text of the whole page (for failure messages).
    pub fn body_text(&self) -> String {
        self.try_execute(
            "return document.body ? document.body.innerText : ''",
            json!([]),
        )
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
    }

    /// What the page looked like, for a panic message.
    fn context(&self) -> String {
        let url = self
            .try_command("GET", &self.s("/url"), None)
            .map(|v| v.to_string())
            .unwrap_or_default();
        let mut text = self.body_text();
        if text.len() > 3000 {
            let mut cut = 3000;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" …");
        }
        format!("url {url}; page text:\n{text}")
    }

    /// The console messages since the last call (level and message).
    pub fn console_log(&self) -> Vec<(String, String)> {
        let p = self.s("/se/log");
        match self.try_command("POST", &p, Some(&json!({"type": "browser"}))) {
            Ok(Value::Array(v)) => v
                .iter()
                .map(|e| {
                    (
                        e["level"].as_str().unwrap_or("").to_string(),
                        e["message"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    // ---- elements ----

    pub fn try_find(&self, css: &str) -> Result<Element<'_>, WdError> {
        let p = self.s("/element");
        let v = self.try_command(
            "POST",
            &p,
            Some(&json!({"using": "css selector", "value": css})),
        )?;
        Ok(Element {
            b: self,
            id: element_id(&v),
            css: css.to_string(),
        })
    }

    /// The first element matching `css`, which must exist now.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.try_find(css)
            .unwrap_or_else(|e| panic!("no element {css}: {e}\n{}", self.context()))
    }

    /// Every element matching `css` now.
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let p = self.s("/elements");
        let v = self.command(
            "POST",
            &p,
            Some(&json!({"using": "css selector", "value": css})),
        );
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| Element {
                b: self,
                id: element_id(e),
                css: css.to_string(),
            })
            .collect()
    }

    /// Whether an element matching `css` exists and is shown.
    pub fn is_displayed(&self, css: &str) -> bool {
        self.try_find(css)
            .and_then(|e| e.try_displayed())
            .unwrap_or(false)
    }

    /// Polls `f` until it gives `Some`, for at most `limit`; panics with `what` and the page.
    pub fn wait_until<T>(
        &self,
        what: &str,
        limit: Duration,
        mut f: impl FnMut(&Browser) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(t) = f(self) {
                return t;
            }
            if start.elapsed() >= limit {
                panic!(
                    "timed out after {limit:?} waiting for {what}; {}",
                    self.context()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until an element matching `css` exists and is shown.
    pub fn wait_displayed(&self, css: &str, limit: Duration) -> Element<'_> {
        self.wait_until(&format!("{css} to be shown"), limit, |b| {
            let e = b.try_find(css).ok()?;
            e.try_displayed().ok()?.then_some(())
        });
        self.find(css)
    }

    /// Waits until no element matching `css` is shown (absent or hidden).
    pub fn wait_hidden(&self, css: &str, limit: Duration) {
        self.wait_until(&format!("{css} to be hidden"), limit, |b| {
            (!b.is_displayed(css)).then_some(())
        })
    }

    /// Waits until the text of `css` satisfies `pred`; returns the text.
    pub fn wait_text(
        &self,
        css: &str,
        limit: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        self.wait_until(&format!("{css} {what}"), limit, |b| {
            let t = b.try_find(css).ok()?.try_text().ok()?;
            pred(&t).then_some(t)
        })
    }

    /// Waits until the URL's path is `path`.
    pub fn wait_path(&self, path: &str, limit: Duration) {
        self.wait_until(&format!("the page {path}"), limit, |b| {
            let url = b.url();
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let p = rest.find('/').map_or("/", |i| &rest[i..]);
            let p = p.split(['?', '#']).next().unwrap();
            (p == path).then_some(())
        })
    }

    /// Finds `css` and clicks it, again if the page re-rendered it in between (bounded).
    pub fn click(&self, css: &str) {
        self.wait_until(
            &format!("a click on {css}"),
            Duration::from_secs(5),
            |b| match b.try_find(css).and_then(|e| e.try_click()) {
                Ok(()) => Some(()),
                Err(e) if retryable(&e) => None,
                Err(e) => panic!("click on {css}: {e}\n{}", b.context()),
            },
        )
    }

    /// Clears the field `css` and types `text` into it.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        e.clear();
        e.send_keys(text);
    }

    // ---- screenshots and downloads ----

    /// The visible part of the page as a PNG file.
    pub fn screenshot(&self, path: &Path) {
        let v = self.command("GET", &self.s("/screenshot"), None);
        write_png(path, v.as_str().expect("screenshot is not a string"));
    }

    /// The whole page, below the fold too, as a PNG file, at the window's width.
    pub fn screenshot_full(&self, path: &Path) {
        let v = self.cdp(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        write_png(path, v["data"].as_str().expect("no data in the screenshot"));
    }

    /// Waits for a finished download whose name satisfies `pred` (Chromium writes
    /// `*.crdownload` first and renames it when complete); returns its path.
    pub fn wait_download(
        &self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> PathBuf {
        let dir = self.downloads.clone();
        self.wait_until(&format!("the download of {what}"), limit, move |_| {
            std::fs::read_dir(&dir)
                .ok()?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .find(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    !n.ends_with(".crdownload") && !n.starts_with(".com.google") && pred(&n)
                })
        })
    }

    // ---- the end ----

    /// Ends the session and stops the browser and its driver.
    pub fn quit(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(id) = self.session.take() {
            // Closes Chromium cleanly; the kills below make sure of it either way.
            let _ = self.try_http("DELETE", &format!("/session/{id}"), None);
        }
        let pid = self.driver.id() as i32;
        // SAFETY: plain kill(2) calls on the process group and process this Browser started.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        self.kill_strays();
    }

    /// Kills, by id, any process still running with this browser's temp dir in its arguments
    /// (a Chromium process that left chromedriver's process group, as its crash handler does).
    fn kill_strays(&self) {
        let mut mark = self.dir.path().as_os_str().as_encoded_bytes().to_vec();
        mark.push(b'/');
        let Ok(procs) = std::fs::read_dir("/proc") else {
            return;
        };
        for p in procs.filter_map(|e| e.ok()) {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
                continue;
            };
            if cmdline.windows(mark.len()).any(|w| w == mark.as_slice()) {
                // SAFETY: kill(2) on a process of this browser's own.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The temp dir (profile, downloads) goes after, with the fields.
        self.shutdown();
    }
}

/// A found element; it may go stale when the page re-renders it (find it again then).
pub struct Element<'a> {
    b: &'a Browser,
    id: String,
    css: String,
}

impl Element<'_> {
    fn p(&self, rest: &str) -> String {
        self.b.s(&format!("/element/{}{rest}", self.id))
    }

    fn must<T>(&self, what: &str, r: Result<T, WdError>) -> T {
        r.unwrap_or_else(|e| panic!("{what} {}: {e}\n{}", self.css, self.b.context()))
    }

    pub fn try_click(&self) -> Result<(), WdError> {
        self.b
            .try_command("POST", &self.p("/click"), Some(&json!({})))
            .map(|_| ())
    }

    pub fn click(&self) {
        let r = self.try_click();
        self.must("click on", r)
    }

    pub fn clear(&self) {
        let r = self
            .b
            .try_command("POST", &self.p("/clear"), Some(&json!({})));
        self.must("clear", r);
    }

    /// Types `text` (W3C key codes such as `ENTER` included).
    pub fn send_keys(&self, text: &str) {
        let r = self
            .b
            .try_command("POST", &self.p("/value"), Some(&json!({ "text": text })));
        self.must("keys into", r);
    }

    pub fn try_text(&self) -> Result<String, WdError> {
        self.b
            .try_command("GET", &self.p("/text"), None)
            .map(|v| v.as_str().unwrap_or("").to_string())
    }

    /// The rendered text (empty when hidden).
    pub fn text(&self) -> String {
        let r = self.try_text();
        self.must("text of", r)
    }

    /// A DOM property (`value`, `checked`, `disabled`, …); `Null` when it has none.
    pub fn property(&self, name: &str) -> Value {
        let r = self
            .b
            .try_command("GET", &self.p(&format!("/property/{name}")), None);
        self.must("property of", r)
    }

    /// An HTML attribute, if set.
    pub fn attribute(&self, name: &str) -> Option<String> {
        let r = self
            .b
            .try_command("GET", &self.p(&format!("/attribute/{name}")), None);
        self.must("attribute of", r).as_str().map(str::to_string)
    }

    /// The `value` property as text.
    pub fn value(&self) -> String {
        match self.property("value") {
            Value::String(s) => s,
            Value::Null => String::new(),
            v => v.to_string(),
        }
    }

    pub fn try_displayed(&self) -> Result<bool, WdError> {
        self.b
            .try_command("GET", &self.p("/displayed"), None)
            .map(|v| v == true)
    }

    pub fn displayed(&self) -> bool {
        let r = self.try_displayed();
        self.must("displayed", r)
    }

    pub fn enabled(&self) -> bool {
        let r = self.b.try_command("GET", &self.p("/enabled"), None);
        self.must("enabled", r) == true
    }

    /// An element inside this one.
    pub fn find(&self, css: &str) -> Element<'_> {
        let r = self.b.try_command(
            "POST",
            &self.p("/element"),
            Some(&json!({"using": "css selector", "value": css})),
        );
        let v = self.must(&format!("find {css} in"), r);
        Element {
            b: self.b,
            id: element_id(&v),
            css: format!("{} {css}", self.css),
        }
    }

    /// Picks the `<option>` with this value in a `<select>` by clicking it, as a user
    /// does; checks the select took it.
    pub fn select_value(&self, value: &str) {
        let quoted = serde_json::to_string(value).unwrap();
        let option = self.find(&format!("option[value={quoted}]"));
        assert!(
            option.enabled(),
            "the option {value} of {} is disabled\n{}",
            self.css,
            self.b.context()
        );
        option.click();
        assert_eq!(self.value(), value, "{} did not take the option", self.css);
    }

    /// Scrolls the element to the middle of the viewport (before a screenshot).
    pub fn scroll_into_view(&self) {
        self.b.execute(
            "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})",
            json!([{ ELEMENT_KEY: self.id }]),
        );
    }
}

fn element_id(v: &Value) -> String {
    v[ELEMENT_KEY]
        .as_str()
        .unwrap_or_else(|| panic!("not an element reference: {v}"))
        .to_string()
}

/// Errors that a second look after a re-render can fix.
fn retryable(e: &WdError) -> bool {
    matches!(
        e.error.as_str(),
        "no such element"
            | "stale element reference"
            | "element not interactable"
            | "element click intercepted"
    )
}

fn write_png(path: &Path, b64: &str) {
    let png = base64_decode(b64).expect("screenshot is not base64");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "screenshot is not a PNG"
    );
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(path, png).unwrap();
}

/// Standard base64 (padding optional, whitespace ignored).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}
