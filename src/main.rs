use std::process::ExitCode;

fn main() -> ExitCode {
    moor::cli::main()
}
