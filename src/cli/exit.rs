//! The exit statuses of `policy-host`: the one table every subcommand and
//! `main` take them from, and the text `--help` shows for it.

use std::process::ExitCode;

/// How a `policy-host` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did what it was asked.
    Success,
    /// The command ran and what it ran failed: a call ended in an error
    /// (printed as JSON), a policy did not build.
    Failed,
    /// The command could not run: bad arguments, a file it could not read,
    /// a socket it could not reach, a server that could not start.
    Error,
}

impl Exit {
    /// Every status, in the order `--help` lists them.
    pub const ALL: [Exit; 3] = [Exit::Success, Exit::Failed, Exit::Error];

    /// The process exit status.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Error => 2,
        }
    }

    /// What the status means, for `--help`.
    pub const fn meaning(self) -> &'static str {
        match self {
            Exit::Success => {
                "done: the call returned a result, every policy built, the server stopped cleanly"
            }
            Exit::Failed => {
                "what ran failed: a call ended in an error (printed as JSON), a policy did not build"
            }
            Exit::Error => {
                "the command could not run: bad arguments, an unreadable file, an unreachable socket, a server that could not start"
            }
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// The exit-status table as `--help` shows it.
pub fn help() -> String {
    let mut text = String::from("Exit status:");
    for exit in Exit::ALL {
        text.push_str(&format!("\n  {}  {}", exit.code(), exit.meaning()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_usage_errors_match_clap() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|exit| exit.code()).collect();
        assert_eq!(codes, [0, 1, 2]);
        // clap exits with 2 on a usage error: the same as Exit::Error.
        let usage = clap::Error::new(clap::error::ErrorKind::UnknownArgument);
        assert_eq!(usage.exit_code(), i32::from(Exit::Error.code()));
        assert!(help().contains("\n  1  what ran failed"));
    }
}
