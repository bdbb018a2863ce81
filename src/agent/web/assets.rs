//! The settings page's static files, built into the binary: the login page, the settings page,
//! their scripts and one stylesheet. Plain HTML, CSS and JavaScript, no inline script or style
//! (the server's Content-Security-Policy is `default-src 'self'` without `'unsafe-inline'`) and
//! nothing from the internet. The API they speak: `docs/web-api.md`.

/// One static file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The file gzipped at build time (`build.rs`): what is served, with
    /// `Content-Encoding: gzip`.
    pub gzip: &'static [u8],
    pub content_type: &'static str,
    /// Served without a session (the login page and what it needs).
    pub public: bool,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const LOGIN_HTML: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/login.html.gz"));
const LOGIN_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/login.js.gz"));
const APP_HTML: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/app.html.gz"));
const APP_JS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/app.js.gz"));
const STYLE_CSS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/style.css.gz"));

/// Every path with a static file, for the router and the tests.
pub const PATHS: [&str; 5] = ["/login", "/login.js", "/style.css", "/", "/app.js"];

/// The static file at `path` (the request's path, without the query), if there is one.
pub fn get(path: &str) -> Option<Asset> {
    let (gzip, content_type, public) = match path {
        "/login" => (LOGIN_HTML, HTML, true),
        "/login.js" => (LOGIN_JS, JS, true),
        "/style.css" => (STYLE_CSS, CSS, true),
        "/" => (APP_HTML, HTML, false),
        "/app.js" => (APP_JS, JS, false),
        _ => return None,
    };
    Some(Asset {
        gzip,
        content_type,
        public,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    const WEB_API: &str = include_str!("../../../docs/web-api.md");

    /// The file as written (what the gzip holds).
    fn text(path: &str) -> &'static str {
        match path {
            "/login" => include_str!("assets/login.html"),
            "/login.js" => include_str!("assets/login.js"),
            "/style.css" => include_str!("assets/style.css"),
            "/" => include_str!("assets/app.html"),
            "/app.js" => include_str!("assets/app.js"),
            other => panic!("no asset {other}"),
        }
    }

    #[test]
    fn the_gzip_holds_the_file_byte_for_byte() {
        for path in PATHS {
            let gz = get(path).unwrap().gzip;
            assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "{path}");
            let inflated = miniz_oxide::inflate::decompress_to_vec(&gz[10..gz.len() - 8]).unwrap();
            assert_eq!(inflated, text(path).as_bytes(), "{path}");
            let len = u32::from_le_bytes(gz[gz.len() - 4..].try_into().unwrap());
            assert_eq!(len as usize, inflated.len());
            assert!(
                gz.len() < inflated.len() / 2,
                "{path}: {} of {}",
                gz.len(),
                inflated.len()
            );
        }
    }

    /// One start tag: its name and attributes (names lower-cased, values as written).
    struct Tag {
        name: String,
        attrs: BTreeMap<String, String>,
        /// Where the text after the tag begins.
        end: usize,
    }

    /// The start tags of `html`, in order. Enough of HTML for our own pages: comments are
    /// skipped, attribute values are double-quoted, single-quoted or bare.
    fn tags(html: &str) -> Vec<Tag> {
        let b = html.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'<' {
                i += 1;
                continue;
            }
            if html[i..].starts_with("<!--") {
                i = html[i..].find("-->").map_or(b.len(), |e| i + e + 3);
                continue;
            }
            let mut j = i + 1;
            if j >= b.len() || !(b[j].is_ascii_alphabetic()) {
                i += 1;
                continue;
            }
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
                j += 1;
            }
            let name = html[i + 1..j].to_ascii_lowercase();
            let mut attrs = BTreeMap::new();
            loop {
                while j < b.len() && (b[j].is_ascii_whitespace() || b[j] == b'/') {
                    j += 1;
                }
                assert!(j < b.len(), "unterminated <{name}>");
                if b[j] == b'>' {
                    j += 1;
                    break;
                }
                let start = j;
                while j < b.len() && !b"= \t\r\n/>".contains(&b[j]) {
                    j += 1;
                }
                let attr = html[start..j].to_ascii_lowercase();
                let mut value = String::new();
                if j < b.len() && b[j] == b'=' {
                    j += 1;
                    if b[j] == b'"' || b[j] == b'\'' {
                        let q = b[j];
                        let end = html[j + 1..].find(q as char).expect("unterminated value");
                        value = html[j + 1..j + 1 + end].to_string();
                        j += end + 2;
                    } else {
                        let start = j;
                        while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                            j += 1;
                        }
                        value = html[start..j].to_string();
                    }
                }
                assert!(
                    attrs.insert(attr.clone(), value).is_none(),
                    "<{name}> repeats {attr}"
                );
            }
            out.push(Tag {
                name,
                attrs,
                end: j,
            });
            i = j;
        }
        out
    }

    fn ids(html: &str) -> BTreeSet<String> {
        let mut set = BTreeSet::new();
        for t in tags(html) {
            if let Some(id) = t.attrs.get("id") {
                assert!(set.insert(id.clone()), "id {id} is used twice");
            }
        }
        set
    }

    /// The ids the doc's "Element ids" section names, by bullet: (login page, settings page).
    fn documented_ids() -> (Vec<String>, Vec<String>) {
        let section = WEB_API
            .split("## Element ids")
            .nth(1)
            .expect("docs/web-api.md has an element ids section");
        let section = section.split("\n## ").next().unwrap_or(section);
        let (mut login, mut app) = (Vec::new(), Vec::new());
        let mut on_login = false;
        for line in section.lines() {
            if line.starts_with("- ") {
                on_login = line.starts_with("- Login page");
            }
            // every `#id` in backquotes; `#err-FIELD` is a pattern, not an id
            for chunk in line.split('`').skip(1).step_by(2) {
                let Some(id) = chunk.strip_prefix('#') else {
                    continue;
                };
                let id = id.trim_end_matches(',');
                if id.is_empty()
                    || !id.bytes().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_'
                    })
                {
                    continue;
                }
                if on_login {
                    login.push(id.to_string());
                } else {
                    app.push(id.to_string());
                }
            }
        }
        (login, app)
    }

    #[test]
    fn every_path_resolves_with_its_type() {
        let expect = [
            ("/login", HTML, true),
            ("/login.js", JS, true),
            ("/style.css", CSS, true),
            ("/", HTML, false),
            ("/app.js", JS, false),
        ];
        for (path, ct, public) in expect {
            let a = get(path).unwrap_or_else(|| panic!("{path} has no asset"));
            assert_eq!(a.content_type, ct, "{path}");
            assert_eq!(a.public, public, "{path}");
            assert!(!text(path).trim().is_empty(), "{path} is empty");
        }
        assert_eq!(PATHS.len(), expect.len());
        for p in PATHS {
            assert!(get(p).is_some(), "{p}");
        }
        for bad in [
            "",
            "/login.html",
            "/app.html",
            "/assets/app.js",
            "/APP.JS",
            "/app.js/",
            "/../app.js",
            "//app.js",
            "/style.css?x",
            "/favicon.ico",
        ] {
            assert!(get(bad).is_none(), "{bad:?} resolves");
        }
    }

    #[test]
    fn the_pages_load_only_their_own_files() {
        for (page, script) in [("/login", "/login.js"), ("/", "/app.js")] {
            let html = text(page);
            assert!(html.starts_with("<!doctype html>"), "{page}");
            let mut scripts = Vec::new();
            let mut sheets = Vec::new();
            for t in tags(html) {
                for attr in [
                    "src",
                    "href",
                    "action",
                    "formaction",
                    "srcset",
                    "poster",
                    "data",
                ] {
                    if let Some(v) = t.attrs.get(attr) {
                        assert!(
                            PATHS.contains(&v.as_str()),
                            "{page}: <{} {attr}=\"{v}\"> is not one of {PATHS:?}",
                            t.name
                        );
                    }
                }
                match t.name.as_str() {
                    "script" => scripts.push(t.attrs.get("src").cloned().unwrap_or_default()),
                    "link" => sheets.push(t.attrs.get("href").cloned().unwrap_or_default()),
                    "img" | "iframe" | "object" | "embed" | "base" => {
                        panic!("{page}: <{}> has no place here", t.name)
                    }
                    "meta" => assert!(!t.attrs.contains_key("http-equiv"), "{page}"),
                    _ => {}
                }
            }
            assert_eq!(scripts, [script], "{page}");
            assert_eq!(sheets, ["/style.css"], "{page}");
        }
        // The scripts ask only for the API and the two pages.
        for js in ["/login.js", "/app.js"] {
            let body = text(js);
            for quote in ['\'', '"', '`'] {
                for (n, lit) in body.split(quote).enumerate() {
                    if n % 2 == 1 && lit.starts_with('/') {
                        assert!(
                            lit == "/" || lit == "/login" || lit.starts_with("/api/"),
                            "{js}: {lit:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn nothing_from_the_internet() {
        for p in PATHS {
            let body = text(p).to_ascii_lowercase();
            for bad in [
                "http://",
                "https://",
                "url(",
                "@import",
                "//cdn",
                "@font-face",
            ] {
                assert!(!body.contains(bad), "{p} contains {bad}");
            }
        }
    }

    #[test]
    fn nothing_inline_that_the_csp_would_block() {
        for page in ["/login", "/"] {
            let html = text(page);
            let lower = html.to_ascii_lowercase();
            assert!(!lower.contains("<style"), "{page}: a <style> element");
            assert!(!lower.contains("javascript:"), "{page}: a javascript: URL");
            for t in tags(html) {
                for attr in t.attrs.keys() {
                    assert!(attr != "style", "{page}: <{} style=…>", t.name);
                    assert!(!attr.starts_with("on"), "{page}: <{} {attr}=…>", t.name);
                }
                if t.name == "script" {
                    assert!(t.attrs.contains_key("src"), "{page}: an inline <script>");
                    let rest = &lower[t.end..];
                    assert!(
                        rest.starts_with("</script>"),
                        "{page}: a <script> with a body"
                    );
                }
            }
        }
        // Data from the agent goes in as text, never as markup or code.
        for js in ["/login.js", "/app.js"] {
            let body = text(js);
            for bad in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                "setAttribute('style'",
                "setAttribute('on",
                "javascript:",
            ] {
                assert!(!body.contains(bad), "{js} uses {bad}");
            }
            // The CSP forbids string timers too.
            assert!(!body.contains("setTimeout('") && !body.contains("setInterval('"));
        }
    }

    #[test]
    fn every_documented_id_is_on_its_page() {
        let (login, app) = documented_ids();
        assert!(login.len() >= 4 && app.len() >= 30, "{login:?} {app:?}");
        let login_ids = ids(text("/login"));
        let app_ids = ids(text("/"));
        for id in &login {
            assert!(login_ids.contains(id), "the login page has no #{id}");
        }
        for id in &app {
            assert!(app_ids.contains(id), "the settings page has no #{id}");
        }
        // Spelled out too, so a change of the doc is a change here.
        for id in ["user", "password", "login", "login-error"] {
            assert!(login_ids.contains(id), "the login page has no #{id}");
        }
        let spelled = [
            "pw-current",
            "pw-new",
            "pw-new2",
            "pw-save",
            "pw-error",
            "err-current",
            "err-new",
            "enabled",
            "mode",
            "mode-reason",
            "policy",
            "server_address",
            "server_port",
            "codec",
            "size_limit_mib",
            "reserve_mib",
            "tone",
            "tone_interval_s",
            "pause_on_hold",
            "save",
            "save-message",
            "status-state",
            "status-shown",
            "status-failure",
            "status-file",
            "status-elapsed",
            "status-stick",
            "status-free",
            "recordings",
            "recordings-empty",
            "logout",
        ];
        for id in spelled {
            assert!(app_ids.contains(id), "the settings page has no #{id}");
        }
        // An error line beside every settings field, by the API's field name.
        for field in [
            "enabled",
            "mode",
            "policy",
            "server_address",
            "server_port",
            "codec",
            "size_limit_bytes",
            "reserve_bytes",
            "tone",
            "tone_interval_s",
            "pause_on_hold",
        ] {
            assert!(app_ids.contains(&format!("err-{field}")), "no #err-{field}");
        }
        // #recordings is the table; its rows are built by the script.
        let table = tags(text("/"))
            .into_iter()
            .find(|t| t.attrs.get("id").map(String::as_str) == Some("recordings"))
            .unwrap();
        assert_eq!(table.name, "table");
        let js = text("/app.js");
        for needle in [
            "tr.dataset.name = name",
            "'download-original'",
            "'download-wav'",
            "'delete danger'",
            "'X-CSRF-Token'",
            "'Content-Type'",
            "credentials: 'same-origin'",
        ] {
            assert!(js.contains(needle), "app.js lacks {needle}");
        }
    }

    #[test]
    fn the_forms_fit_their_elements() {
        let app = tags(text("/"));
        let kind = |id: &str| {
            let t = app
                .iter()
                .find(|t| t.attrs.get("id").map(String::as_str) == Some(id))
                .unwrap_or_else(|| panic!("no #{id}"));
            (
                t.name.clone(),
                t.attrs.get("type").cloned().unwrap_or_default(),
            )
        };
        for id in ["enabled", "tone", "pause_on_hold"] {
            assert_eq!(kind(id), ("input".into(), "checkbox".into()), "#{id}");
        }
        for id in ["mode", "policy", "codec"] {
            assert_eq!(kind(id).0, "select", "#{id}");
        }
        for id in ["save", "pw-save", "logout"] {
            assert_eq!(kind(id).0, "button", "#{id}");
        }
        for id in ["pw-current", "pw-new", "pw-new2"] {
            assert_eq!(kind(id), ("input".into(), "password".into()), "#{id}");
        }
        let login = tags(text("/login"));
        let login_button = login
            .iter()
            .find(|t| t.attrs.get("id").map(String::as_str) == Some("login"))
            .unwrap();
        assert_eq!(login_button.name, "button");
        assert_eq!(
            login_button.attrs.get("type").map(String::as_str),
            Some("submit")
        );
        // No form would send a password in a URL if its script failed.
        for t in login.iter().chain(app.iter()).filter(|t| t.name == "form") {
            assert_eq!(t.attrs.get("method").map(String::as_str), Some("post"));
        }
    }
}
