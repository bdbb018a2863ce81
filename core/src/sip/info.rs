//! The in-dialog `INFO` with `Record: on|off` (RFC 3261 §12.2.1.1), built from a [`Dialog`]:
//! as a method, Request-URI and headers for a stack that adds its own Via and CSeq, and as a
//! complete wire message for a stack that sends raw messages.

use super::dialog::Dialog;

/// Max-Forwards of the wire message (RFC 3261 §8.1.1.6).
pub const MAX_FORWARDS: u32 = 70;

/// The request, without the headers the sending stack owns (Via, CSeq, Max-Forwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRequest {
    pub method: &'static str,
    pub uri: String,
    pub headers: Vec<(&'static str, String)>,
}

/// Builds `INFO` with `Record: on` (`record`) or `Record: off`. The dialog was validated when
/// it arrived, so nothing here can break a header line.
pub fn build(dialog: &Dialog, record: bool) -> InfoRequest {
    let (uri, routes) = target_and_routes(dialog);
    let mut headers: Vec<(&'static str, String)> =
        routes.into_iter().map(|r| ("Route", r)).collect();
    headers.push((
        "From",
        format!("<{}>;tag={}", dialog.local_uri, dialog.local_tag),
    ));
    headers.push((
        "To",
        format!("<{}>;tag={}", dialog.remote_uri, dialog.remote_tag),
    ));
    headers.push(("Call-ID", dialog.call_id.clone()));
    headers.push(("Record", if record { "on" } else { "off" }.into()));
    headers.push(("Content-Length", "0".into()));
    InfoRequest {
        method: "INFO",
        uri,
        headers,
    }
}

/// Where the request goes and its Route headers: loose routing when the first route has `lr`
/// (or there is none), else strict routing (the first route becomes the Request-URI and the
/// remote target the last Route).
fn target_and_routes(dialog: &Dialog) -> (String, Vec<String>) {
    match dialog.route_set.first() {
        None => (dialog.remote_target.clone(), Vec::new()),
        Some(first) if is_loose(first) => (dialog.remote_target.clone(), dialog.route_set.clone()),
        Some(first) => {
            let uri = uri_of(first).to_owned();
            let mut routes: Vec<String> = dialog.route_set[1..].to_vec();
            routes.push(format!("<{}>", dialog.remote_target));
            (uri, routes)
        }
    }
}

/// The URI inside `<…>`.
fn uri_of(route: &str) -> &str {
    route
        .strip_prefix('<')
        .and_then(|r| r.split_once('>'))
        .map_or(route, |(uri, _)| uri)
}

/// The route's URI carries the `lr` parameter.
fn is_loose(route: &str) -> bool {
    uri_of(route).split(';').skip(1).any(|p| {
        p.split('=')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case("lr"))
    })
}

impl InfoRequest {
    /// The value of a header of the request.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The complete message: request line, Via (`sent_by`, `rport` (RFC 3581) and `branch`,
    /// which must start with `z9hG4bK`), Max-Forwards, the headers in order with CSeq before Record, an empty
    /// body.
    pub fn wire(&self, transport: &str, sent_by: &str, branch: &str, cseq: u32) -> String {
        let mut m = String::with_capacity(512);
        m.push_str(self.method);
        m.push(' ');
        m.push_str(&self.uri);
        m.push_str(" SIP/2.0\r\n");
        m.push_str(&format!(
            "Via: SIP/2.0/{transport} {sent_by};rport;branch={branch}\r\n"
        ));
        m.push_str(&format!("Max-Forwards: {MAX_FORWARDS}\r\n"));
        for (name, value) in &self.headers {
            if *name == "Record" {
                m.push_str(&format!("CSeq: {cseq} {}\r\n", self.method));
            }
            m.push_str(name);
            m.push_str(": ");
            m.push_str(value);
            m.push_str("\r\n");
        }
        m.push_str("\r\n");
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::dialog::{sample, Dialog};

    fn dialog(routes: &[&str]) -> Dialog {
        Dialog {
            route_set: routes.iter().map(|r| r.to_string()).collect(),
            ..sample()
        }
    }

    #[test]
    fn the_wire_message_is_byte_exact() {
        let r = build(
            &dialog(&["<sip:192.0.2.1;lr>", "<sip:pbx.example.com;lr>"]),
            true,
        );
        assert_eq!(
            r.wire("UDP", "192.0.2.9:5060", "z9hG4bK776asdhds", 314160),
            "INFO sip:1002@192.0.2.4:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.9:5060;rport;branch=z9hG4bK776asdhds\r\n\
             Max-Forwards: 70\r\n\
             Route: <sip:192.0.2.1;lr>\r\n\
             Route: <sip:pbx.example.com;lr>\r\n\
             From: <sip:1001@pbx.example.com>;tag=1928301774\r\n\
             To: <sip:1002@pbx.example.com>;tag=a6c85cf\r\n\
             Call-ID: a84b4c76e66710@pc33.example.com\r\n\
             CSeq: 314160 INFO\r\n\
             Record: on\r\n\
             Content-Length: 0\r\n\
             \r\n"
        );
    }

    #[test]
    fn the_headers_for_a_stack_leave_via_and_cseq_to_it() {
        let r = build(&dialog(&[]), false);
        assert_eq!(r.uri, "sip:1002@192.0.2.4:5060");
        let names: Vec<&str> = r.headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["From", "To", "Call-ID", "Record", "Content-Length"]);
        assert_eq!(r.header("record"), Some("off"));
    }

    #[test]
    fn a_strict_first_route_becomes_the_request_uri() {
        let r = build(
            &dialog(&["<sip:proxy.example.com>", "<sip:p2.example.com;lr>"]),
            true,
        );
        assert_eq!(r.uri, "sip:proxy.example.com");
        let routes: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| *n == "Route")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            routes,
            ["<sip:p2.example.com;lr>", "<sip:1002@192.0.2.4:5060>"]
        );
        // `lr` in any case, with or without a value, is loose routing.
        assert!(
            is_loose("<sip:p;LR>") && is_loose("<sip:p;lr=on;x>") && !is_loose("<sip:lr.example>")
        );
    }
}
