//! `callrec-sim`: plays a phone call into the callrec agent (see `callrec::sim`).

fn main() -> std::process::ExitCode {
    callrec_sim::cli::main(std::env::args_os().skip(1).collect())
}
