fn main() -> std::process::ExitCode {
    callrec::cli::main(std::env::args_os().skip(1).collect())
}
