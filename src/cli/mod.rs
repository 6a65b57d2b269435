//! The command-line interface: argument definitions and one module per
//! subcommand. Every subcommand returns an [`Exit`] status; `main` only
//! wires logging and maps errors to [`Exit::Error`].

pub mod args;
mod bench_args;
mod bench_cmd;
mod bench_mix_cmd;
mod build_cmd;
mod cache_cmd;
mod call_cmd;
pub mod exit;
pub mod json_io;
mod logging;
mod run_cmd;
pub mod serve_args;
mod serve_cmd;
mod serve_triggers;
mod watch;

pub use args::{Cli, Command};

pub use exit::Exit;

/// Runs the parsed command line.
pub fn main(cli: Cli) -> anyhow::Result<Exit> {
    logging::init(&cli.common)?;
    let cache_dir = cli
        .common
        .cache_dir
        .clone()
        .unwrap_or_else(crate::cache::ArtifactCache::default_path);
    match cli.command {
        Command::Build(args) => build_cmd::run(args, &cache_dir),
        Command::Run(args) => run_cmd::run(args, &cache_dir),
        Command::Serve(args) => serve_cmd::run(args, &cache_dir),
        Command::Call(args) => call_cmd::run(args),
        Command::Bench(args::BenchCommand::Inproc(args)) => bench_cmd::inproc(args, &cache_dir),
        Command::Bench(args::BenchCommand::Load(args)) => match args.mix {
            Some(count) => bench_mix_cmd::run(args, count, &cache_dir),
            None => bench_cmd::load(args),
        },
        Command::Bench(args::BenchCommand::Observe { calls }) => {
            let cost = crate::bench::observe_cost::measure(calls);
            println!(
                "per call: {:.0} ns without metrics, {:.0} ns with metrics (+{:.0} ns)",
                cost.without_metrics_ns,
                cost.with_metrics_ns,
                cost.with_metrics_ns - cost.without_metrics_ns
            );
            Ok(Exit::Success)
        }
        Command::Cache(args::CacheCommand::Info) => cache_cmd::info(&cache_dir),
        Command::Cache(args::CacheCommand::Prune(args)) => cache_cmd::prune(args, &cache_dir),
    }
}
