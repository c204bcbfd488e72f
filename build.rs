//! Records the git commit of the source tree, and whether it had uncommitted changes, when the
//! binary is built, so that a run's provenance names the code that produced it.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn main() {
    // Rebuild the record when the checked-out commit, the index or the sources change.
    for path in [
        "src",
        "Cargo.toml",
        "build.rs",
        ".git/HEAD",
        ".git/index",
        ".git/refs",
    ] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let dirty = if commit.is_empty() {
        String::new()
    } else {
        git(&["status", "--porcelain", "--untracked-files=no"])
            .map(|status| (!status.is_empty()).to_string())
            .unwrap_or_default()
    };
    println!("cargo:rustc-env=SPARSE_LSTM_AD_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=SPARSE_LSTM_AD_GIT_DIRTY={dirty}");
}
