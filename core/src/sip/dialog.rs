//! The SIP dialog of a call, as the phone's SIP stack describes it in a call event. callrec
//! never owns the dialog; it only builds in-dialog requests from this description, so every
//! field is checked here: a value that would break a header line is refused, never sent.

use serde::{Deserialize, Serialize};

/// How the stack reaches the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    /// As written in a Via header.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

/// One dialog (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// The phone's URI (From of our requests), e.g. `sip:1001@pbx.example.com`.
    pub local_uri: String,
    /// The peer's URI (To of our requests).
    pub remote_uri: String,
    /// The peer's Contact: the Request-URI of in-dialog requests.
    pub remote_target: String,
    /// Record-Route of the dialog, in the order our requests use them, each as `<sip:…>`.
    #[serde(default)]
    pub route_set: Vec<String>,
    #[serde(default)]
    pub transport: Transport,
    /// For the complete wire message only: the last CSeq the stack used in this dialog
    /// (callrec uses the next ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_cseq: Option<u32>,
    /// For the complete wire message only: the Via sent-by, `host` or `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// Longest field accepted (a header line stays well under any stack's limit).
pub const MAX_FIELD: usize = 256;
/// Routes accepted in a route set.
pub const MAX_ROUTES: usize = 8;

impl Dialog {
    /// Checks every field; the error names it.
    pub fn validate(&self) -> Result<(), String> {
        let field = |name: &str, v: &str, ok: fn(u8) -> bool| -> Result<(), String> {
            if v.is_empty() || v.len() > MAX_FIELD {
                return Err(format!("dialog.{name} must be 1 to {MAX_FIELD} characters"));
            }
            match v.bytes().find(|&b| !ok(b)) {
                Some(b) => Err(format!("dialog.{name} may not contain {:?}", char::from(b))),
                None => Ok(()),
            }
        };
        field("call_id", &self.call_id, is_call_id_char)?;
        field("local_tag", &self.local_tag, is_token_char)?;
        field("remote_tag", &self.remote_tag, is_token_char)?;
        for (name, uri) in [
            ("local_uri", &self.local_uri),
            ("remote_uri", &self.remote_uri),
            ("remote_target", &self.remote_target),
        ] {
            field(name, uri, is_uri_char)?;
            if !has_sip_scheme(uri) {
                return Err(format!("dialog.{name} must be a sip: or sips: URI"));
            }
        }
        if self.route_set.len() > MAX_ROUTES {
            return Err(format!(
                "dialog.route_set holds at most {MAX_ROUTES} routes"
            ));
        }
        for r in &self.route_set {
            field("route_set", r, is_uri_char_or_angle)?;
            let inner = r.strip_prefix('<').and_then(|r| r.split_once('>'));
            match inner {
                Some((uri, params))
                    if has_sip_scheme(uri)
                        && !uri.contains(['<', '>'])
                        && !params.contains(['<', '>']) => {}
                _ => return Err("dialog.route_set entries must look like <sip:proxy;lr>".into()),
            }
        }
        if let Some(via) = &self.via {
            field("via", via, is_host_port_char)?;
        }
        if self.local_cseq.is_some_and(|c| c >= (1 << 31) - 16) {
            return Err("dialog.local_cseq must be below 2^31".into());
        }
        Ok(())
    }
}

fn has_sip_scheme(uri: &str) -> bool {
    let starts = |scheme: &str| {
        uri.len() > scheme.len()
            && uri
                .get(..scheme.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    };
    starts("sip:") || starts("sips:")
}

/// RFC 3261 `token` characters (tags).
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// RFC 3261 `word` characters (Call-ID), plus `@`.
pub fn is_call_id_char(b: u8) -> bool {
    is_token_char(b) || b"()<>:\\\"/[]?{}@".contains(&b)
}

/// Characters a SIP URI may hold: visible ASCII except the ones that end it in a header.
pub fn is_uri_char(b: u8) -> bool {
    b.is_ascii_graphic() && !b"<>\"".contains(&b)
}

fn is_uri_char_or_angle(b: u8) -> bool {
    b.is_ascii_graphic() && b != b'"'
}

fn is_host_port_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)
}

/// The dialog of RFC 3261's examples, for the SIP tests (the core's and the agent's).
pub fn sample() -> Dialog {
    Dialog {
        call_id: "a84b4c76e66710@pc33.example.com".into(),
        local_tag: "1928301774".into(),
        remote_tag: "a6c85cf".into(),
        local_uri: "sip:1001@pbx.example.com".into(),
        remote_uri: "sip:1002@pbx.example.com".into(),
        remote_target: "sip:1002@192.0.2.4:5060".into(),
        route_set: vec!["<sip:192.0.2.1;lr>".into()],
        transport: Transport::Udp,
        local_cseq: Some(314159),
        via: Some("192.0.2.9:5060".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_dialog_passes() {
        assert_eq!(sample().validate(), Ok(()));
        let json = serde_json::to_string(&sample()).unwrap();
        assert_eq!(serde_json::from_str::<Dialog>(&json).unwrap(), sample());
    }

    #[test]
    fn hostile_fields_are_refused_by_name() {
        let err = |f: fn(&mut Dialog)| {
            let mut d = sample();
            f(&mut d);
            d.validate().unwrap_err()
        };
        assert!(err(|d| d.call_id = "x\r\nBYE".into()).starts_with("dialog.call_id"));
        assert!(err(|d| d.call_id = String::new()).starts_with("dialog.call_id"));
        assert!(err(|d| d.local_tag = "a b".into()).starts_with("dialog.local_tag"));
        assert!(err(|d| d.remote_tag = "a;b".into()).starts_with("dialog.remote_tag"));
        assert!(err(|d| d.remote_uri = "http://x".into()).starts_with("dialog.remote_uri"));
        assert!(err(|d| d.local_uri = "sip:a>b".into()).starts_with("dialog.local_uri"));
        assert!(err(|d| d.remote_target = "sip:a\u{7f}".into()).starts_with("dialog.remote_target"));
        assert!(err(|d| d.route_set = vec!["sip:p;lr".into()]).starts_with("dialog.route_set"));
        assert!(err(|d| d.route_set = vec!["<sip:p;lr>, <sip:q>".into()])
            .starts_with("dialog.route_set"));
        assert!(err(|d| d.route_set = vec!["<sip:p>".into(); 9]).starts_with("dialog.route_set"));
        assert!(err(|d| d.via = Some("h;branch=x".into())).starts_with("dialog.via"));
        assert!(err(|d| d.local_cseq = Some(u32::MAX)).starts_with("dialog.local_cseq"));
        assert!(err(|d| d.local_uri = "s".repeat(300)).starts_with("dialog.local_uri"));
        assert!(serde_json::from_str::<Dialog>(r#"{"call_id":"x"}"#).is_err());
    }
}
