//! Command-line entry point: parses arguments, sets up logging and maps errors to exit codes.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sparse_lstm_ad::bench::{self, BenchOptions, BenchReport};
use sparse_lstm_ad::config::{DEFAULT_DATA_DIR, Experiment};
use sparse_lstm_ad::data::{DatasetKind, DatasetSelector, describe as datasets, fetch};
use sparse_lstm_ad::evaluation::{self, EvaluationSettings, ThresholdKind};
use sparse_lstm_ad::report;
use sparse_lstm_ad::runner::{self, RunOptions};
use sparse_lstm_ad::shard::Shard;
use sparse_lstm_ad::slurm;
use sparse_lstm_ad::tracking::{self, RunState};
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
    /// Compute the metric suite of scores from any detector against labels.
    Evaluate(EvaluateArgs),
    /// Rebuild summary.csv, table.md and the plots of a results folder without training.
    Report(ReportArgs),
    /// List the done, failed, running, incomplete and missing runs of a results folder.
    Status(StatusArgs),
    /// Write a Slurm array job that runs the sweep as shards, one array task each.
    Slurm(SlurmArgs),
    /// List, describe and download datasets.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Time training and scoring of the three network variants on random data (CPU backend).
    Bench(BenchArgs),
}

#[derive(Debug, clap::Args)]
struct BenchArgs {
    /// Timed Adam steps per configuration and variant, after 3 untimed ones.
    #[arg(long, default_value_t = 20)]
    steps: usize,

    /// Timed scoring batches of 256 windows per configuration and variant.
    #[arg(long, default_value_t = 5)]
    scoring_batches: usize,

    /// Configuration: canonical (k=38, l=100, h=64), high-dim (k=200, l=50, h=128) or all;
    /// batch 64 in both.
    #[arg(long, default_value = "all")]
    config: String,

    /// Size of the rayon thread pool that burn's CPU backend computes in [default: number of
    /// CPU cores]. `run --jobs N` trains its N runs at once in one pool of N threads.
    #[arg(long)]
    threads: Option<usize>,

    /// Seed of the weights and the random data.
    #[arg(long, default_value_t = 0)]
    seed: u64,

    /// Points of the test series that the series benchmark scores with the canonical model
    /// after the table; 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    series_points: usize,

    /// Step between window starts in the series benchmark [default: the window length, 100].
    #[arg(long)]
    series_stride: Option<usize>,

    /// Also write the numbers as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum DatasetsCommand {
    /// Show the published datasets this tool reads, which are present and where.
    List(DataDirArgs),
    /// Print sensors, lengths, anomaly rate, anomalous segments and constant sensors per entity.
    Describe(DescribeArgs),
    /// Download a published dataset into the data root and verify its SHA-256 digests.
    Fetch(FetchArgs),
}

#[derive(Debug, clap::Args)]
struct FetchArgs {
    /// Dataset: smd, msl, smap or tep.
    name: String,

    /// Root folder of the datasets.
    #[arg(long, default_value = "datasets")]
    data_dir: PathBuf,

    /// Fetch from a mirror that serves the publisher's file names under this URL.
    #[arg(long)]
    base_url: Option<String>,

    /// Fetch only these entities (SMD machines, MSL or SMAP channels, TEP faults); repeatable.
    #[arg(long = "entity")]
    entities: Vec<String>,

    /// Attempts to resume a cut-off transfer before giving up.
    #[arg(long, default_value_t = fetch::DEFAULT_RETRIES)]
    retries: u32,
}

#[derive(Debug, clap::Args)]
struct DataDirArgs {
    /// Root folder of the datasets.
    #[arg(long, default_value = "datasets")]
    data_dir: PathBuf,
}

#[derive(Debug, clap::Args)]
struct DescribeArgs {
    /// Dataset as named in experiment files: `smd`, `msl:C-1`, `tep`, `csv:<name>`, ...
    dataset: String,

    /// Root folder of the datasets [default: the experiment's, else datasets].
    #[arg(long)]
    data_dir: Option<PathBuf>,

    /// Experiment file whose [data] table declares csv and npy datasets and the missing-value
    /// rule, and whose [synthetic] table sets the generator.
    #[arg(long)]
    experiment: Option<PathBuf>,

    /// Also write the summaries as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ReportArgs {
    /// Results folder of one experiment, such as results/sweep.
    results: PathBuf,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Results folder of one experiment, such as results/sweep.
    results: PathBuf,

    /// Root folder of the datasets, used to expand `"smd"` into machines; overrides the
    /// experiment file.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct EvaluateArgs {
    /// Test labels: one 0 or 1 per line, or a one-column CSV with a header.
    #[arg(long)]
    labels: PathBuf,

    /// Test scores, higher meaning more anomalous, in the same format and order as the labels.
    #[arg(long)]
    scores: PathBuf,

    /// Scores on validation data, from which the threshold is chosen; without them the
    /// threshold metrics are left empty.
    #[arg(long)]
    validation_scores: Option<PathBuf>,

    /// Labels of the validation scores, needed by `--threshold best-f-beta` only.
    #[arg(long)]
    validation_labels: Option<PathBuf>,

    /// Threshold rule: quantile, mean-std or best-f-beta.
    #[arg(long, default_value = "quantile")]
    threshold: String,

    /// Quantile of the validation scores for `--threshold quantile`.
    #[arg(long, default_value_t = 0.99)]
    quantile: f64,

    /// Standard deviations above the mean for `--threshold mean-std`.
    #[arg(long, default_value_t = 3.0)]
    std_factor: f64,

    /// β of F-beta for `--threshold best-f-beta`.
    #[arg(long, default_value_t = 1.0)]
    beta: f64,

    /// Largest buffer of VUS-ROC and VUS-PR, in steps.
    #[arg(long, default_value_t = 100)]
    vus_window: usize,

    /// Also write the metrics as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
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

    /// Load and check every dataset and count the runs, without training.
    #[arg(long)]
    dry_run: bool,

    /// Train only shard I of N (1-based): the runs at 0-based positions i of the expanded sweep
    /// with i mod N = I - 1. Shards of one split may run at the same time into one results
    /// folder; `report` then merges their tables.
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
}

#[derive(Debug, clap::Args)]
struct SlurmArgs {
    /// Experiment file (TOML), such as experiments/sweep.toml.
    experiment: PathBuf,

    /// Number of shards, one array task each.
    #[arg(long)]
    shards: usize,

    /// Slurm partition of the tasks [default: the cluster's default partition].
    #[arg(long)]
    partition: Option<String>,

    /// Time limit per task, in a Slurm time format such as 30:00, 4:00:00 or 2-00:00:00.
    #[arg(long)]
    time: Option<String>,

    /// CPUs per task; each task trains this many runs at once [default: 1].
    #[arg(long)]
    cpus_per_task: Option<usize>,

    /// Memory per task in Slurm units, such as 8G [default: the cluster's default].
    #[arg(long)]
    mem: Option<String>,

    /// Root folder of the results; overrides `results_dir` of the experiment file. It must be
    /// on a shared filesystem, mounted at the same path on every node.
    #[arg(long)]
    results_dir: Option<PathBuf>,

    /// Root folder of the datasets; overrides `data_dir` of the experiment file.
    #[arg(long)]
    data_dir: Option<PathBuf>,

    /// Submit the array job with sbatch, and a job that merges the tables once it has ended.
    #[arg(long)]
    submit: bool,
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
        Command::Evaluate(args) => evaluate(args),
        Command::Report(args) => {
            let runs = tracking::rebuild_report(&args.results).with_context(|| {
                format!("cannot rebuild the report of {}", args.results.display())
            })?;
            eprintln!("{runs} runs, tables written to {}", args.results.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => status(args),
        Command::Slurm(args) => write_slurm(args),
        Command::Datasets(DatasetsCommand::List(args)) => {
            print!("{}", datasets::list(&args.data_dir)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Datasets(DatasetsCommand::Fetch(args)) => {
            let options = fetch::FetchOptions {
                base_url: args.base_url,
                entities: args.entities,
                retries: args.retries,
            };
            let summary = fetch::fetch(&args.name, &args.data_dir, &options)?;
            eprintln!(
                "{}: {} files downloaded ({} bytes), {} extracted, {} already present, {} \
                 without a recorded digest; in {}",
                args.name,
                summary.downloaded,
                summary.bytes,
                summary.extracted,
                summary.skipped,
                summary.unverified,
                args.data_dir.join(&args.name).display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Datasets(DatasetsCommand::Describe(args)) => describe(args),
        Command::Bench(args) => run_bench(args),
    }
}

/// Writes a count with its noun in the singular or the plural.
fn count_of(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The largest thread count that `--jobs` and `--threads` accept. Each thread is an
/// operating-system thread with its own stack, and each run needs its share of memory.
const MAX_THREADS: usize = 1024;

/// Checks a thread count given on the command line, or returns the number of CPU cores. A count
/// above the core count is allowed, with a warning, because the runs then share the cores.
fn thread_count(option: &str, requested: Option<usize>) -> anyhow::Result<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match requested {
        None => Ok(cores),
        Some(0) => anyhow::bail!("{option} 0: give at least 1 (this machine has {cores} cores)"),
        Some(n) if n > MAX_THREADS => anyhow::bail!(
            "{option} {n} is more than {MAX_THREADS} threads; give at most the number of cores \
             ({cores} here)"
        ),
        Some(n) => {
            if n > cores {
                tracing::warn!(
                    "{option} {n} is more than the {cores} cores of this machine; the threads \
                     share the cores, so each run takes longer"
                );
            }
            Ok(n)
        }
    }
}

fn run_bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let configs = bench::configs_named(&args.config).ok_or_else(|| {
        anyhow::anyhow!(
            "invalid --config {:?}: expected canonical, high-dim or all",
            args.config
        )
    })?;
    if args.steps == 0 || args.scoring_batches == 0 {
        anyhow::bail!("--steps and --scoring-batches must be at least 1");
    }
    let threads = thread_count("--threads", args.threads)?;
    let options = BenchOptions {
        steps: args.steps,
        scoring_batches: args.scoring_batches,
        seed: args.seed,
        ..BenchOptions::default()
    };
    let window = bench::CANONICAL.window;
    let series_options = bench::SeriesOptions {
        points: args.series_points,
        validation_points: 20_000,
        stride: args.series_stride.unwrap_or(window),
        seed: args.seed,
    };
    if args.series_points > 0 && args.series_points < window {
        anyhow::bail!("--series-points must be 0 or at least the window length, {window}");
    }
    if args.series_points > bench::MAX_SERIES_POINTS {
        anyhow::bail!(
            "--series-points {} is more than {} (about 15 GB for the series alone); give fewer",
            args.series_points,
            bench::MAX_SERIES_POINTS
        );
    }
    if series_options.stride == 0 || series_options.stride > window {
        anyhow::bail!(
            "--series-stride {} must be between 1 and the window length, {window}, so that \
             every point is covered by a window",
            series_options.stride
        );
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .with_context(|| format!("cannot start {threads} threads"))?;
    let device = burn::tensor::Device::flex();
    let report = pool.install(|| {
        let peak = bench::measure_machine_peak(&device);
        println!(
            "peak: {:.1} GFLOP/s (f32 matmul {n}x{n}x{n}, best of {repeats}), {threads} threads",
            peak.gflops,
            n = peak.size,
            repeats = bench::PEAK_MATMUL_REPEATS
        );
        println!(
            "{} timed Adam steps, {} scoring batches of {} windows; GFLOP/s are estimates \
             (see src/bench.rs)",
            options.steps, options.scoring_batches, options.scoring_batch_size
        );
        println!("{}", bench::header());
        let rows = bench::run(&configs, &options, &device, |row| {
            println!("{}", bench::format_row(row, peak.gflops));
        });
        let series = (args.series_points > 0).then(|| {
            let row = bench::bench_series(&bench::CANONICAL, &series_options, &device);
            println!("{}", bench::format_series(&row));
            row
        });
        BenchReport {
            threads,
            options,
            peak,
            rows,
            series,
        }
    });
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let selector: DatasetSelector = args.dataset.parse()?;
    if args.experiment.is_none() && matches!(selector.kind, DatasetKind::Csv | DatasetKind::Npy) {
        anyhow::bail!(
            "{} is declared in an experiment file ([data.{}.<name>]); pass that file with \
             --experiment FILE",
            args.dataset,
            selector.kind.family()
        );
    }
    let experiment = args
        .experiment
        .as_deref()
        .map(Experiment::from_file)
        .transpose()?;
    let data_dir = args
        .data_dir
        .or_else(|| experiment.as_ref().map(|e| e.data_dir.clone()))
        .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
    let (settings, synthetic) = experiment
        .map(|e| (e.data, e.synthetic))
        .unwrap_or_default();
    let summaries = datasets::describe(&selector, &data_dir, &settings, &synthetic)?;
    print!("{}", datasets::table(&summaries));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&summaries)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    if !args.results.join(tracking::EXPERIMENT_COPY).is_file() {
        // A folder that contains results folders, such as `results/`, is a common mistake.
        let inside: Vec<String> = std::fs::read_dir(&args.results)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().join(tracking::EXPERIMENT_COPY).is_file())
                    .map(|e| e.path().display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if !inside.is_empty() {
            anyhow::bail!(
                "{} is not a results folder (it has no {}); the results folders inside it are: \
                 {}",
                args.results.display(),
                tracking::EXPERIMENT_COPY,
                inside.join(", ")
            );
        }
    }
    let states = tracking::sweep_status(&args.results, args.data_dir)
        .with_context(|| format!("cannot read the status of {}", args.results.display()))?;
    for (folder, state) in &states {
        println!("{:<11} {folder}", state.name());
    }
    let count = |wanted: RunState| states.iter().filter(|(_, s)| *s == wanted).count();
    let states_in_order = [
        RunState::Done,
        RunState::Failed,
        RunState::Running,
        RunState::Incomplete,
        RunState::Missing,
    ];
    let summary: Vec<String> = states_in_order
        .iter()
        .map(|&s| format!("{} {}", count(s), s.name()))
        .collect();
    println!("{} runs: {}", states.len(), summary.join(", "));
    let others = tracking::unplanned_runs(&args.results, &states);
    if !others.is_empty() {
        println!(
            "{} more run folders are not counted above: their datasets were not found (pass \
             --data-dir with the data folder of the run) or their settings left the experiment \
             file",
            others.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn evaluate(args: EvaluateArgs) -> anyhow::Result<ExitCode> {
    let threshold: ThresholdKind = serde_json::from_value(serde_json::Value::String(
        args.threshold.clone(),
    ))
    .map_err(|_| {
        anyhow::anyhow!(
            "invalid --threshold {:?}: expected quantile, mean-std or best-f-beta",
            args.threshold
        )
    })?;
    let settings = EvaluationSettings {
        threshold,
        quantile: args.quantile,
        std_factor: args.std_factor,
        beta: args.beta,
        vus_window: args.vus_window,
        point_adjusted_in_table: false,
    };
    settings.validate().map_err(|e| match e {
        // The settings came from flags here, not from an experiment file.
        sparse_lstm_ad::error::Error::Setting {
            key,
            value,
            expected,
        } => {
            let flag = key.trim_start_matches("evaluation.").replace('_', "-");
            anyhow::anyhow!("invalid --{flag} {value}: {expected}")
        }
        other => other.into(),
    })?;
    let labels = evaluation::read_labels(&args.labels)?;
    let scores = evaluation::read_column(&args.scores)?;
    let validation_scores = args
        .validation_scores
        .as_deref()
        .map(evaluation::read_column)
        .transpose()?;
    let validation_labels = args
        .validation_labels
        .as_deref()
        .map(evaluation::read_labels)
        .transpose()?;
    if let (Some(scores), Some(labels), Some(scores_path), Some(labels_path)) = (
        &validation_scores,
        &validation_labels,
        &args.validation_scores,
        &args.validation_labels,
    ) && scores.len() != labels.len()
    {
        anyhow::bail!(
            "{} contains {} validation scores but {} contains {} validation labels; give one label \
             per score",
            scores_path.display(),
            scores.len(),
            labels_path.display(),
            labels.len()
        );
    }
    let suite = evaluation::metric_suite(
        &labels,
        &scores,
        validation_scores.as_deref(),
        validation_labels.as_deref(),
        &settings,
    )
    .with_context(|| {
        format!(
            "cannot evaluate {} against {}",
            args.scores.display(),
            args.labels.display()
        )
    })?;

    let anomalies = labels.iter().filter(|&&l| l).count();
    println!("{} points, {anomalies} anomalous", labels.len());
    println!("{:<18} {:>10}  meaning", "metric", "value");
    for (name, value, meaning) in evaluation::describe(&suite) {
        let value = value.map_or("n/a".to_owned(), |v| format!("{v:.6}"));
        println!("{name:<18} {value:>10}  {meaning}");
    }
    if let Some(path) = &args.json {
        let document = serde_json::json!({
            "points": labels.len(),
            "anomalies": anomalies,
            "settings": settings,
            "metrics": suite,
        });
        let text = serde_json::to_string_pretty(&document)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut experiment = Experiment::from_file(&args.experiment)?;
    if let Some(dir) = args.data_dir {
        experiment.data_dir = dir;
    }
    if let Some(dir) = args.results_dir {
        experiment.results_dir = dir;
    }
    let jobs = thread_count("--jobs", args.jobs)?;
    if args.dry_run {
        let plan = runner::plan(&experiment, args.skip_missing, args.shard)
            .with_context(|| format!("experiment {} failed", args.experiment.display()))?;
        sparse_lstm_ad::backend::device(experiment.backend)?;
        println!(
            "{}; {} loaded and checked",
            count_of(plan.runs.len(), "run", "runs"),
            plan.describe_datasets()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let options = RunOptions {
        jobs,
        force: args.force,
        skip_missing: args.skip_missing,
        shard: args.shard,
    };
    // The first Ctrl-C, SIGTERM or SIGHUP stops the sweep cleanly. Slurm sends SIGTERM to a job
    // that it cancels or stops at its time limit. A second signal ends the process at once.
    ctrlc::set_handler(|| {
        if runner::is_cancelled() {
            std::process::exit(130);
        }
        eprintln!("interrupted: finishing the summary; press Ctrl-C again to quit at once");
        runner::cancel();
    })
    .context("cannot install the Ctrl-C handler")?;
    let outcome = runner::run_experiment(&experiment, &options)
        .with_context(|| format!("experiment {} failed", args.experiment.display()))?;

    let table_path = outcome.tables_dir.join(report::files::TABLE);
    let table = std::fs::read_to_string(&table_path)
        .with_context(|| format!("cannot read {}", table_path.display()))?;
    println!("{table}");
    if outcome.cancelled {
        eprintln!(
            "interrupted after {} runs; run the same command again to train the rest",
            outcome.records.len()
        );
        return Ok(ExitCode::from(130));
    }
    let failed: Vec<_> = outcome.failed().collect();
    eprintln!(
        "{}, results in {}",
        count_of(outcome.records.len(), "run", "runs")
            + &format!(" ({} trained now)", outcome.trained),
        outcome.output_dir.display()
    );
    if let Some(shard) = args.shard {
        eprintln!(
            "shard {shard} done, its tables are in {}; once every shard is done, `{} report {}` \
             merges all runs into one table",
            outcome.tables_dir.display(),
            env!("CARGO_PKG_NAME"),
            outcome.output_dir.display()
        );
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{} failed:", count_of(failed.len(), "run", "runs"));
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

fn write_slurm(args: SlurmArgs) -> anyhow::Result<ExitCode> {
    let mut experiment = Experiment::from_file(&args.experiment)?;
    if let Some(dir) = args.data_dir {
        experiment.data_dir = dir;
    }
    if let Some(dir) = args.results_dir {
        experiment.results_dir = dir;
    }

    let runs = slurm::count_runs(&experiment)
        .with_context(|| format!("experiment {} failed", args.experiment.display()))?;
    if args.shards > runs {
        eprintln!(
            "warning: {} shards for {runs} runs; the tasks above {runs} have no run to train",
            args.shards
        );
    }
    let options = slurm::SlurmOptions {
        shards: args.shards,
        partition: args.partition,
        time: args.time,
        cpus_per_task: args.cpus_per_task,
        mem: args.mem,
    };

    let binary = std::env::current_exe().context("cannot find the path of this program")?;
    let working_dir = std::env::current_dir().context("cannot read the working directory")?;
    let scripts = slurm::write_scripts(&experiment, &options, &binary, &working_dir)?;
    println!("{}", scripts.run.display());
    eprintln!(
        "{runs} runs in {} shards; array job script {}, merging job script {}, task logs in {}",
        args.shards,
        scripts.run.display(),
        scripts.report.display(),
        scripts.logs_dir.display()
    );

    if !args.submit {
        eprintln!(
            "submit with `sbatch {}`, then, once every task has ended, `sbatch {}` merges the \
             tables",
            scripts.run.display(),
            scripts.report.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let submitted = slurm::submit(&scripts)?;
    println!("{}", submitted.array_job);
    eprintln!(
        "submitted array job {} ({} tasks) and merging job {}; `{} status {}` shows progress",
        submitted.array_job,
        args.shards,
        submitted.report_job,
        env!("CARGO_PKG_NAME"),
        scripts.output_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
