//! Where and how a run was produced: tool version, source commit, machine and times.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What `provenance.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub crate_version: String,
    /// Commit of the source tree the binary was built from, where git could read it at build
    /// time.
    pub git_commit: Option<String>,
    /// Whether that tree had uncommitted changes to tracked files when the binary was built.
    pub git_dirty: Option<bool>,
    pub backend: String,
    /// Worker threads of the run's thread pool.
    pub threads: usize,
    pub host: String,
    /// UTC start and end, RFC 3339.
    pub started: String,
    pub finished: String,
}

/// Facts that do not change during a sweep.
#[derive(Debug, Clone)]
pub struct Machine {
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    pub host: String,
}

impl Machine {
    /// Returns the commit the binary was built from (recorded by `build.rs`) and the host name.
    pub fn detect() -> Machine {
        let recorded = |value: &'static str| (!value.is_empty()).then_some(value);
        Machine {
            git_commit: recorded(env!("SPARSE_LSTM_AD_GIT_COMMIT")).map(str::to_owned),
            git_dirty: recorded(env!("SPARSE_LSTM_AD_GIT_DIRTY")).map(|d| d == "true"),
            host: host_name(),
        }
    }
}

/// Returns the name of this machine, or `unknown` where it cannot be read.
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Returns the current UTC time in RFC 3339 form, to the second.
pub fn now_utc() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(seconds)
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's days-to-civil algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_format_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_796_386_496), "2026-12-04T12:14:56Z");
    }
}
