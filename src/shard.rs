//! Splitting a sweep into shards that separate processes, on one machine or many, run at once.
//!
//! Shard `I/N` (1-based, `1 ≤ I ≤ N`) contains the runs whose 0-based position `i` in the expanded
//! sweep ([`crate::config::Experiment::expand`]) satisfies `i mod N = I − 1`. Every run belongs
//! to exactly one shard whatever `N` is, and shard sizes differ by at most one. The expansion
//! order is fixed by the experiment file and the datasets found, so every process that reads
//! the same experiment and the same data folder computes the same shards.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// One of `count` disjoint slices of a sweep; `index` is 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: usize,
    count: usize,
}

/// Folder inside a results folder that contains one set of tables per shard.
pub const SHARDS_DIR: &str = "shards";

impl Shard {
    /// Builds shard `index` of `count`, both 1-based.
    pub fn new(index: usize, count: usize) -> Result<Shard, String> {
        if count == 0 {
            return Err(format!(
                "invalid shard {index}/{count}: the number of shards must be at least 1"
            ));
        }
        if index == 0 || index > count {
            return Err(format!(
                "invalid shard {index}/{count}: the shard index must be between 1 and {count}, \
                 such as 1/{count} for the first shard"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Returns the 1-based index of this shard.
    pub fn index(self) -> usize {
        self.index
    }

    /// Returns the number of shards.
    pub fn count(self) -> usize {
        self.count
    }

    /// Returns whether the run at 0-based `position` of the expanded sweep belongs here.
    pub fn contains(self, position: usize) -> bool {
        position % self.count == self.index - 1
    }

    /// Keeps the items of `runs` whose position belongs to this shard, in their order.
    pub fn select<T>(self, runs: Vec<T>) -> Vec<T> {
        runs.into_iter()
            .enumerate()
            .filter(|(position, _)| self.contains(*position))
            .map(|(_, run)| run)
            .collect()
    }

    /// File name of this shard's lock inside a results folder.
    pub fn lock_name(self) -> String {
        format!(".lock-shard-{}-of-{}", self.index, self.count)
    }

    /// Parses a lock file name written by [`Shard::lock_name`].
    pub fn from_lock_name(name: &str) -> Option<Shard> {
        let rest = name.strip_prefix(".lock-shard-")?;
        let (index, count) = rest.split_once("-of-")?;
        Shard::new(index.parse().ok()?, count.parse().ok()?).ok()
    }

    /// Folder, inside the results folder `output_dir`, of the tables of this shard's runs.
    pub fn tables_dir(self, output_dir: &Path) -> PathBuf {
        output_dir
            .join(SHARDS_DIR)
            .join(format!("{}-of-{}", self.index, self.count))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// Parses `I/N`, such as `2/8` for the second of eight shards.
    fn from_str(text: &str) -> Result<Shard, String> {
        let invalid = || {
            format!(
                "invalid shard {text:?}: expected I/N with 1 ≤ I ≤ N, such as 2/8 for the \
                 second of eight shards"
            )
        };
        let (index, count) = text.split_once('/').ok_or_else(invalid)?;
        let index: usize = index.trim().parse().map_err(|_| invalid())?;
        let count: usize = count.trim().parse().map_err(|_| invalid())?;
        Shard::new(index, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_every_run() {
        for runs in [0, 1, 2, 5, 7, 30] {
            for count in 1..=9 {
                let mut owners = vec![0; runs];
                let mut sizes = Vec::new();
                for index in 1..=count {
                    let shard = Shard::new(index, count).unwrap();
                    let selected = shard.select((0..runs).collect());
                    sizes.push(selected.len());
                    for position in selected {
                        owners[position] += 1;
                    }
                }
                assert!(
                    owners.iter().all(|&n| n == 1),
                    "{runs} runs in {count} shards: owners per run {owners:?}"
                );
                let largest = sizes.iter().max().unwrap();
                let smallest = sizes.iter().min().unwrap();
                assert!(
                    largest - smallest <= 1,
                    "{runs} runs in {count} shards: sizes {sizes:?}"
                );
            }
        }
    }

    #[test]
    fn shard_keeps_sweep_order() {
        let shard: Shard = "2/3".parse().unwrap();
        assert_eq!(shard.select((0..8).collect()), vec![1, 4, 7]);
        assert_eq!(shard.to_string(), "2/3");
    }

    #[test]
    fn shard_parse_rejects_bad_values() {
        for text in ["0/3", "4/3", "1/0", "3", "a/3", "1/b", "", "-1/3", "1/3/4"] {
            let message = text.parse::<Shard>().unwrap_err();
            assert!(message.starts_with("invalid shard"), "{text}: {message}");
        }
        let message = "4/3".parse::<Shard>().unwrap_err();
        assert!(message.contains("between 1 and 3"), "{message}");
        let message = "1/0".parse::<Shard>().unwrap_err();
        assert!(message.contains("at least 1"), "{message}");
    }

    #[test]
    fn lock_name_round_trips() {
        let shard = Shard::new(2, 12).unwrap();
        assert_eq!(shard.lock_name(), ".lock-shard-2-of-12");
        assert_eq!(Shard::from_lock_name(&shard.lock_name()), Some(shard));
        assert_eq!(Shard::from_lock_name(".lock"), None);
        assert_eq!(Shard::from_lock_name(".lock-shard-5-of-3"), None);
        assert_eq!(Shard::from_lock_name(".lock.tmp"), None);
    }
}
