fn main() -> std::process::ExitCode {
    callrec::server::cli::main(std::env::args_os().skip(1).collect())
}
