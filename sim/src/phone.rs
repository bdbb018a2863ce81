//! The simulated phone's SIP stack (`callrec-sim --sip`): one UDP socket to the PBX, the
//! dialog of each call, and the client transactions in flight: its own INVITE and BYE, and the
//! requests callrec hands it. Sans-IO: datagrams, jobs and the time go in; datagrams to send
//! and finished transactions come out. The thread that drives it is `sip_io`.

use super::sip::{self, AgentRequest, Ids, Outgoing, TxKey};
use super::transaction::{ClientTimers, Timer};
use callrec_core::sip::dialog::Dialog;
use callrec_core::sip::message;
use std::time::Instant;

/// Transactions in flight at most (callrec sends one request per call at a time; this only
/// bounds a misbehaving agent).
pub const MAX_TRANSACTIONS: usize = 64;
/// Calls known at most.
pub const MAX_CALLS: usize = 64;

/// A transaction, as the caller knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxId(pub u64);

/// What to do after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this datagram to the PBX.
    Send(String),
    /// A transaction ended.
    Done(TxId, Outcome),
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The final response: the datagram as received, and `200 OK`.
    Response { raw: String, summary: String },
    /// No final response within 32 s (Timer B or F).
    Timeout,
    /// It could not be sent (the PBX unreachable).
    Transport(String),
}

impl Outcome {
    /// `200 OK`, `timeout`, `transport error: …`, for the printed line.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Response { summary, .. } => summary.clone(),
            Outcome::Timeout => "no final response within 32 s".into(),
            Outcome::Transport(e) => format!("transport error: {e}"),
        }
    }
}

#[derive(Debug)]
struct Leg {
    /// The agent's call id.
    call: String,
    /// Set once the INVITE got its 2xx (or at once for a made-up dialog).
    dialog: Option<Dialog>,
    /// `sip=none`: no INVITE or BYE.
    made_up: bool,
}

#[derive(Debug)]
enum Kind {
    Invite { call: String, out: Outgoing },
    Bye,
    Agent,
}

#[derive(Debug)]
struct Tx {
    id: TxId,
    key: TxKey,
    bytes: String,
    timers: ClientTimers,
    kind: Kind,
}

/// The stack.
#[derive(Debug)]
pub struct Phone {
    /// The phone's address as the PBX sees it, `host:port` (Via, Contact, `dialog.via`).
    via: String,
    /// The PBX, `host:port`.
    pbx: String,
    /// `--sip-build`: build callrec's requests from their parts instead of sending `wire`.
    build: bool,
    ids: Ids,
    legs: Vec<Leg>,
    txs: Vec<Tx>,
    next_id: u64,
}

impl Phone {
    pub fn new(via: &str, pbx: &str, build: bool, seed: u64) -> Phone {
        Phone {
            via: via.to_string(),
            pbx: pbx.to_string(),
            build,
            ids: Ids::new(seed),
            legs: Vec::new(),
            txs: Vec::new(),
            next_id: 1,
        }
    }

    /// The dialog of a call, as its events carry it.
    pub fn dialog(&self, call: &str) -> Option<Dialog> {
        self.leg(call).and_then(|l| l.dialog.clone())
    }

    /// Places call `call`: the INVITE goes out; `Done` follows with its final response (the
    /// 2xx's ACK is sent and the dialog kept).
    pub fn invite(
        &mut self,
        call: &str,
        local: &str,
        remote: &str,
        now: Instant,
    ) -> Result<(TxId, Vec<Output>), String> {
        self.new_leg(call, None, false)?;
        let out = Outgoing::new(&mut self.ids, local, remote, &self.pbx, &self.via);
        let branch = self.ids.branch();
        let bytes = out.invite(&branch);
        let key = TxKey {
            branch,
            method: "INVITE".into(),
        };
        let kind = Kind::Invite {
            call: call.to_string(),
            out,
        };
        self.start(key, bytes, true, kind, now)
    }

    /// Call `call` gets a dialog the PBX never saw (`sip=none`): no INVITE, no BYE.
    pub fn made_up(&mut self, call: &str, local: &str, remote: &str) -> Result<(), String> {
        let d = sip::made_up_dialog(&mut self.ids, local, remote, &self.pbx, &self.via);
        self.new_leg(call, Some(d), true)
    }

    /// Hangs up call `call`: the BYE goes out if it has a real dialog (`None` otherwise), and
    /// the call is forgotten either way.
    pub fn bye(&mut self, call: &str, now: Instant) -> Option<Result<(TxId, Vec<Output>), String>> {
        let i = self.legs.iter().position(|l| l.call == call)?;
        let leg = self.legs.remove(i);
        let mut d = leg.dialog.filter(|_| !leg.made_up)?;
        let cseq = d.local_cseq.unwrap_or(1).saturating_add(1);
        d.local_cseq = Some(cseq);
        let branch = self.ids.branch();
        let bytes = sip::in_dialog(&d, "BYE", cseq, &branch);
        let key = TxKey {
            branch,
            method: "BYE".into(),
        };
        Some(self.start(key, bytes, false, Kind::Bye, now))
    }

    /// A request callrec handed over: sent as its `wire` (or, with `--sip-build`, built from
    /// its parts with this stack's Via, branch and next CSeq). The error is what to report.
    pub fn agent_request(
        &mut self,
        req: &AgentRequest,
        now: Instant,
    ) -> Result<(TxId, Vec<Output>), String> {
        let sip_call_id = req.sip_call_id().map(str::to_string);
        let leg = self.legs.iter_mut().find(|l| {
            let d = l.dialog.as_ref();
            match &sip_call_id {
                Some(id) => d.is_some_and(|d| &d.call_id == id),
                None => Some(&l.call) == req.call.as_ref() && d.is_some(),
            }
        });
        let (bytes, key) = if self.build {
            let d = leg
                .and_then(|l| l.dialog.as_mut())
                .ok_or("no dialog of this stack has that Call-ID")?;
            let cseq = d.local_cseq.unwrap_or(0).saturating_add(1);
            let branch = self.ids.branch();
            let bytes = req.build(&self.via, &branch, cseq)?;
            d.local_cseq = Some(cseq);
            let key = TxKey {
                branch,
                method: req.method.clone(),
            };
            (bytes, key)
        } else {
            let wire = req
                .wire
                .clone()
                .ok_or("the request has no wire message (use --sip-build)")?;
            let m = message::parse(wire.as_bytes())
                .map_err(|e| format!("the wire message does not parse: {e}"))?;
            if !matches!(m.start, message::StartLine::Request { .. }) {
                return Err("the wire message is not a request".into());
            }
            let (key, cseq) =
                TxKey::of(&m).ok_or("the wire message has no Via branch or no CSeq")?;
            // The stack follows the CSeq callrec used, so its own next request (BYE) is
            // numbered after it.
            if let Some(d) = leg.and_then(|l| l.dialog.as_mut()) {
                d.local_cseq = Some(d.local_cseq.unwrap_or(0).max(cseq));
            }
            (wire, key)
        };
        if self.txs.iter().any(|t| t.key == key) {
            return Err("a request with the same branch is in flight".into());
        }
        let invite = key.method == "INVITE";
        self.start(key, bytes, invite, Kind::Agent, now)
    }

    /// A datagram from the PBX.
    pub fn on_datagram(&mut self, bytes: &[u8], now: Instant) -> Vec<Output> {
        let Ok(m) = message::parse(bytes) else {
            return Vec::new();
        };
        let Some(code) = sip::code(&m) else {
            // A request from the PBX: this phone takes none (Kamailio sends none).
            return Vec::new();
        };
        let Some((key, _)) = TxKey::of(&m) else {
            return Vec::new();
        };
        let Some(i) = self.txs.iter().position(|t| t.key == key) else {
            // A retransmitted 2xx or a late answer: nothing waits for it.
            return Vec::new();
        };
        if code < 200 {
            self.txs[i].timers.on_provisional(now);
            return Vec::new();
        }
        let tx = self.txs.remove(i);
        let mut out = Vec::new();
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let outcome = Outcome::Response {
            raw,
            summary: sip::summary(&m),
        };
        match tx.kind {
            Kind::Invite { call, out: o } if (200..300).contains(&code) => {
                let dialog = o.dialog(&m);
                match dialog {
                    Ok(d) => {
                        let branch = self.ids.branch();
                        out.push(Output::Send(sip::in_dialog(&d, "ACK", 1, &branch)));
                        if let Some(leg) = self.legs.iter_mut().find(|l| l.call == call) {
                            leg.dialog = Some(d);
                        }
                        out.push(Output::Done(tx.id, outcome));
                    }
                    Err(e) => out.push(Output::Done(tx.id, Outcome::Transport(e))),
                }
            }
            Kind::Invite { call, out: o } => {
                out.push(Output::Send(o.ack_failure(&key.branch, &m)));
                self.legs.retain(|l| l.call != call);
                out.push(Output::Done(tx.id, outcome));
            }
            Kind::Bye | Kind::Agent => out.push(Output::Done(tx.id, outcome)),
        }
        out
    }

    /// Retransmissions and timeouts due at `now`.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.txs.len() {
            match self.txs[i].timers.on_timer(now) {
                Timer::Retransmit => {
                    out.push(Output::Send(self.txs[i].bytes.clone()));
                    i += 1;
                }
                Timer::Timeout => {
                    let tx = self.txs.remove(i);
                    self.failed(&tx.kind);
                    out.push(Output::Done(tx.id, Outcome::Timeout));
                }
                Timer::Wait => i += 1,
            }
        }
        out
    }

    /// The PBX cannot be reached (an ICMP error): every transaction fails.
    pub fn on_unreachable(&mut self, why: &str) -> Vec<Output> {
        let txs = std::mem::take(&mut self.txs);
        txs.into_iter()
            .map(|tx| {
                self.failed(&tx.kind);
                Output::Done(tx.id, Outcome::Transport(why.to_string()))
            })
            .collect()
    }

    /// When `on_timer` next has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        self.txs.iter().map(|t| t.timers.deadline()).min()
    }

    fn failed(&mut self, kind: &Kind) {
        if let Kind::Invite { call, .. } = kind {
            self.legs.retain(|l| &l.call != call);
        }
    }

    fn leg(&self, call: &str) -> Option<&Leg> {
        self.legs.iter().find(|l| l.call == call)
    }

    fn new_leg(&mut self, call: &str, dialog: Option<Dialog>, made_up: bool) -> Result<(), String> {
        if self.leg(call).is_some() {
            return Err(format!("call {call} already has a dialog"));
        }
        if self.legs.len() >= MAX_CALLS {
            return Err(format!("more than {MAX_CALLS} calls at once"));
        }
        self.legs.push(Leg {
            call: call.to_string(),
            dialog,
            made_up,
        });
        Ok(())
    }

    fn start(
        &mut self,
        key: TxKey,
        bytes: String,
        invite: bool,
        kind: Kind,
        now: Instant,
    ) -> Result<(TxId, Vec<Output>), String> {
        if self.txs.len() >= MAX_TRANSACTIONS {
            self.failed(&kind);
            return Err(format!("{MAX_TRANSACTIONS} requests already in flight"));
        }
        let id = TxId(self.next_id);
        self.next_id += 1;
        self.txs.push(Tx {
            id,
            key,
            bytes: bytes.clone(),
            timers: ClientTimers::new(invite, now),
            kind,
        });
        Ok((id, vec![Output::Send(bytes)]))
    }
}

#[cfg(test)]
mod tests;
