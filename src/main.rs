//! The `policy-host` binary: parses the command line and runs it.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = policy_host::cli::Cli::parse();
    match policy_host::cli::main(cli) {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprintln!("policy-host: error: {error:#}");
            policy_host::cli::Exit::Error.into()
        }
    }
}
