//! Standard and sparse LSTM encoder-decoders for anomaly detection in multivariate time series.
//!
//! The crate trains the EncDec-AD model of Malhotra et al. (2016) and its sparse variant of
//! Gugulothu et al. (2018), which puts an L1-penalised layer in front of the encoder so that
//! irrelevant and redundant sensors are switched off. A TOML experiment file describes a sweep;
//! [`runner::run_experiment`] trains every run of it and writes result tables.
//!
//! Modules follow the steps of an experiment: [`config`] parses and validates the experiment,
//! [`data`] loads and prepares series, [`model`] and [`training`] build and fit the networks,
//! [`scoring`] turns reconstruction errors into anomaly scores, [`metrics`] measures them,
//! [`attribution`] checks which sensors the scores blame, and [`runner`], [`report`] and
//! [`plot`] run the sweep and write its results. [`shard`] splits a sweep between processes, and
//! [`slurm`] writes and submits the Slurm array job that runs the shards on a cluster. [`bench`]
//! times training and scoring on random data.

pub mod attribution;
pub mod backend;
pub mod baseline;
pub mod bench;
pub mod config;
pub mod data;
pub mod error;
pub mod evaluation;
mod lock;
pub mod lstm;
pub mod metrics;
pub mod model;
pub mod plot;
pub mod provenance;
pub mod report;
pub mod runner;
pub mod scoring;
pub mod shard;
pub mod slurm;
pub mod stats;
pub mod tracking;
pub mod training;

pub use error::{Error, Result};
