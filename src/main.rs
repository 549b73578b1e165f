//! The `lockrig` binary.

fn main() -> std::process::ExitCode {
    lockrig::cli::main()
}
