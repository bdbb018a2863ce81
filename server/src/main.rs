fn main() -> std::process::ExitCode {
    callrec_server::cli::main(std::env::args_os().skip(1).collect())
}
