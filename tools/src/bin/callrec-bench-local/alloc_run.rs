//! The allocation runs: the same stream, cut to a length, to an `alloc-count` build of the
//! agent alone; its `ctl stop` reply says how many heap allocations the packet path made.

use crate::main_run::{agent_spec, could_not_measure, ctl_start, PHASE};
use crate::pacer;
use crate::stream::{packets_in, Stream};
use crate::Options;
use callrec_tools::agent::Agent;
use callrec_tools::error::Context;
use callrec_tools::ToolError;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

/// One allocation run.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocRun {
    pub seconds: f64,
    pub packets: usize,
    /// The agent's `received` counter.
    pub received: u64,
    /// `packet_path_allocations`, if the build counts them.
    pub allocations: Option<u64>,
}

pub fn alloc_run(
    opts: &Options,
    stream: &Stream,
    seconds: f64,
    dir: &Path,
) -> Result<AllocRun, ToolError> {
    let packets = &stream.packets[..packets_in(seconds).min(stream.packets.len())];
    let mut agent = Agent::start(&agent_spec(&opts.alloc_bin, opts, dir.to_path_buf()))?;
    ctl_start(&agent)?;
    let tap: SocketAddr = agent
        .tap
        .parse()
        .context(|| format!("the agent's tap {:?}", agent.tap))?;
    pacer::send_paced(packets, &[tap], Instant::now() + PHASE, &[], |_| Ok(()))?;
    let reply = agent.ctl(&["stop"])?;
    agent.terminate().map_err(could_not_measure)?;
    let counters = &reply["status"]["counters"];
    let received = counters["received"]
        .as_u64()
        .ok_or_else(|| ToolError::setup(format!("ctl stop: no received counter in {reply}")))?;
    Ok(AllocRun {
        seconds,
        packets: packets.len(),
        received,
        allocations: counters["packet_path_allocations"].as_u64(),
    })
}
