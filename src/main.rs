//! Command-line entry point: parses arguments, sets up logging and maps errors to exit codes.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sparse_lstm_ad::config::Experiment;
use sparse_lstm_ad::report;
use sparse_lstm_ad::runner::{self, RunOptions};
use tracing_indicatif::IndicatifLayer;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Train standard and sparse LSTM encoder-decoders for anomaly detection and compare them.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log more: -v for debug messages, -vv for trace messages.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train and evaluate every run of an experiment file, then write the result tables.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Experiment file (TOML), such as experiments/sweep.toml.
    experiment: PathBuf,

    /// Number of runs trained at the same time [default: number of CPU cores].
    #[arg(short, long)]
    jobs: Option<usize>,

    /// Root folder of the datasets; overrides `data_dir` of the experiment file.
    #[arg(long)]
    data_dir: Option<PathBuf>,

    /// Root folder of the results; overrides `results_dir` of the experiment file.
    #[arg(long)]
    results_dir: Option<PathBuf>,

    /// Retrain runs whose results are already complete.
    #[arg(long)]
    force: bool,

    /// Leave out datasets that are not present, with a warning, instead of stopping.
    #[arg(long)]
    skip_missing: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match execute(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let indicatif = IndicatifLayer::new();
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(indicatif.get_stderr_writer()),
        )
        .with(indicatif)
        .init();
}

fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run(args),
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut experiment = Experiment::from_file(&args.experiment)?;
    if let Some(dir) = args.data_dir {
        experiment.data_dir = dir;
    }
    if let Some(dir) = args.results_dir {
        experiment.results_dir = dir;
    }
    let jobs = match args.jobs {
        Some(0) => anyhow::bail!("--jobs must be at least 1"),
        Some(jobs) => jobs,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let options = RunOptions {
        jobs,
        force: args.force,
        skip_missing: args.skip_missing,
    };
    let outcome = runner::run_experiment(&experiment, &options)
        .with_context(|| format!("experiment {} failed", args.experiment.display()))?;

    let table_path = outcome.output_dir.join(report::files::TABLE);
    let table = std::fs::read_to_string(&table_path)
        .with_context(|| format!("cannot read {}", table_path.display()))?;
    println!("{table}");
    let failed: Vec<_> = outcome.failed().collect();
    eprintln!(
        "{} runs ({} trained now), results in {}",
        outcome.records.len(),
        outcome.trained,
        outcome.output_dir.display()
    );
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{} run(s) failed:", failed.len());
    for record in failed {
        eprintln!(
            "  {}: {}",
            outcome
                .output_dir
                .join("runs")
                .join(&record.folder)
                .display(),
            record.error.as_deref().unwrap_or("unknown error")
        );
    }
    Ok(ExitCode::from(1))
}
