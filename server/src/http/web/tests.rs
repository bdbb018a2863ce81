//! The web app's files: nothing inline that the CSP would block, nothing from elsewhere, data
//! put in as text only, and asset names that follow their content.

use super::*;

#[test]
fn the_page_names_its_assets_by_content_and_serves_only_those() {
    let page = &names().page;
    let (js, css) = (script_path(), style_path());
    assert!(
        js.starts_with("/assets/app.") && js.ends_with(".js") && js.len() == 31,
        "{js}"
    );
    assert!(css.ends_with(".css"), "{css}");
    assert!(
        page.contains(&format!("<script src=\"{js}\" defer></script>")),
        "{page}"
    );
    assert!(page.contains(&format!("<link rel=\"stylesheet\" href=\"{css}\">")));
    assert!(!page.contains("{{"), "every placeholder filled");
    assert_eq!(asset(&js[8..]).status(), StatusCode::OK);
    assert_eq!(asset(&css[8..]).status(), StatusCode::OK);
    for other in ["app.js", "app.0000000000000000.js", "../app.html", ""] {
        assert_eq!(asset(other).status(), StatusCode::NOT_FOUND, "{other}");
    }
    assert_ne!(fnv(b"a"), fnv(b"b"));
    let r = asset(&js[8..]);
    let h = |n: header::HeaderName| r.headers().get(n).unwrap().to_str().unwrap().to_string();
    assert_eq!(h(header::CACHE_CONTROL), "max-age=31536000, immutable");
    assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let p = super::page();
    let h = |n: header::HeaderName| p.headers().get(n).unwrap().to_str().unwrap().to_string();
    assert_eq!(h(header::CACHE_CONTROL), "no-store");
    assert_eq!(h(header::CONTENT_SECURITY_POLICY), CSP);
    assert!(CSP.starts_with("default-src 'none'") && CSP.contains("frame-ancestors 'none'"));
    assert!(!CSP.contains("unsafe"));
}

#[test]
fn nothing_inline_nothing_from_elsewhere_and_data_only_as_text() {
    let lower = HTML.to_ascii_lowercase();
    assert!(
        !lower.contains("<style") && !lower.contains(" style=") && !lower.contains("javascript:")
    );
    assert_eq!(lower.matches("<script").count(), 1);
    assert!(!lower.contains(" on") || !lower.contains("onclick="));
    for (name, text) in [("app.html", HTML), ("app.js", JS), ("app.css", CSS)] {
        let t = text.to_ascii_lowercase();
        for bad in [
            "http://",
            "https://",
            "//cdn",
            "@import",
            "url(",
            "@font-face",
        ] {
            assert!(!t.contains(bad), "{name} contains {bad}");
        }
    }
    for bad in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "setTimeout('",
        "setInterval('",
        "style.",
        "localStorage",
    ] {
        assert!(!JS.contains(bad), "app.js uses {bad}");
    }
    // Every audit action the server knows can be filtered on.
    for a in crate::audit::ACTIONS {
        assert!(
            JS.contains(&format!("'{a}'")),
            "app.js lacks the action {a}"
        );
    }
}

#[test]
fn me_says_the_roles_and_the_csrf_token_of_a_session_only() {
    use crate::auth::{Roles, Scope, Via};
    let p = Principal {
        who: Who::User("anna".into()),
        roles: Roles::parse("supervisor,auditor").unwrap(),
        scope: Scope::parse("sales").unwrap(),
        via: Via::Session {
            csrf: "c".repeat(8),
        },
        from: "127.0.0.1".parse().unwrap(),
    };
    let v = me(&p);
    assert_eq!(v["roles"], serde_json::json!(["supervisor", "auditor"]));
    assert_eq!(v["groups"], serde_json::json!(["sales"]));
    assert_eq!(
        (v["kind"].as_str(), v["csrf"].as_str()),
        (Some("user"), Some("cccccccc"))
    );
    let t = Principal {
        who: Who::Token("ab12".into()),
        via: Via::Token,
        ..p
    };
    assert!(me(&t)["csrf"].is_null());
}
