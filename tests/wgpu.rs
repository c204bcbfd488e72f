//! Training on the wgpu backend, built only with `--features wgpu`. Where no graphics adapter
//! exists (no GPU and no CPU Vulkan driver such as Mesa's lavapipe), the test prints why and
//! returns.
#![cfg(feature = "wgpu")]

use std::path::Path;

use sparse_lstm_ad::backend;
use sparse_lstm_ad::config::{BackendKind, Experiment};
use sparse_lstm_ad::runner::{RunOptions, RunStatus, run_experiment};

const TINY: &str = r#"
name = "wgpu"
backend = "wgpu"
[training]
epochs = 2
batch_size = 32
train_stride = 10
test_stride = 4
[synthetic]
sensors = 10
groups = 2
group_size = 3
train_length = 1000
test_length = 400
anomalies = 3
anomaly_min_length = 10
anomaly_max_length = 30
anomaly_sensors = 2
[sweep]
dataset = ["synthetic"]
model = ["standard", "sparse-elementwise", "sparse-feedforward"]
hidden_size = [8]
window = [20]
l1 = [0.001]
"#;

#[test]
fn tiny_models_train_on_wgpu() {
    if let Err(e) = backend::device(BackendKind::Wgpu) {
        eprintln!("skipping the wgpu test: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut experiment = Experiment::from_toml(TINY, Path::new("wgpu.toml")).unwrap();
    experiment.results_dir = dir.path().join("results");
    experiment.path = dir.path().join("wgpu.toml");
    std::fs::write(&experiment.path, TINY).unwrap();
    let options = RunOptions {
        jobs: 1,
        force: false,
        skip_missing: false,
        shard: None,
    };

    let outcome = run_experiment(&experiment, &options).expect("the sweep runs on wgpu");

    assert_eq!(outcome.records.len(), 3);
    for record in &outcome.records {
        assert_eq!(record.status, RunStatus::Done, "{:?}", record.error);
        let metrics = record.metrics.as_ref().expect("a done run has metrics");
        let roc = metrics
            .roc_auc
            .expect("the synthetic test series has both classes");
        assert!(roc.is_finite(), "ROC-AUC {roc}");
        assert!((0.0..=1.0).contains(&roc), "ROC-AUC {roc}");
    }
}
