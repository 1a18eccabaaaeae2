//! The `cryolens` binary: the GUI with no subcommand, batch tools otherwise.

fn main() -> std::process::ExitCode {
    cryolens::cli::main()
}
