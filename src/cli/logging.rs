//! Log setup: human-readable or JSON lines on stderr.

use tracing_subscriber::EnvFilter;

use super::args::{CommonArgs, LogFormat};

/// Installs the global subscriber. `LOG_LEVEL` accepts debug, info, warn,
/// error, or any tracing filter directive (e.g. `policy_host=debug`).
pub fn init(args: &CommonArgs) -> anyhow::Result<()> {
    let level = match args.log_level.to_ascii_lowercase().as_str() {
        "warning" => "warn".to_string(),
        other => other.to_string(),
    };
    let filter = EnvFilter::try_new(&level)
        .map_err(|error| anyhow::anyhow!("invalid LOG_LEVEL {:?}: {error}", args.log_level))?;
    // Colours only on a terminal: a log collector would store the escapes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|error| anyhow::anyhow!("installing the logger: {error}"))
}
