//! The SIP messages of the simulated phone's stack: the INVITE, ACK and BYE of its calls, the
//! dialog it learns from the 200 (RFC 3261 §12.1.2), and the requests callrec hands it in
//! `sip_request` events (sent as given, or built from their parts). Pure: text in, text out.

use super::rng::Rng;
use callrec_core::sip::dialog::{Dialog, Transport};
use callrec_core::sip::message::{self, Message, StartLine};
use core::fmt::Write as _;
use serde_json::Value;

/// Max-Forwards of every request (RFC 3261 §8.1.1.6).
pub const MAX_FORWARDS: u32 = 70;
/// The local number when a call gives none.
pub const DEFAULT_LOCAL: &str = "1001";
/// The remote number when a call gives none.
pub const DEFAULT_REMOTE: &str = "1002";
/// The magic cookie every branch starts with (RFC 3261 §8.1.1.7).
const COOKIE: &str = "z9hG4bK";

/// Fresh identifiers: tags, branches and Call-IDs.
#[derive(Debug, Clone)]
pub struct Ids(Rng);

impl Ids {
    pub fn new(seed: u64) -> Ids {
        Ids(Rng::new(seed))
    }

    fn hex(&mut self) -> String {
        format!("{:016x}", self.0.next_u64())
    }

    pub fn tag(&mut self) -> String {
        self.hex()
    }

    pub fn branch(&mut self) -> String {
        format!("{COOKIE}{}", self.hex())
    }

    pub fn call_id(&mut self, host: &str) -> String {
        format!("{}{}@{host}", self.hex(), self.hex())
    }
}

/// A number as the user part of a SIP URI: unreserved characters kept, others %-escaped
/// (RFC 3261 §25.1); `default` when empty.
pub fn user_part(number: &str, default: &str) -> String {
    let number = if number.is_empty() { default } else { number };
    let mut out = String::with_capacity(number.len());
    for b in number.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A call the phone places: everything its INVITE says, kept to build the dialog from the 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub call_id: String,
    pub local_tag: String,
    /// `sip:<local>@<pbx host>`, the From URI.
    pub local_uri: String,
    /// `sip:<remote>@<pbx host:port>`, the To URI and Request-URI.
    pub remote_uri: String,
    /// The phone's own address, `host:port`: Via sent-by and Contact.
    pub via: String,
    pub local_user: String,
}

impl Outgoing {
    /// A new call from `local` to `remote` through the PBX at `pbx` (`host:port`), from the
    /// phone's socket `via` (`host:port`).
    pub fn new(ids: &mut Ids, local: &str, remote: &str, pbx: &str, via: &str) -> Outgoing {
        let host = host_of(pbx);
        let local_user = user_part(local, DEFAULT_LOCAL);
        Outgoing {
            call_id: ids.call_id(host_of(via)),
            local_tag: ids.tag(),
            local_uri: format!("sip:{local_user}@{host}"),
            remote_uri: format!("sip:{}@{pbx}", user_part(remote, DEFAULT_REMOTE)),
            via: via.to_string(),
            local_user,
        }
    }

    /// The INVITE (CSeq 1, no body).
    pub fn invite(&self, branch: &str) -> String {
        let mut m = format!("INVITE {} SIP/2.0\r\n", self.remote_uri);
        let _ = write!(
            m,
            "Via: SIP/2.0/UDP {};branch={branch};rport\r\n\
             Max-Forwards: {MAX_FORWARDS}\r\n\
             From: <{}>;tag={}\r\n\
             To: <{}>\r\n\
             Call-ID: {}\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:{}@{}>\r\n\
             User-Agent: callrec-sim\r\n\
             Content-Length: 0\r\n\r\n",
            self.via,
            self.local_uri,
            self.local_tag,
            self.remote_uri,
            self.call_id,
            self.local_user,
            self.via,
        );
        m
    }

    /// The dialog a 2xx to the INVITE sets up (RFC 3261 §12.1.2): the To tag, the Contact as
    /// remote target (else the Request-URI), the Record-Route entries in reverse order.
    pub fn dialog(&self, ok: &Message) -> Result<Dialog, String> {
        let to = ok.header("To").ok_or("the 200 has no To")?;
        let remote_tag = param(to, "tag").ok_or("the 200's To has no tag")?;
        let remote_target = match ok.header("Contact") {
            Some(c) => uri_of(split_list(c).first().copied().unwrap_or(c)).to_string(),
            None => self.remote_uri.clone(),
        };
        let mut route_set: Vec<String> = ok
            .headers_named("Record-Route")
            .flat_map(split_list)
            .map(str::to_string)
            .collect();
        route_set.reverse();
        let dialog = Dialog {
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
            remote_tag: remote_tag.to_string(),
            local_uri: self.local_uri.clone(),
            remote_uri: self.remote_uri.clone(),
            remote_target,
            route_set,
            transport: Transport::Udp,
            local_cseq: Some(1),
            via: Some(self.via.clone()),
        };
        dialog
            .validate()
            .map_err(|e| format!("the 200 gives a dialog callrec would refuse: {e}"))?;
        Ok(dialog)
    }

    /// The ACK of a non-2xx final response: part of the INVITE transaction (same branch), with
    /// the response's To (RFC 3261 §17.1.1.3).
    pub fn ack_failure(&self, branch: &str, response: &Message) -> String {
        let to = response
            .header("To")
            .map_or_else(|| format!("<{}>", self.remote_uri), str::to_string);
        format!(
            "ACK {} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {};branch={branch};rport\r\n\
             Max-Forwards: {MAX_FORWARDS}\r\n\
             From: <{}>;tag={}\r\n\
             To: {to}\r\n\
             Call-ID: {}\r\n\
             CSeq: 1 ACK\r\n\
             Content-Length: 0\r\n\r\n",
            self.remote_uri, self.via, self.local_uri, self.local_tag, self.call_id,
        )
    }
}

/// A dialog the PBX never saw (`sip=none`): callrec's requests in it get 481.
pub fn made_up_dialog(ids: &mut Ids, local: &str, remote: &str, pbx: &str, via: &str) -> Dialog {
    let out = Outgoing::new(ids, local, remote, pbx, via);
    Dialog {
        call_id: format!("none-{}", out.call_id),
        local_tag: out.local_tag,
        remote_tag: ids.tag(),
        local_uri: out.local_uri,
        remote_target: out.remote_uri.clone(),
        remote_uri: out.remote_uri,
        route_set: Vec::new(),
        transport: Transport::Udp,
        local_cseq: Some(1),
        via: Some(via.to_string()),
    }
}

/// An in-dialog request from the phone (RFC 3261 §12.2.1.1): ACK of the 2xx or BYE.
pub fn in_dialog(d: &Dialog, method: &str, cseq: u32, branch: &str) -> String {
    let (uri, routes) = target_and_routes(d);
    let via = d.via.as_deref().unwrap_or("0.0.0.0");
    let mut m = format!("{method} {uri} SIP/2.0\r\n");
    let _ = write!(
        m,
        "Via: SIP/2.0/UDP {via};branch={branch};rport\r\nMax-Forwards: {MAX_FORWARDS}\r\n"
    );
    for r in &routes {
        let _ = write!(m, "Route: {r}\r\n");
    }
    let _ = write!(
        m,
        "From: <{}>;tag={}\r\n\
         To: <{}>;tag={}\r\n\
         Call-ID: {}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n",
        d.local_uri, d.local_tag, d.remote_uri, d.remote_tag, d.call_id
    );
    m
}

/// Request-URI and Route headers: loose routing when the first route has `lr` (or there is
/// none), else strict routing (RFC 3261 §12.2.1.1).
fn target_and_routes(d: &Dialog) -> (String, Vec<String>) {
    match d.route_set.first() {
        None => (d.remote_target.clone(), Vec::new()),
        Some(first) if has_lr(uri_of(first)) => (d.remote_target.clone(), d.route_set.clone()),
        Some(first) => {
            let mut routes = d.route_set[1..].to_vec();
            routes.push(format!("<{}>", d.remote_target));
            (uri_of(first).to_string(), routes)
        }
    }
}

fn has_lr(uri: &str) -> bool {
    uri.split(';').skip(1).any(|p| {
        p.split('=')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("lr"))
    })
}

/// The request of a `sip_request` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRequest {
    pub tid: String,
    /// The agent's call id.
    pub call: Option<String>,
    /// `on` or `off`, for the printed line.
    pub record: Option<String>,
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub wire: Option<String>,
}

impl AgentRequest {
    /// Reads the event. `Err((tid, why))`: the tid if there is one (to report the failure).
    pub fn from_event(v: &Value) -> Result<AgentRequest, (Option<String>, String)> {
        let text = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_string);
        let tid = text("tid").ok_or((None, "a sip_request without a tid".to_string()))?;
        let fail = |why: &str| (Some(tid.clone()), why.to_string());
        let method = text("method").ok_or_else(|| fail("the sip_request has no method"))?;
        let uri = text("uri").ok_or_else(|| fail("the sip_request has no uri"))?;
        let mut headers = Vec::new();
        for h in v
            .get("headers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match h.as_array().map(Vec::as_slice) {
                Some([Value::String(n), Value::String(val)]) => {
                    headers.push((n.clone(), val.clone()));
                }
                _ => return Err(fail("a header of the sip_request is not [name, value]")),
            }
        }
        Ok(AgentRequest {
            call: text("call_id"),
            record: text("record"),
            method,
            uri,
            headers,
            wire: text("wire"),
            tid,
        })
    }

    /// `INFO Record: on`, for the printed line.
    pub fn label(&self) -> String {
        match &self.record {
            Some(r) => format!("{} Record: {r}", self.method),
            None => self.method.clone(),
        }
    }

    /// The SIP Call-ID the request names.
    pub fn sip_call_id(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| message::canonical_name(n) == "Call-ID")
            .map(|(_, v)| v.as_str())
    }

    /// The message a stack that builds its own requests sends: the request line, its own Via
    /// and Max-Forwards, the given headers with its own CSeq after Call-ID, no body. Refuses
    /// headers a stack owns or that would break the message.
    pub fn build(&self, via: &str, branch: &str, cseq: u32) -> Result<String, String> {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
        };
        if !token(&self.method) {
            return Err(format!("method {:?} is not a token", self.method));
        }
        if self.uri.is_empty() || !self.uri.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the uri is empty or holds spaces or control characters".into());
        }
        let mut m = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        let _ = write!(
            m,
            "Via: SIP/2.0/UDP {via};branch={branch};rport\r\nMax-Forwards: {MAX_FORWARDS}\r\n"
        );
        let mut cseq_written = false;
        let mut length = None;
        for (name, value) in &self.headers {
            if !token(name) {
                return Err(format!("header name {name:?} is not a token"));
            }
            if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
                return Err(format!("header {name} holds a control character"));
            }
            match message::canonical_name(name).as_str() {
                owned @ ("Via" | "CSeq" | "Max-Forwards") => {
                    return Err(format!(
                        "the stack adds {owned} itself; the request has one"
                    ));
                }
                "Content-Length" => {
                    length = Some(value.as_str());
                    continue;
                }
                _ => {}
            }
            let _ = write!(m, "{name}: {value}\r\n");
            if message::canonical_name(name) == "Call-ID" {
                let _ = write!(m, "CSeq: {cseq} {}\r\n", self.method);
                cseq_written = true;
            }
        }
        if !cseq_written {
            let _ = write!(m, "CSeq: {cseq} {}\r\n", self.method);
        }
        match length {
            None | Some("0") => m.push_str("Content-Length: 0\r\n\r\n"),
            Some(other) => return Err(format!("Content-Length {other:?} with no body")),
        }
        Ok(m)
    }
}

/// What identifies a client transaction in its responses: the top Via's branch and the
/// CSeq method (RFC 3261 §17.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxKey {
    pub branch: String,
    pub method: String,
}

impl TxKey {
    /// The key of a message (request or response), if it has a branch and a CSeq.
    pub fn of(m: &Message) -> Option<(TxKey, u32)> {
        let via = m.header("Via")?;
        let first = split_list(via).first().copied()?;
        let branch = param(first, "branch")?.to_string();
        let (number, method) = message::cseq(m)?;
        Some((
            TxKey {
                branch,
                method: method.to_string(),
            },
            number,
        ))
    }
}

/// `200 OK`, from a response's start line.
pub fn summary(m: &Message) -> String {
    match &m.start {
        StartLine::Response { code, reason } if reason.is_empty() => code.to_string(),
        StartLine::Response { code, reason } => format!("{code} {reason}"),
        StartLine::Request { method, .. } => format!("a {method} request"),
    }
}

/// The status code of a response.
pub fn code(m: &Message) -> Option<u16> {
    match m.start {
        StartLine::Response { code, .. } => Some(code),
        StartLine::Request { .. } => None,
    }
}

/// Splits a header value at the commas that separate entries (not inside `<…>` or quotes).
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut angle, mut quoted, mut escaped) = (false, false, false);
    let mut from = 0;
    for (i, c) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[from..i].trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[from..].trim());
    out.retain(|s| !s.is_empty());
    out
}

/// The URI of a name-addr or addr-spec: inside `<…>` if there are brackets, else up to the
/// first `;` (header parameters).
pub fn uri_of(value: &str) -> &str {
    match value.split_once('<') {
        Some((_, rest)) => rest.split_once('>').map_or(rest, |(uri, _)| uri).trim(),
        None => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// A header parameter (`;tag=…`, `;branch=…`) after the URI of a value.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let after_uri = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value.split_once(';').map_or("", |(_, p)| p),
    };
    after_uri.split(';').find_map(|p| {
        let (n, v) = p.split_once('=')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The host of `host:port` (an IPv6 host keeps its brackets).
fn host_of(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port.split_inclusive(']').next().unwrap_or(host_port);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

#[cfg(test)]
mod tests;
