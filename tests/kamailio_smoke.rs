//! The test PBX itself (Kamailio with `tests/kamailio/record.cfg`), through raw UDP: it answers
//! the way the SIP INFO tests rely on, and logs what it received. Responses are read here with
//! nothing but their first line and a few headers, so this test does not depend on callrec's
//! SIP parser.

mod common;

use common::kamailio::{header, status_code, tag, Kamailio, RawUa};
use common::TempDir;
use std::net::SocketAddr;
use std::time::Duration;

/// One side of a dialog as the test UA builds it.
struct Call<'a> {
    ua: &'a RawUa,
    pbx: SocketAddr,
    call_id: String,
    from_user: &'a str,
    from_tag: &'a str,
    to_tag: Option<String>,
    cseq: u32,
    branch: u32,
}

impl Call<'_> {
    /// A request of this dialog (next CSeq unless `ACK`), with `extra` header lines.
    fn request(&mut self, method: &str, extra: &str) -> String {
        if method != "ACK" {
            self.cseq += 1;
        }
        self.branch += 1;
        let (ua, pbx) = (self.ua.addr, self.pbx);
        let to_tag = match &self.to_tag {
            Some(t) => format!(";tag={t}"),
            None => String::new(),
        };
        format!(
            "{method} sip:1002@{pbx} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {ua};branch=z9hG4bKsmoke{}x{}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{}@127.0.0.1>;tag={}\r\n\
             To: <sip:1002@127.0.0.1>{to_tag}\r\n\
             Call-ID: {}\r\n\
             CSeq: {} {method}\r\n\
             Contact: <sip:{}@{ua}>\r\n\
             {extra}\
             Content-Length: 0\r\n\r\n",
            self.cseq,
            self.branch,
            self.from_user,
            self.from_tag,
            self.call_id,
            self.cseq,
            self.from_user,
        )
    }

    /// Sends a request and returns the final response's status code.
    fn ask(&mut self, method: &str, extra: &str) -> u16 {
        let request = self.request(method, extra);
        let response = self.ua.exchange(self.pbx, &request);
        status_code(&response).unwrap()
    }
}

#[test]
fn kamailio_answers_invite_info_bye_like_a_recording_pbx() {
    let dir = TempDir::new("kamailio-smoke");
    let k = Kamailio::start(dir.path());
    let ua = RawUa::new();
    let mut call = Call {
        ua: &ua,
        pbx: k.addr,
        call_id: format!("smoke-{}@127.0.0.1", std::process::id()),
        from_user: "1001",
        from_tag: "f1001",
        to_tag: None,
        cseq: 0,
        branch: 0,
    };

    // INVITE: 200 with a To tag, the remote target and a route set.
    let invite = call.request("INVITE", "");
    let ok = ua.exchange(k.addr, &invite);
    assert_eq!(status_code(&ok), Some(200), "{ok}");
    let to_tag = tag(header(&ok, "To").unwrap())
        .expect("a To tag")
        .to_string();
    assert!(!to_tag.is_empty());
    assert!(
        header(&ok, "Contact")
            .unwrap()
            .contains(&k.addr.to_string()),
        "{ok}"
    );
    assert!(header(&ok, "Record-Route").unwrap().contains(";lr"), "{ok}");
    call.to_tag = Some(to_tag.clone());
    let ack = call.request("ACK", "");
    ua.send(k.addr, &ack);

    // INFO in the dialog: on, off, odd case, a bad value, no Record at all.
    assert_eq!(call.ask("INFO", "Record: on\r\n"), 200);
    assert_eq!(call.ask("INFO", "Record: off\r\n"), 200);
    assert_eq!(call.ask("INFO", "record: ON\r\n"), 200);
    assert_eq!(call.ask("INFO", "RECORD:Off\r\n"), 200);
    assert_eq!(call.ask("INFO", "Record: maybe\r\n"), 403);
    assert_eq!(call.ask("INFO", ""), 403);

    // A CSeq that does not go up (RFC 3261 12.2.2).
    call.cseq -= 2;
    assert_eq!(call.ask("INFO", "Record: on\r\n"), 500);
    call.cseq += 2;

    // The wrong tags are another dialog.
    call.to_tag = Some("not-ours".into());
    assert_eq!(call.ask("INFO", "Record: on\r\n"), 481);
    call.to_tag = Some(to_tag.clone());

    // An endpoint without recording: 403 to a proper request.
    let mut other = Call {
        ua: &ua,
        pbx: k.addr,
        call_id: format!("smoke-1099-{}@127.0.0.1", std::process::id()),
        from_user: "1099",
        from_tag: "f1099",
        to_tag: None,
        cseq: 0,
        branch: 100,
    };
    let ok = ua.exchange(k.addr, &other.request("INVITE", ""));
    other.to_tag = tag(header(&ok, "To").unwrap()).map(str::to_string);
    assert_eq!(other.ask("INFO", "Record: on\r\n"), 403);
    assert_eq!(other.ask("BYE", ""), 200);

    // A dialog the PBX never saw.
    let mut unknown = Call {
        call_id: "no-such-call@127.0.0.1".into(),
        to_tag: Some(to_tag.clone()),
        branch: 200,
        ..other
    };
    assert_eq!(unknown.ask("INFO", "Record: on\r\n"), 481);

    // BYE ends the dialog; an INFO after it is 481, and so is a second BYE.
    assert_eq!(call.ask("BYE", ""), 200);
    assert_eq!(call.ask("INFO", "Record: off\r\n"), 481);
    assert_eq!(call.ask("BYE", ""), 481);

    // Anything else: 405 with Allow.
    let options = call.request("OPTIONS", "");
    let answer = ua.exchange(k.addr, &options);
    assert_eq!(status_code(&answer), Some(405), "{answer}");
    assert!(header(&answer, "Allow").unwrap().contains("INFO"));

    // One log line per request, with what the tests read from it.
    let limit = Duration::from_secs(5);
    let id = &call.call_id;
    let cid = format!("call-id={id} ");
    k.wait_request(&["INVITE", &cid, "cseq=1 ", "-> 200 OK"], limit);
    k.wait_request(&["ACK", &cid, "cseq=1 "], limit);
    k.wait_request(&["INFO", &cid, "cseq=2 ", "record=\"on\"", "-> 200"], limit);
    k.wait_request(
        &["INFO", &cid, "cseq=3 ", "record=\"off\"", "-> 200"],
        limit,
    );
    k.wait_request(&["INFO", &cid, "cseq=4 ", "record=\"ON\"", "-> 200"], limit);
    k.wait_request(
        &["INFO", &cid, "cseq=6 ", "record=\"maybe\"", "-> 403"],
        limit,
    );
    k.wait_request(&["INFO", &cid, "cseq=7 ", "record=\"-\"", "-> 403"], limit);
    k.wait_request(&["INFO", &cid, "cseq=6 ", "-> 500"], limit);
    k.wait_request(
        &["INFO", "from=1099", "-> 403 Recording Not Enabled"],
        limit,
    );
    k.wait_request(
        &["INFO", "call-id=no-such-call@127.0.0.1 ", "-> 481"],
        limit,
    );
    k.wait_request(&["BYE", &cid, "-> 200 OK"], limit);
    k.wait_request(&["OPTIONS", &cid, "-> 405"], limit);
    let requests = k.requests();
    let ours: Vec<&String> = requests.iter().filter(|l| l.contains(&cid)).collect();
    // INVITE, ACK, 6 INFO, the 500, the 481 for wrong tags, BYE, INFO, BYE, OPTIONS.
    assert_eq!(ours.len(), 14, "{ours:#?}");
}

#[test]
fn kamailio_absorbs_a_retransmitted_info() {
    let dir = TempDir::new("kamailio-retransmit");
    let k = Kamailio::start(dir.path());
    let ua = RawUa::new();
    let mut call = Call {
        ua: &ua,
        pbx: k.addr,
        call_id: format!("retr-{}@127.0.0.1", std::process::id()),
        from_user: "1001",
        from_tag: "fr",
        to_tag: None,
        cseq: 0,
        branch: 0,
    };
    let ok = ua.exchange(k.addr, &call.request("INVITE", ""));
    call.to_tag = tag(header(&ok, "To").unwrap()).map(str::to_string);
    // The same INFO twice (same branch and CSeq, as a UDP retransmission): the same 200, and
    // the PBX acts once.
    let info = call.request("INFO", "Record: on\r\n");
    let first = ua.exchange(k.addr, &info);
    let again = ua.exchange(k.addr, &info);
    assert_eq!(status_code(&first), Some(200), "{first}");
    assert_eq!(status_code(&again), Some(200), "{again}");
    let cid = format!("call-id={} ", call.call_id);
    k.wait_request(&["INFO", &cid, "-> 200"], Duration::from_secs(5));
    let infos = k
        .requests()
        .into_iter()
        .filter(|l| l.starts_with("INFO") && l.contains(&cid))
        .count();
    assert_eq!(infos, 1, "{}", k.log());
}
