//! Downloads the public datasets into a data root, checks their SHA-256 digests and resumes
//! broken transfers.
//!
//! [`fetch`] brings one dataset of the manifest below into `<data_root>/<name>/`, in the layout
//! that the publishers use and the loaders read, and [`presence`] reports how much of it is there.
//! Every download goes to `<file>.part` first. Once the transfer is complete, its digest is checked
//! and the file is renamed into place, so a file under its final name is always complete.
//!
//! # Verified and unverified files
//!
//! This module records the size and SHA-256 digest of 69 publisher files: the 44 TEP files, the 4
//! files of each of the SMD machines machine-1-5, 1-6, 2-1, 2-3, 3-4 and 3-10, and telemanom's
//! `labeled_anomalies.csv`. Downloads of these files are verified. The other 22 SMD machines, the
//! telemanom archive `data.zip` and the channel files extracted from it have no recorded digest.
//! Fetch computes their digest, logs a warning and writes it to `SHA256SUMS` in the dataset folder
//! (`sha256sum` format). A later fetch or [`presence`] then detects a changed file, but the first
//! download of such a file is trusted as received.
//!
//! # Interrupted and broken transfers
//!
//! A `.part` file left by an earlier transfer is resumed with an HTTP `Range` request. A server
//! that responds with `200 OK` instead of `206 Partial Content` sends the whole file, which
//! replaces the `.part`. A transfer cut short is resumed up to [`FetchOptions::retries`] times, and the `.part`
//! is kept when the retries run out. A file with the wrong digest is downloaded once more from the
//! start before fetch returns [`Error::Download`].
//!
//! # MSL and SMAP
//!
//! NASA publishes the channels of both spacecraft in one archive, `data.zip`, and names each
//! channel's spacecraft in `labeled_anomalies.csv`. Fetching `msl` or `smap` downloads both, keeps
//! the archive in `<data_root>/.downloads/` so that the other spacecraft needs no second download,
//! and extracts `train/<channel>.npy` and `test/<channel>.npy` of the channels that the CSV assigns
//! to the requested spacecraft.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressStyle;
use sha2::{Digest, Sha256};
use tracing::{info, info_span, warn};
use tracing_indicatif::span_ext::IndicatifSpanExt;

use crate::error::{Error, Result};
use crate::lock::ResultsLock;

/// Default of [`FetchOptions::retries`].
pub const DEFAULT_RETRIES: u32 = 3;

/// File in each dataset folder that stores the SHA-256 digests of the files fetched into it.
pub const CHECKSUMS_FILE: &str = "SHA256SUMS";

/// Folder under the data root that keeps downloaded archives.
pub const DOWNLOADS_DIR: &str = ".downloads";

/// Name under which the telemanom `data.zip` is kept in [`DOWNLOADS_DIR`].
const TELEMANOM_ARCHIVE: &str = "telemanom-data.zip";
const TELEMANOM_LABELS: &str = "labeled_anomalies.csv";

const SMD_BASE: &str =
    "https://raw.githubusercontent.com/NetManAIOps/OmniAnomaly/master/ServerMachineDataset/";
const TEP_BASE: &str =
    "https://raw.githubusercontent.com/camaramm/tennessee-eastman-profBraatz/master/";
const TELEMANOM_ARCHIVE_BASE: &str = "https://s3-us-west-2.amazonaws.com/telemanom/";
const TELEMANOM_LABELS_BASE: &str = "https://raw.githubusercontent.com/khundman/telemanom/master/";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Maximum wait for the next bytes of a response before the transfer counts as cut short.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const BUFFER_SIZE: usize = 64 * 1024;

/// Settings of [`fetch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Mirror base URL that replaces every publisher base URL. The mirror must serve the
    /// publisher's file names below it: `<base>/train/machine-1-1.txt` (SMD), `<base>/d00.dat`
    /// (TEP), `<base>/data.zip` and `<base>/labeled_anomalies.csv` (MSL and SMAP).
    pub base_url: Option<String>,
    /// Entities to fetch, or all of them when empty: SMD machines (`machine-1-1`), MSL or SMAP
    /// channels (`C-1`), or TEP fault numbers (`1` or `01`). A TEP fault also fetches the normal
    /// run `00`.
    pub entities: Vec<String>,
    /// Number of times a transfer that was cut short, or whose resumption the server rejected,
    /// is retried before fetch gives up. Retries start at once, without a pause.
    pub retries: u32,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            base_url: None,
            entities: Vec::new(),
            retries: DEFAULT_RETRIES,
        }
    }
}

/// Counts of the files that [`fetch`] handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchSummary {
    /// Files downloaded, including an archive.
    pub downloaded: usize,
    /// Files extracted from an archive.
    pub extracted: usize,
    /// Files already present with the expected digest, or present with no digest to compare.
    pub skipped: usize,
    /// Files handled (downloaded, extracted or skipped) that have no digest in this module's
    /// manifest, so only the digest recorded at their first download protects them.
    pub unverified: usize,
    /// Bytes received over the network.
    pub bytes: u64,
}

/// State of one dataset under a data root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub name: &'static str,
    /// Dataset folder.
    pub path: PathBuf,
    pub description: &'static str,
    /// Publisher's web page for the dataset.
    pub source: &'static str,
    pub license: &'static str,
    /// Number of files in the complete dataset. It is `None` for MSL and SMAP until
    /// `labeled_anomalies.csv` is present, because that file lists their channels.
    pub expected: Option<usize>,
    /// Number of the dataset's files that are present.
    pub present: usize,
    /// Present files whose digest matches this module's manifest.
    pub verified: usize,
    /// Present files, relative to the dataset folder, whose digest differs from the manifest or
    /// from `SHA256SUMS`.
    pub changed: Vec<String>,
}

/// Returns the names of the datasets that [`fetch`] can download.
pub fn known() -> &'static [&'static str] {
    &NAMES
}

/// Downloads the dataset `name` into `<data_root>/<name>/`, skipping files already present with
/// the expected digest.
///
/// # Errors
///
/// [`Error::Setting`] for an unknown dataset, entity or base URL, [`Error::Download`] for a
/// failed request, an HTTP error status or a digest mismatch, and [`Error::Io`] or [`Error::Data`]
/// for local files that cannot be written or read.
pub fn fetch(name: &str, data_root: &Path, options: &FetchOptions) -> Result<FetchSummary> {
    let dataset = find_dataset(name)?;
    let client = Client::new(options)?;
    // A second fetch into the same folder would write the same partial files and digests.
    let dir = data_root.join(dataset.name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let _lock = ResultsLock::acquire(&dir)?;
    let mut summary = FetchSummary::default();
    match dataset.layout {
        Layout::Files { base, paths } => {
            let dir = data_root.join(dataset.name);
            let mut sums = Checksums::load(&dir)?;
            for path in paths(&options.entities)? {
                let target = Target {
                    url: client.url(base, &path),
                    dir: &dir,
                    published: dataset.published_file(&path),
                    path,
                };
                fetch_file(&client, &target, &mut sums, &mut summary)?;
            }
        }
        Layout::Telemanom { spacecraft } => {
            fetch_telemanom(
                &client,
                dataset,
                spacecraft,
                data_root,
                &options.entities,
                &mut summary,
            )?;
        }
    }
    info!(
        dataset = dataset.name,
        downloaded = summary.downloaded,
        extracted = summary.extracted,
        skipped = summary.skipped,
        unverified = summary.unverified,
        bytes = summary.bytes,
        "fetch finished"
    );
    Ok(summary)
}

/// Reports which files of the dataset `name` are present under `data_root`, and which of them
/// differ from their recorded digest.
///
/// It reads every present file to compute its digest, which takes a while for large datasets:
/// the full SMD is an estimated 330 MB.
///
/// # Errors
///
/// [`Error::Setting`] for an unknown dataset, and [`Error::Io`] or [`Error::Data`] for files that
/// cannot be read, including a malformed `SHA256SUMS` or `labeled_anomalies.csv`.
pub fn presence(name: &str, data_root: &Path) -> Result<Presence> {
    let dataset = find_dataset(name)?;
    let dir = data_root.join(dataset.name);
    let sums = Checksums::load(&dir)?;
    let expected_paths = match dataset.layout {
        Layout::Files { paths, .. } => Some(paths(&[])?),
        Layout::Telemanom { spacecraft } => {
            let labels = dir.join(TELEMANOM_LABELS);
            if labels.is_file() {
                let channels = read_channels(&labels, spacecraft)?;
                let mut paths = vec![TELEMANOM_LABELS.to_owned()];
                paths.extend(channel_paths(&channels.own));
                Some(paths)
            } else {
                None
            }
        }
    };
    // Without the channel list, the files recorded at earlier fetches are all that is known.
    let candidates = expected_paths
        .clone()
        .unwrap_or_else(|| sums.digests.keys().cloned().collect());

    let mut presence = Presence {
        name: dataset.name,
        path: dir.clone(),
        description: dataset.description,
        source: dataset.source,
        license: dataset.license,
        expected: expected_paths.map(|paths| paths.len()),
        present: 0,
        verified: 0,
        changed: Vec::new(),
    };
    for path in candidates {
        let file = dir.join(&path);
        if !file.is_file() {
            continue;
        }
        presence.present += 1;
        let Some(expected) = Expected::for_file(dataset.published_file(&path), &sums, &path) else {
            continue;
        };
        let (digest, _) = sha256_file(&file)?;
        if digest != expected.sha256 {
            presence.changed.push(path);
        } else if matches!(expected.source, DigestSource::Manifest) {
            presence.verified += 1;
        }
    }
    Ok(presence)
}

// ---------------------------------------------------------------------------------------------
// Manifest

/// A publisher file with its size in bytes and SHA-256 digest.
#[derive(Debug, Clone, Copy)]
struct PublishedFile {
    path: &'static str,
    size: u64,
    sha256: &'static str,
}

/// Parses a table of recorded files: one line per file with the SHA-256, the size in bytes and
/// the path, separated by spaces.
fn published_files(table: &'static str) -> impl Iterator<Item = PublishedFile> {
    table.lines().filter_map(|line| {
        let mut fields = line.split_whitespace();
        let sha256 = fields.next()?;
        let size = fields.next()?.parse().ok()?;
        let path = fields.next()?;
        Some(PublishedFile { path, size, sha256 })
    })
}

/// Source and layout of the files of a dataset.
enum Layout {
    /// Files downloaded one by one from the base URL followed by their path. `paths` lists the
    /// paths for a selection of entities, or for the whole dataset when the selection is empty.
    Files {
        base: &'static str,
        paths: fn(&[String]) -> Result<Vec<String>>,
    },
    /// Channels of one spacecraft, extracted from the telemanom archive.
    Telemanom { spacecraft: &'static str },
}

/// Entry of the dataset manifest.
struct Dataset {
    name: &'static str,
    description: &'static str,
    source: &'static str,
    license: &'static str,
    layout: Layout,
    /// Table of the files whose digest is recorded here, in the format that [`published_files`]
    /// reads. The dataset's other files are unverified.
    published: &'static str,
}

impl Dataset {
    fn published_file(&self, path: &str) -> Option<PublishedFile> {
        published_files(self.published).find(|file| file.path == path)
    }
}

const NAMES: [&str; 4] = ["smd", "msl", "smap", "tep"];

static DATASETS: [Dataset; 4] = [
    Dataset {
        name: "smd",
        description: "Server Machine Dataset (OmniAnomaly): 28 server machines, 38 metrics \
                      each, one row per minute",
        source: "https://github.com/NetManAIOps/OmniAnomaly (folder ServerMachineDataset)",
        license: "MIT (LICENSE in the OmniAnomaly repository)",
        layout: Layout::Files {
            base: SMD_BASE,
            paths: smd_paths,
        },
        published: SMD_PUBLISHED,
    },
    Dataset {
        name: "msl",
        description: "Mars Science Laboratory telemetry (NASA telemanom): one .npy file per \
                      channel for train and test",
        source: "https://github.com/khundman/telemanom",
        license: "no license file ships with the data; cite Hundman et al., KDD 2018",
        layout: Layout::Telemanom { spacecraft: "MSL" },
        published: TELEMANOM_PUBLISHED,
    },
    Dataset {
        name: "smap",
        description: "Soil Moisture Active Passive satellite telemetry (NASA telemanom): one \
                      .npy file per channel for train and test",
        source: "https://github.com/khundman/telemanom",
        license: "no license file ships with the data; cite Hundman et al., KDD 2018",
        layout: Layout::Telemanom { spacecraft: "SMAP" },
        published: TELEMANOM_PUBLISHED,
    },
    Dataset {
        name: "tep",
        description: "Tennessee Eastman Process (Braatz data set): the normal run and 21 fault \
                      runs, each as a training and a test file of 52 variables",
        source: "https://github.com/camaramm/tennessee-eastman-profBraatz",
        license: "permissive with attribution, copyright University of Illinois (LICENSE in \
                  the source repository)",
        layout: Layout::Files {
            base: TEP_BASE,
            paths: tep_paths,
        },
        published: TEP_PUBLISHED,
    },
];

const SMD_MACHINES: [&str; 28] = [
    "machine-1-1",
    "machine-1-2",
    "machine-1-3",
    "machine-1-4",
    "machine-1-5",
    "machine-1-6",
    "machine-1-7",
    "machine-1-8",
    "machine-2-1",
    "machine-2-2",
    "machine-2-3",
    "machine-2-4",
    "machine-2-5",
    "machine-2-6",
    "machine-2-7",
    "machine-2-8",
    "machine-2-9",
    "machine-3-1",
    "machine-3-2",
    "machine-3-3",
    "machine-3-4",
    "machine-3-5",
    "machine-3-6",
    "machine-3-7",
    "machine-3-8",
    "machine-3-9",
    "machine-3-10",
    "machine-3-11",
];

/// SMD folders in download order. The loader finds machines by listing `train/`, so `train/` comes
/// last and an interrupted fetch leaves no machine that lacks its test files.
const SMD_FOLDERS: [&str; 4] = ["test", "test_label", "interpretation_label", "train"];

/// Highest TEP fault number. Run 0 is normal operation.
const TEP_LAST_FAULT: u32 = 21;

// NOTE: the digests in these tables were computed from copies of the publisher files, not from
// a download made by this module. If a publisher rewrites a file, fetch fails with a digest
// mismatch until the table is updated.
/// Recorded SMD files, one per line: SHA-256, size in bytes and path. They cover the machines
/// machine-1-5, 1-6, 2-1, 2-3, 3-4 and 3-10.
const SMD_PUBLISHED: &str = "\
c3ab9437aeb07763bba39298dc99905a9365f27f441411d979a9bb66e26a53e9      276 interpretation_label/machine-1-5.txt
2cc68339b99fbf9ec0891c2a081c2d05ee04087a766d6200572fc74e99867f8f     1127 interpretation_label/machine-1-6.txt
fe4e3a67039d46045b9a3b18fd4dd6138f5c228447fcefb0c5f4beb1f46ede37      389 interpretation_label/machine-2-1.txt
2ae064468235de25955439978c56d8fb217bf4682eab73636834e9d69086a777      329 interpretation_label/machine-2-3.txt
cd1f1df76a273f3df12bc5389850a0376a361256e0a9ebd6014e08e216661eb7      416 interpretation_label/machine-3-10.txt
0a43f6c9ca99345a95ad7de615f275c72692c905e9e92061cdf28ce488a390fc      166 interpretation_label/machine-3-4.txt
fd4517cfb040c8b6465351ac8a79d1627050a0fd03424650e79b81d6722e7e0c  5782079 test/machine-1-5.txt
907e20be60d8ea16faa6d503330abf7ebbb772611e49fbea1ec3e378aa2fd7b1  6399288 test/machine-1-6.txt
a1c8c133fa1f59fc87499774d8d4cca76db185114b632b2653e960335c888a97  6128266 test/machine-2-1.txt
267d24d85410c9e70c63d74929092ce2fac710fc09c813c7ce6f1e6950929885  5765521 test/machine-2-3.txt
e1ae0e551f91e07ce384b049372f421c2f2254a5ea78b3f51fdb18d698cb6753  5836189 test/machine-3-10.txt
4915ead46f204b045f07ac8c1d4c66ce9a8eb54428453d16235b15afbbadf458  6106915 test/machine-3-4.txt
e7e2e611e12b5e9e2558ed955ad271f1f408fbdd7fbbfdfc72eb745ade567815    47412 test_label/machine-1-5.txt
8359ffa67b5421b0b9967ccf396a58c7b3bf52fa24c3f95e6b9df6486f1d6365    47378 test_label/machine-1-6.txt
416dd20a447f38b8d9394382293ed44f509c1c3f99c4aa2fbff179498626dbdc    47388 test_label/machine-2-1.txt
5768ce5280cb5ce4bee6d8bb3c7105819574d5e82f7d517d61495efa9d4f566e    47378 test_label/machine-2-3.txt
d2b87c9c1d1950f0b29eaca0edf4706b917984799f6d9b5c1472435832fe3abd    47386 test_label/machine-3-10.txt
5c1f09b85c53d1936eff1e044c5f7413b07f10fd641934b4aba9b2669485b7be    47374 test_label/machine-3-4.txt
67d32ae3319ac50fd3535912304dae16c5af5ec599d45f18a5d7b0605023db50  5757276 train/machine-1-5.txt
a7fd6c34bb167845bcdabc3440dc2c3bb0c6431aa96a9de2484114bb836bda1f  6355662 train/machine-1-6.txt
8eb1376928b1127dc7b51791c77461b8794698d1485ce963486887fe44183561  6107301 train/machine-2-1.txt
0ae090fa31b786409d1120419a2a4351f98e5149dbbe26b0a32cf8e6e9c634f1  5788774 train/machine-2-3.txt
a88d1c165c6488a00667cba0873103bb0b3776ded9cefab5b47a0544477a52fa  5899602 train/machine-3-10.txt
1755df23404deabe16906293c3b0b51a79846b1dd411b3cab32f3fe0a4b5bd8d  6219060 train/machine-3-4.txt
";

/// Recorded TEP files, one per line: SHA-256, size in bytes and path.
const TEP_PUBLISHED: &str = "\
4c3c0b11eefacf93e5d2529e2866d7a625e37aa9153d0f95fae17a6c9e560deb   416049 d00.dat
57d56da4199e3d73582855d810be1d13d931386fd728bf1694798c7b0a03678c   799680 d00_te.dat
b0da22ac7561d82b0ba0b48bf87d2b3a8655cb23a3dc37330dd03cdd126c387c   399840 d01.dat
e7e6992fb39664e739fccbc001a1c5d5f7cb21829544f734ca3f282c26f680e5   799680 d01_te.dat
af1a46ba3a5482be3e7b143606f22ae509138544af2a2d0eb7389459257f8179   399840 d02.dat
a34bd9c3693fa96bd3ee533fb7fbe29a9d226a4e3250b585ef1308e1136dbfb0   799680 d02_te.dat
df39c57bdac7ea476ee236c289e0f59b0cbf868adfbbbaf213f692d8cd96e52a   399840 d03.dat
b7bf6f2ed7cff0a5577898b009edd252b9bdf6ee9ff7dbeacf9af9aa4c6abace   799680 d03_te.dat
346702fce33d9707f0b4ec5b8f533ccb08be60313607d5156d7e237b80a87b3f   399840 d04.dat
1ccb488dd5feac11aad54623451168abef066229e685872597897800363916f9   799680 d04_te.dat
3a47bfce4010ce0c634ae828409cce657ecd03bf0c4d59f8dd4a3d4f792f493f   399840 d05.dat
1def7258a2865aeead699d52c8cf926fbf34c1467aaf298121987ab858fd0888   799680 d05_te.dat
ff0882a44bb74f5d2d1a864425ac7e5ae82420391c7060232cefc08ad5bf7331   399840 d06.dat
8a3adc7121eaa9b9300c27f9c57a8ab356315401cb964310a4a8244dd34bf79d   799680 d06_te.dat
e3fd272ed53f899ab0c8278c7eede55418b01a2339b5fcff14a87fefaa3d181d   399840 d07.dat
e01b7c81daf9fccc4495cbde5658296918276b3c078044893f6e945dd91d3446   799680 d07_te.dat
4817735e339449bec909d1cbe77e421acc79c7357b8c6b5bb82c6e5788b72449   399840 d08.dat
c0637f02f23b79890b43cfee9604818ad6d7f81532223d76acf1da0d6e2a2cc1   799680 d08_te.dat
cb9146da760cdd52cad575d745413a5cfb4b447af2db9fb6a424cf6881ff0fcd   399840 d09.dat
513df6c3a4fd48e0eaddb0002cd8cdab3a78a5c83c47883bb52d2dc6c2472428   799680 d09_te.dat
e08697b5d074aea2345434bc4d26296f5dbdbb7efbf37a1bbee292b2ce765e8f   399840 d10.dat
3a278be79d8d111fc60be3cfb4f961c28e2dc632f17eb519886aa0f95864ffc6   799680 d10_te.dat
8294734d6f6e8f6b8643b9dc72f38ce40afd868d30dee9368a0d26b963a0af9f   399840 d11.dat
6d60a4c932d918e1ab26ae5d16320936a665f3aad3f05482d23f5c4550b9f29a   799680 d11_te.dat
62fcb3c71c0eda8eaaaf707f35296e60b17baaf9a9aef588687532cf4c560d38   399840 d12.dat
2180fcecb01d1b110b429ba2969d6b18dcc625599e3640e54f69afa32dccbe50   799680 d12_te.dat
f755d4ab6dc1d30e36c2e4604eeb0baff4b91032f487398b97fb1220eda861dd   399840 d13.dat
2e34e0c427d6e41d77d6cae76550b7e95004f9f13bc093278ecf5c282a1c9f03   799680 d13_te.dat
29fda7d5cae58cb7240e569e2d2d436371d077d282187d9205c7dc01df8755af   399840 d14.dat
e8976d056c0769cebbcec3bcba89d2468040ccae7acbea55ebc3b2e56b217396   799680 d14_te.dat
4c82fe0864cce2521e91a2c3e59d8630627c5e633cffe83f5e34ebc9901b5bca   399840 d15.dat
a7242b956837bec8ca7f224d01805247f2aea6ea868eaa064e068b5c0761b1e5   799680 d15_te.dat
ca1dfc5e31292052e83dcf6b4f60a73da197eb8a47e65d908ed7ac3cbcccb007   399840 d16.dat
8381d7371aac49b498e7bf93149b77a0a6bbeffe73520881dcbe8ae96277244d   799680 d16_te.dat
596aad6421a64d257bfa098cd5c4664d46dc49d88d1bad86cbc9518e6cd69e42   399840 d17.dat
27d2d72052064e3cbb7a45df8073f15bb83b77403f532616e73c8869b043e7c9   799680 d17_te.dat
b4d182c070036104cf150bc33f7aa879805f19943eb298bc05bdc8647dc70291   399840 d18.dat
1db5b93a7daa58ed1b641845b58ad818546ced7f3de866c086da18a7ebef5041   799680 d18_te.dat
ee3d2a50285cb3ba5e52ec05ea7cb39dc2b574bec592af9d44c192be132aeea6   399840 d19.dat
c24dd77f787f89347273addc8a453d79f0b99edd64d43be11a5e0907bd515c5f   799680 d19_te.dat
acdfe6c256fa6de74a811d6c7df1b710a9f0ed60f48242be92f3fa30db3df6b3   399840 d20.dat
e54035eda95311f13dd095f87607d97a89b7541afa2a3f68af098f33a5e2e6e5   799680 d20_te.dat
f34a9fefffef04ef1f49b3fb74e3def0010cda27a8577d814dd50604e2f8dc09   399840 d21.dat
b6823aa09638cd59cb168bc24f991b6d4d557d8aea62b0b2a87ee67c21ba5a83   799680 d21_te.dat
";

/// Recorded telemanom files, one per line: SHA-256, size in bytes and path.
const TELEMANOM_PUBLISHED: &str = "\
057ce2d6c8875982bf4e5404aefea14efdcbce413d80826d2b737c95b59b7539     3956 labeled_anomalies.csv
";

fn find_dataset(name: &str) -> Result<&'static Dataset> {
    DATASETS
        .iter()
        .find(|dataset| dataset.name == name)
        .ok_or_else(|| Error::Setting {
            key: "dataset".to_owned(),
            value: name.to_owned(),
            expected: format!("one of the known datasets: {}", NAMES.join(", ")),
        })
}

fn invalid_entity(entity: &str, expected: impl Into<String>) -> Error {
    Error::Setting {
        key: "entities".to_owned(),
        value: entity.to_owned(),
        expected: expected.into(),
    }
}

fn smd_paths(entities: &[String]) -> Result<Vec<String>> {
    let mut machines: Vec<&str> = Vec::new();
    if entities.is_empty() {
        machines.extend(SMD_MACHINES);
    }
    for entity in entities {
        let machine = SMD_MACHINES
            .iter()
            .find(|machine| **machine == entity.as_str())
            .ok_or_else(|| {
                invalid_entity(
                    entity,
                    "an SMD machine: machine-1-1 to machine-1-8, machine-2-1 to machine-2-9 \
                     or machine-3-1 to machine-3-11",
                )
            })?;
        if !machines.contains(machine) {
            machines.push(machine);
        }
    }
    let paths = machines
        .iter()
        .flat_map(|machine| {
            SMD_FOLDERS
                .iter()
                .map(move |folder| format!("{folder}/{machine}.txt"))
        })
        .collect();
    Ok(paths)
}

fn tep_paths(entities: &[String]) -> Result<Vec<String>> {
    let mut runs = BTreeSet::new();
    if entities.is_empty() {
        runs.extend(0..=TEP_LAST_FAULT);
    } else {
        runs.insert(0);
    }
    for entity in entities {
        runs.insert(parse_fault(entity)?);
    }
    let paths = runs
        .iter()
        .flat_map(|run| [format!("d{run:02}.dat"), format!("d{run:02}_te.dat")])
        .collect();
    Ok(paths)
}

/// Parses a TEP fault number written as `1`, `01` or `d01`.
fn parse_fault(entity: &str) -> Result<u32> {
    let digits = entity.strip_prefix('d').unwrap_or(entity);
    let valid = (1..=2).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| digits.parse::<u32>().ok())
        .flatten()
        .filter(|fault| *fault <= TEP_LAST_FAULT)
        .ok_or_else(|| invalid_entity(entity, "a TEP fault number from 00 to 21, such as 01"))
}

// ---------------------------------------------------------------------------------------------
// HTTP downloads

struct Client {
    agent: ureq::Agent,
    base_url: Option<String>,
    retries: u32,
}

impl Client {
    fn new(options: &FetchOptions) -> Result<Self> {
        let base_url = options
            .base_url
            .as_deref()
            .map(str::trim)
            .map(str::to_owned);
        if let Some(base) = &base_url
            && !(base.starts_with("http://") || base.starts_with("https://"))
        {
            return Err(Error::Setting {
                key: "base_url".to_owned(),
                value: format!("{base:?}"),
                expected: "an http:// or https:// URL".to_owned(),
            });
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_per_read(Some(READ_TIMEOUT));
        // A proxy taken from the environment cannot reach a server on this machine.
        if base_url.as_deref().is_some_and(is_loopback) {
            config = config.proxy(None);
        }
        Ok(Self {
            agent: config.build().into(),
            base_url,
            retries: options.retries,
        })
    }

    /// Builds the URL of `path` below the mirror base URL, or below `publisher_base` when no
    /// mirror is set.
    fn url(&self, publisher_base: &str, path: &str) -> String {
        let base = self.base_url.as_deref().unwrap_or(publisher_base);
        format!("{}/{path}", base.trim_end_matches('/'))
    }

    fn request_failure(&self, error: &ureq::Error) -> String {
        let check = if self.base_url.is_some() {
            "check the network connection and the base URL"
        } else {
            "check the network connection"
        };
        format!("the request failed ({error}); {check}, then run fetch again")
    }

    fn status_failure(&self, status: ureq::http::StatusCode) -> String {
        let fix = match status.as_u16() {
            404 | 410 if self.base_url.is_some() => {
                "check that the base URL serves the publisher's file names"
            }
            404 | 410 => {
                "the publisher may have moved the file; a mirror that serves the same file \
                 names can be set as the base URL"
            }
            429 | 500..=599 => "the server is failing or busy; try again later",
            _ => "check the URL, or try again later",
        };
        let reason = status.canonical_reason().unwrap_or("");
        format!(
            "the server returned HTTP {} {reason}; {fix}",
            status.as_u16()
        )
    }
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .unwrap_or("")
            .trim_start_matches('[')
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn download_error(url: &str, message: impl Into<String>) -> Error {
    Error::Download {
        url: url.to_owned(),
        message: message.into(),
    }
}

/// A file to download into a folder that has its own `SHA256SUMS`.
struct Target<'a> {
    url: String,
    dir: &'a Path,
    /// Path below `dir`, as written in `SHA256SUMS`.
    path: String,
    published: Option<PublishedFile>,
}

/// Digest that a file must have, and where it was recorded.
struct Expected {
    sha256: String,
    size: Option<u64>,
    source: DigestSource,
}

enum DigestSource {
    /// The manifest of this module.
    Manifest,
    /// `SHA256SUMS` at this path, written when the file was first fetched.
    Checksums(PathBuf),
}

impl Expected {
    fn for_file(
        published: Option<PublishedFile>,
        sums: &Checksums,
        path: &str,
    ) -> Option<Expected> {
        if let Some(file) = published {
            return Some(Expected {
                sha256: file.sha256.to_owned(),
                size: Some(file.size),
                source: DigestSource::Manifest,
            });
        }
        sums.get(path).map(|digest| Expected {
            sha256: digest.to_owned(),
            size: None,
            source: DigestSource::Checksums(sums.file.clone()),
        })
    }

    /// Describes the expected digest as a clause, such as "this program records SHA-256 …".
    fn describe(&self) -> String {
        let size = self
            .size
            .map(|size| format!(" ({size} bytes)"))
            .unwrap_or_default();
        match &self.source {
            DigestSource::Manifest => format!(
                "this program records SHA-256 {}{size} for the publisher's file",
                self.sha256
            ),
            DigestSource::Checksums(file) => format!(
                "{} records SHA-256 {} from an earlier fetch",
                file.display(),
                self.sha256
            ),
        }
    }

    /// Tells the user how to proceed after a digest mismatch.
    fn fix(&self) -> String {
        match &self.source {
            DigestSource::Manifest => "if a base URL is set, check that it serves unmodified \
                                       copies of the publisher's files; otherwise try again \
                                       later, and if the publisher has changed the file, the \
                                       digest recorded in this program needs an update"
                .to_owned(),
            DigestSource::Checksums(file) => format!(
                "if the publisher has changed the file, delete its line from {} and run fetch \
                 again; otherwise check the base URL or try again later",
                file.display()
            ),
        }
    }
}

/// Brings one file into place: skips it when present with the expected digest, and downloads it
/// otherwise.
fn fetch_file(
    client: &Client,
    target: &Target,
    sums: &mut Checksums,
    summary: &mut FetchSummary,
) -> Result<()> {
    let expected = Expected::for_file(target.published, sums, &target.path);
    if target.published.is_none() {
        summary.unverified += 1;
    }
    if keep_present(target.dir, &target.path, expected.as_ref(), sums, summary)? {
        return Ok(());
    }
    let dest = target.dir.join(&target.path);
    create_parent(&dest)?;
    let (digest, bytes) = download_verified(client, &target.url, &dest, expected.as_ref())?;
    summary.downloaded += 1;
    summary.bytes += bytes;
    if target.published.is_some() {
        info!(file = %dest.display(), bytes, "downloaded and verified");
    } else if expected.is_some() {
        info!(
            file = %dest.display(),
            bytes,
            "downloaded; matches the digest recorded at an earlier fetch"
        );
    } else {
        warn!(
            file = %dest.display(),
            url = %target.url,
            "downloaded, but this program records no digest for this file, so it is not \
             verified; its SHA-256 {digest} is recorded in {} to detect later changes",
            sums.file.display()
        );
    }
    sums.record(&target.path, &digest)
}

/// Checks a file already in place against its expected digest. Returns true when the file is
/// kept, and false when it is missing or changed and must be fetched.
fn keep_present(
    dir: &Path,
    path: &str,
    expected: Option<&Expected>,
    sums: &mut Checksums,
    summary: &mut FetchSummary,
) -> Result<bool> {
    let file = dir.join(path);
    if !file.is_file() {
        return Ok(false);
    }
    let (digest, _) = sha256_file(&file)?;
    match expected {
        Some(expected) if expected.sha256 == digest => {
            let checked = match expected.source {
                DigestSource::Manifest => "verified",
                DigestSource::Checksums(_) => "matches the digest recorded at an earlier fetch",
            };
            info!(file = %file.display(), "already present and {checked}; skipped");
            remove_if_present(&part_path(&file))?;
            sums.record(path, &digest)?;
            summary.skipped += 1;
            Ok(true)
        }
        Some(expected) => {
            warn!(
                file = %file.display(),
                "present with SHA-256 {digest}, but {}; fetching it again",
                expected.describe()
            );
            Ok(false)
        }
        None => {
            warn!(
                file = %file.display(),
                "already present, but there is no digest to verify it against; keeping it and \
                 recording its SHA-256 {digest} in {}",
                sums.file.display()
            );
            sums.record(path, &digest)?;
            summary.skipped += 1;
            Ok(true)
        }
    }
}

/// Downloads `url` to `dest` through `<dest>.part` and returns the file's SHA-256 digest and the
/// number of bytes received. On a digest mismatch it deletes the `.part` and downloads the file
/// once more from the start.
fn download_verified(
    client: &Client,
    url: &str,
    dest: &Path,
    expected: Option<&Expected>,
) -> Result<(String, u64)> {
    let part = part_path(dest);
    let mut received = 0;
    let mut first_round = true;
    loop {
        received += transfer(client, url, &part, expected.and_then(|e| e.size))?;
        let (digest, size) = sha256_file(&part)?;
        let expected = match expected {
            Some(expected) if expected.sha256 != digest => expected,
            _ => {
                fs::rename(&part, dest).map_err(|e| Error::io(dest, e))?;
                return Ok((digest, received));
            }
        };
        remove_if_present(&part)?;
        if first_round {
            warn!(
                url,
                "received SHA-256 {digest} ({size} bytes), but {}; downloading the file again \
                 from the start",
                expected.describe()
            );
            first_round = false;
            continue;
        }
        return Err(download_error(
            url,
            format!(
                "the file received twice has SHA-256 {digest} ({size} bytes), but {}; {}",
                expected.describe(),
                expected.fix()
            ),
        ));
    }
}

/// Outcome of one HTTP request of a transfer.
enum Attempt {
    /// The response body ended at the length that the server declared. Contains the number of
    /// bytes received.
    Complete(u64),
    /// The connection closed or failed before the end of the body. The bytes received stay in
    /// the `.part` file.
    CutShort { received: u64, reason: String },
    /// The `.part` cannot be resumed and must be deleted.
    Restart(String),
}

/// Transfers `url` into `part`, resuming from the bytes already in it, and returns the number
/// of bytes received. Transfers cut short and failed resumptions are retried `client.retries`
/// times.
fn transfer(client: &Client, url: &str, part: &Path, known_size: Option<u64>) -> Result<u64> {
    let mut received = 0;
    let mut failures = 0;
    loop {
        let offset = file_len(part)?;
        let reason = match transfer_once(client, url, part, offset, known_size)? {
            Attempt::Complete(bytes) => return Ok(received + bytes),
            Attempt::CutShort {
                received: bytes,
                reason,
            } => {
                received += bytes;
                reason
            }
            Attempt::Restart(reason) => {
                remove_if_present(part)?;
                reason
            }
        };
        failures += 1;
        if failures > client.retries {
            let next_step = if file_len(part)? > 0 {
                format!(
                    "the partial file {} is kept, so running fetch again resumes it",
                    part.display()
                )
            } else {
                "run fetch again later".to_owned()
            };
            return Err(download_error(
                url,
                format!(
                    "the transfer failed {failures} times, the last time because {reason}; \
                     {next_step}"
                ),
            ));
        }
        warn!(
            url,
            "transfer interrupted because {reason}; retrying ({failures} of {})", client.retries
        );
    }
}

fn transfer_once(
    client: &Client,
    url: &str,
    part: &Path,
    offset: u64,
    known_size: Option<u64>,
) -> Result<Attempt> {
    let mut request = client.agent.get(url);
    if offset > 0 {
        request = request.header("Range", format!("bytes={offset}-"));
    }
    let mut response = request
        .call()
        .map_err(|e| download_error(url, client.request_failure(&e)))?;
    let status = response.status();
    let content_range = response
        .headers()
        .get("content-range")
        .and_then(|value| value.to_str().ok())
        .and_then(ContentRange::parse);
    let content_length = response.body().content_length();

    let (file, start, total) = match status.as_u16() {
        200 => {
            if offset > 0 {
                info!(
                    url,
                    "the server ignored the Range request and sent the whole file; starting \
                     over from byte 0"
                );
            }
            (File::create(part), 0, content_length)
        }
        206 => {
            let Some(range) = content_range else {
                return Ok(Attempt::Restart(
                    "a 206 response had no valid Content-Range header".to_owned(),
                ));
            };
            if range.start != Some(offset) {
                let resumed = range.start.map_or_else(
                    || "an unknown byte".to_owned(),
                    |start| format!("byte {start}"),
                );
                return Ok(Attempt::Restart(format!(
                    "the server resumed at {resumed} instead of byte {offset}"
                )));
            }
            let file = OpenOptions::new().create(true).append(true).open(part);
            (file, offset, range.total)
        }
        416 => {
            let total = content_range.and_then(|range| range.total).or(known_size);
            if total == Some(offset) {
                return Ok(Attempt::Complete(0));
            }
            return Ok(Attempt::Restart(format!(
                "the server rejected the range starting at byte {offset}"
            )));
        }
        _ => return Err(download_error(url, client.status_failure(status))),
    };
    let mut file = file.map_err(|e| Error::io(part, e))?;

    let file_name = url.rsplit('/').next().unwrap_or(url);
    let span = info_span!("download", file = file_name);
    span.pb_set_style(
        &ProgressStyle::with_template("{msg} {bytes}/{total_bytes} [{bytes_per_sec}, eta {eta}]")
            .expect("the progress template is valid"),
    );
    span.pb_set_message(file_name);
    if let Some(total) = total {
        span.pb_set_length(total);
    }
    span.pb_set_position(start);
    let _entered = span.enter();

    let mut reader = response.body_mut().as_reader();
    let mut buffer = vec![0; BUFFER_SIZE];
    let mut received = 0;
    let failure = loop {
        match reader.read(&mut buffer) {
            Ok(0) => break None,
            Ok(n) => {
                file.write_all(&buffer[..n])
                    .map_err(|e| Error::io(part, e))?;
                received += n as u64;
                span.pb_inc(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    file.sync_all().map_err(|e| Error::io(part, e))?;

    let end = start + received;
    if let Some(reason) = failure {
        let reason = format!("the connection failed at byte {end} ({reason})");
        return Ok(Attempt::CutShort { received, reason });
    }
    if let Some(total) = total
        && end < total
    {
        let reason = format!("the connection closed at byte {end} of {total}");
        return Ok(Attempt::CutShort { received, reason });
    }
    Ok(Attempt::Complete(received))
}

/// Parsed `Content-Range` header: `bytes <start>-<end>/<total>` or `bytes */<total>`.
struct ContentRange {
    start: Option<u64>,
    total: Option<u64>,
}

impl ContentRange {
    fn parse(value: &str) -> Option<Self> {
        let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
        let total = match total.trim() {
            "*" => None,
            total => Some(total.parse().ok()?),
        };
        let start = match range.trim() {
            "*" => None,
            range => Some(range.split_once('-')?.0.parse().ok()?),
        };
        Some(Self { start, total })
    }
}

// ---------------------------------------------------------------------------------------------
// MSL and SMAP from the telemanom archive

fn fetch_telemanom(
    client: &Client,
    dataset: &Dataset,
    spacecraft: &str,
    data_root: &Path,
    entities: &[String],
    summary: &mut FetchSummary,
) -> Result<()> {
    let dir = data_root.join(dataset.name);
    let mut sums = Checksums::load(&dir)?;
    let labels = Target {
        url: client.url(TELEMANOM_LABELS_BASE, TELEMANOM_LABELS),
        dir: &dir,
        path: TELEMANOM_LABELS.to_owned(),
        published: dataset.published_file(TELEMANOM_LABELS),
    };
    fetch_file(client, &labels, &mut sums, summary)?;

    let labels_file = dir.join(TELEMANOM_LABELS);
    let channels = read_channels(&labels_file, spacecraft)?;
    let duplicates: BTreeSet<String> = channels
        .duplicates
        .intersection(&channels.own)
        .cloned()
        .collect();
    if !duplicates.is_empty() {
        warn!(
            file = %labels_file.display(),
            "{spacecraft} channels listed more than once: {}; their files are fetched once",
            join(&duplicates)
        );
    }
    let selected = select_channels(&channels.own, entities, spacecraft)?;

    let mut needed = BTreeSet::new();
    for path in channel_paths(&selected) {
        let expected = Expected::for_file(None, &sums, &path);
        if keep_present(&dir, &path, expected.as_ref(), &mut sums, summary)? {
            summary.unverified += 1;
        } else {
            needed.insert(path);
        }
    }
    if needed.is_empty() {
        return Ok(());
    }

    let downloads = data_root.join(DOWNLOADS_DIR);
    let mut archive_sums = Checksums::load(&downloads)?;
    let archive = Target {
        url: client.url(TELEMANOM_ARCHIVE_BASE, "data.zip"),
        dir: &downloads,
        path: TELEMANOM_ARCHIVE.to_owned(),
        published: None,
    };
    fetch_file(client, &archive, &mut archive_sums, summary)?;
    let archive_file = downloads.join(TELEMANOM_ARCHIVE);
    let extracted = match extract_channels(&archive_file, &needed, &channels.all, &dir, &mut sums) {
        Ok(extracted) => extracted,
        Err(e) => {
            // The archive passed no digest check, so a damaged or incomplete one must not be
            // trusted by the next fetch: forget it and its recorded digest.
            archive_sums.forget(TELEMANOM_ARCHIVE)?;
            remove_if_present(&archive_file)?;
            return Err(e);
        }
    };
    summary.extracted += extracted;
    summary.unverified += extracted;
    Ok(())
}

/// Channels listed in `labeled_anomalies.csv`.
struct ChannelList {
    /// Channels of the requested spacecraft.
    own: BTreeSet<String>,
    /// Channels of every spacecraft.
    all: BTreeSet<String>,
    /// Channels listed in more than one row.
    duplicates: BTreeSet<String>,
}

/// Reads the channel ids of `spacecraft` from `labeled_anomalies.csv`, whose first columns are
/// `chan_id,spacecraft`.
fn read_channels(path: &Path, spacecraft: &str) -> Result<ChannelList> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines().enumerate();
    let header = lines
        .next()
        .map(|(_, line)| super::telemanom::split_csv(line))
        .unwrap_or_default();
    let column = |name: &str| {
        header
            .iter()
            .position(|field| field.trim() == name)
            .ok_or_else(|| {
                Error::data(
                    path,
                    Some(1),
                    format!("the header has no `{name}` column; delete the file and fetch again"),
                )
            })
    };
    let channel_column = column("chan_id")?;
    let spacecraft_column = column("spacecraft")?;

    let mut channels = ChannelList {
        own: BTreeSet::new(),
        all: BTreeSet::new(),
        duplicates: BTreeSet::new(),
    };
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields = super::telemanom::split_csv(line);
        let (Some(channel), Some(owner)) =
            (fields.get(channel_column), fields.get(spacecraft_column))
        else {
            return Err(Error::data(
                path,
                Some(index + 1),
                "the row has fewer columns than the header; delete the file and fetch again",
            ));
        };
        let channel = channel.trim();
        if !is_channel_name(channel) {
            return Err(Error::data(
                path,
                Some(index + 1),
                format!(
                    "invalid chan_id `{channel}`: expected letters, digits, `-` or `_`; \
                     delete the file and fetch again"
                ),
            ));
        }
        if !channels.all.insert(channel.to_owned()) {
            channels.duplicates.insert(channel.to_owned());
        }
        if owner.trim() == spacecraft {
            channels.own.insert(channel.to_owned());
        }
    }
    Ok(channels)
}

/// Checks that a channel id such as `C-1` or `P-10` contains only letters, digits, `-` and `_`,
/// because it becomes a file name.
fn is_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

fn select_channels(
    own: &BTreeSet<String>,
    entities: &[String],
    spacecraft: &str,
) -> Result<BTreeSet<String>> {
    if entities.is_empty() {
        return Ok(own.clone());
    }
    entities
        .iter()
        .map(|entity| {
            if own.contains(entity) {
                Ok(entity.clone())
            } else {
                let example = own.first().map(String::as_str).unwrap_or("C-1");
                Err(invalid_entity(
                    entity,
                    format!(
                        "a {spacecraft} channel listed in labeled_anomalies.csv, such as {example}"
                    ),
                ))
            }
        })
        .collect()
}

fn channel_paths(channels: &BTreeSet<String>) -> Vec<String> {
    channels
        .iter()
        .flat_map(|channel| ["train", "test"].map(|folder| format!("{folder}/{channel}.npy")))
        .collect()
}

/// Extracts the `needed` paths (`train/<channel>.npy`, `test/<channel>.npy`) from the archive
/// into `dir` and returns how many were extracted.
///
/// Members match by the last two parts of their name, so a leading folder such as `data/` is
/// allowed. When several members match one path, the one with the fewest folders is extracted.
fn extract_channels(
    archive_path: &Path,
    needed: &BTreeSet<String>,
    listed: &BTreeSet<String>,
    dir: &Path,
    sums: &mut Checksums,
) -> Result<usize> {
    let archive_error = |message: String| {
        Error::data(
            archive_path,
            None,
            format!(
                "{message}. The archive is deleted, so running fetch again downloads it anew; if \
                 this repeats, check the base URL"
            ),
        )
    };
    let file = File::open(archive_path).map_err(|e| Error::io(archive_path, e))?;
    let mut archive = zip::ZipArchive::new(file)
        .map_err(|e| archive_error(format!("not a readable zip archive ({e})")))?;

    // Member index and name chosen for each needed path.
    let mut chosen: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut unlisted = BTreeSet::new();
    for index in 0..archive.len() {
        let member = archive
            .by_index_raw(index)
            .map_err(|e| archive_error(format!("cannot read member {index} ({e})")))?;
        let name = member
            .name()
            .map_err(|e| archive_error(format!("cannot read the name of member {index} ({e})")))?
            .into_owned();
        if is_unsafe_member_name(&name) || member.enclosed_name().is_none() {
            return Err(archive_error(format!(
                "member `{name}` has an absolute path or a `..` component, which could write \
                 outside the data folder"
            )));
        }
        if member.is_dir() || member.is_symlink() {
            continue;
        }
        let Some((folder, channel)) = channel_member(&name) else {
            continue;
        };
        if !listed.contains(channel) {
            unlisted.insert(channel.to_owned());
            continue;
        }
        let path = format!("{folder}/{channel}.npy");
        if !needed.contains(&path) {
            continue;
        }
        match chosen.get(&path) {
            None => {
                chosen.insert(path, (index, name));
            }
            Some((_, earlier)) => {
                let (preferred, ignored) = if folder_depth(&name) < folder_depth(earlier) {
                    (name.clone(), earlier.clone())
                } else {
                    (earlier.clone(), name.clone())
                };
                warn!(
                    archive = %archive_path.display(),
                    "members `{preferred}` and `{ignored}` both contain {path}; extracting `{preferred}`"
                );
                if preferred == name {
                    chosen.insert(path, (index, name));
                }
            }
        }
    }

    for (path, (index, name)) in &chosen {
        let mut member = archive
            .by_index(*index)
            .map_err(|e| archive_error(format!("cannot read member `{name}` ({e})")))?;
        extract_member(&mut member, name, archive_path, dir, path, sums)?;
    }
    let absent: BTreeSet<String> = needed
        .iter()
        .filter(|path| !chosen.contains_key(*path))
        .cloned()
        .collect();
    if !absent.is_empty() {
        return Err(archive_error(format!(
            "the archive has no member for {} of the {} files needed ({}), so it is incomplete \
             or from another release; the {} files found were extracted to {}",
            absent.len(),
            needed.len(),
            join(&absent),
            chosen.len(),
            dir.display()
        )));
    }
    if !unlisted.is_empty() {
        info!(
            archive = %archive_path.display(),
            "left out channels that labeled_anomalies.csv does not list, so their spacecraft is \
             unknown: {}",
            join(&unlisted)
        );
    }
    Ok(chosen.len())
}

fn folder_depth(name: &str) -> usize {
    name.matches(['/', '\\']).count()
}

fn is_unsafe_member_name(name: &str) -> bool {
    let has_drive = name.as_bytes().get(1) == Some(&b':');
    name.starts_with(['/', '\\'])
        || has_drive
        || name.contains('\0')
        || name.split(['/', '\\']).any(|part| part == "..")
}

/// Splits a member name ending in `train/<channel>.npy` or `test/<channel>.npy` into the folder
/// and the channel.
fn channel_member(name: &str) -> Option<(&str, &str)> {
    let mut parts = name.rsplit(['/', '\\']);
    let channel = parts.next()?.strip_suffix(".npy")?;
    let folder = parts.next()?;
    let valid = (folder == "train" || folder == "test") && is_channel_name(channel);
    valid.then_some((folder, channel))
}

/// Writes one archive member to `<dir>/<path>` through a `.part` file and records its digest.
fn extract_member(
    member: &mut impl Read,
    name: &str,
    archive_path: &Path,
    dir: &Path,
    path: &str,
    sums: &mut Checksums,
) -> Result<()> {
    let dest = dir.join(path);
    create_parent(&dest)?;
    let part = part_path(&dest);
    let mut file = File::create(&part).map_err(|e| Error::io(&part, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; BUFFER_SIZE];
    loop {
        let n = match member.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                remove_if_present(&part)?;
                return Err(Error::data(
                    archive_path,
                    None,
                    format!(
                        "cannot extract member `{name}` ({e}); delete the archive and run \
                         fetch again"
                    ),
                ));
            }
        };
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n])
            .map_err(|e| Error::io(&part, e))?;
    }
    file.sync_all().map_err(|e| Error::io(&part, e))?;
    let digest = format!("{:x}", hasher.finalize());

    if let Some(recorded) = sums.get(path)
        && recorded != digest
    {
        let message = format!(
            "member `{name}` has SHA-256 {digest}, but {} records {recorded} for {path} from \
             an earlier fetch; if the publisher has changed the archive, delete that line and \
             run fetch again",
            sums.file.display()
        );
        remove_if_present(&part)?;
        return Err(Error::data(archive_path, None, message));
    }
    fs::rename(&part, &dest).map_err(|e| Error::io(&dest, e))?;
    info!(
        file = %dest.display(),
        "extracted, not verified because the archive has no recorded digest"
    );
    sums.record(path, &digest)
}

// ---------------------------------------------------------------------------------------------
// Local files

/// Digests of the files in one folder, stored in its `SHA256SUMS` in `sha256sum` format.
struct Checksums {
    file: PathBuf,
    digests: BTreeMap<String, String>,
}

impl Checksums {
    fn load(dir: &Path) -> Result<Self> {
        let file = dir.join(CHECKSUMS_FILE);
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io(&file, e)),
        };
        let mut digests = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            // `sha256sum` writes `<digest>  <path>`, or `<digest> *<path>` in binary mode.
            let entry = line.split_once(' ').and_then(|(digest, rest)| {
                let path = rest.strip_prefix([' ', '*'])?;
                let valid = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
                (valid && !path.is_empty()).then_some((digest, path))
            });
            let Some((digest, path)) = entry else {
                return Err(Error::data(
                    &file,
                    Some(index + 1),
                    "expected `<64 hex digits>  <path>`; correct or delete the line",
                ));
            };
            digests.insert(path.to_owned(), digest.to_ascii_lowercase());
        }
        Ok(Self { file, digests })
    }

    fn get(&self, path: &str) -> Option<&str> {
        self.digests.get(path).map(String::as_str)
    }

    /// Stores the digest of `path` and rewrites the file when the digest is new.
    fn record(&mut self, path: &str, digest: &str) -> Result<()> {
        if self.get(path) == Some(digest) {
            return Ok(());
        }
        self.digests.insert(path.to_owned(), digest.to_owned());
        self.save()
    }

    /// Removes the digest recorded for `path`, if any.
    fn forget(&mut self, path: &str) -> Result<()> {
        if self.digests.remove(path).is_none() {
            return Ok(());
        }
        self.save()
    }

    fn save(&self) -> Result<()> {
        let text: String = self
            .digests
            .iter()
            .map(|(path, digest)| format!("{digest}  {path}\n"))
            .collect();
        create_parent(&self.file)?;
        let temporary = part_path(&self.file);
        fs::write(&temporary, text).map_err(|e| Error::io(&temporary, e))?;
        fs::rename(&temporary, &self.file).map_err(|e| Error::io(&self.file, e))
    }
}

/// Returns the lowercase hex SHA-256 digest of a file and its size in bytes.
fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; BUFFER_SIZE];
    let mut size = 0;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((format!("{:x}", hasher.finalize()), size))
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Returns the size of a file, or 0 when it does not exist.
fn file_len(path: &Path) -> Result<u64> {
    match fs::metadata(path) {
        Ok(metadata) => Ok(metadata.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn create_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(|e| Error::io(parent, e)),
        None => Ok(()),
    }
}

fn join(names: &BTreeSet<String>) -> String {
    names
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Cursor};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::thread;

    use super::*;

    /// Ways in which the test server misbehaves for one path.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fault {
        /// Serves the file with one byte changed, on every request.
        Corrupt,
        /// Serves the file with one byte changed, on the next request only.
        CorruptOnce,
        /// Sends the full Content-Length but closes the connection after half of the body, on
        /// the next `n` requests.
        Truncate(usize),
        /// Responds to requests that carry a Range header with 200 and the whole file.
        IgnoreRange,
    }

    /// One request as the test server received it.
    #[derive(Debug, Clone)]
    struct Logged {
        path: String,
        range: Option<String>,
        status: u16,
    }

    #[derive(Default)]
    struct ServerState {
        files: HashMap<String, Vec<u8>>,
        faults: HashMap<String, Fault>,
        log: Vec<Logged>,
    }

    /// HTTP/1.1 server on 127.0.0.1 that serves files from memory, one request per connection.
    struct TestServer {
        base_url: String,
        address: std::net::SocketAddr,
        state: Arc<Mutex<ServerState>>,
        stop: Arc<AtomicBool>,
    }

    impl TestServer {
        fn start(files: HashMap<String, Vec<u8>>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind the test server");
            let address = listener.local_addr().expect("read the test server address");
            let state = Arc::new(Mutex::new(ServerState {
                files,
                ..ServerState::default()
            }));
            let stop = Arc::new(AtomicBool::new(false));
            let (shared, stopped) = (Arc::clone(&state), Arc::clone(&stop));
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&shared);
                    thread::spawn(move || serve(stream, &state));
                }
            });
            Self {
                base_url: format!("http://{address}"),
                address,
                state,
                stop,
            }
        }

        fn set_fault(&self, path: &str, fault: Option<Fault>) {
            let mut state = self.state.lock().unwrap();
            match fault {
                Some(fault) => state.faults.insert(path.to_owned(), fault),
                None => state.faults.remove(path),
            };
        }

        fn set_file(&self, path: &str, bytes: Vec<u8>) {
            self.state
                .lock()
                .unwrap()
                .files
                .insert(path.to_owned(), bytes);
        }

        fn requests(&self, path: &str) -> Vec<Logged> {
            let state = self.state.lock().unwrap();
            state
                .log
                .iter()
                .filter(|entry| entry.path == path)
                .cloned()
                .collect()
        }

        fn request_count(&self) -> usize {
            self.state.lock().unwrap().log.len()
        }

        fn options(&self, entities: &[&str]) -> FetchOptions {
            FetchOptions {
                base_url: Some(self.base_url.clone()),
                entities: entities.iter().map(|e| (*e).to_owned()).collect(),
                retries: DEFAULT_RETRIES,
            }
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            // Wakes the accept loop so that it reads the stop flag.
            let _ = TcpStream::connect(self.address);
        }
    }

    fn serve(mut stream: TcpStream, state: &Mutex<ServerState>) {
        let Ok(clone) = stream.try_clone() else {
            return;
        };
        let mut reader = BufReader::new(clone);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .trim_start_matches('/')
            .to_owned();

        let mut range = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("range")
            {
                range = Some(value.trim().to_owned());
            }
        }

        let (head, body, sent) = respond(state, path, range);
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&body[..sent]);
        let _ = stream.flush();
        let _ = stream.shutdown(Shutdown::Write);
    }

    /// Builds the response head, the body and the number of body bytes to send.
    fn respond(
        state: &Mutex<ServerState>,
        path: String,
        range: Option<String>,
    ) -> (String, Vec<u8>, usize) {
        let mut state = state.lock().unwrap();
        let fault = state.faults.get(&path).copied();
        let Some(mut content) = state.files.get(&path).cloned() else {
            state.log.push(Logged {
                path,
                range,
                status: 404,
            });
            let body = b"not found".to_vec();
            let head = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let sent = body.len();
            return (head, body, sent);
        };

        if matches!(fault, Some(Fault::Corrupt | Fault::CorruptOnce)) {
            let middle = content.len() / 2;
            content[middle] ^= 0xff;
            if fault == Some(Fault::CorruptOnce) {
                state.faults.remove(&path);
            }
        }

        let start = range
            .as_deref()
            .filter(|_| fault != Some(Fault::IgnoreRange))
            .and_then(|value| value.strip_prefix("bytes="))
            .and_then(|value| value.strip_suffix('-'))
            .and_then(|value| value.parse::<usize>().ok());
        let length = content.len();
        let (status, extra, body) = match start {
            Some(start) if start >= length => (
                "416 Range Not Satisfiable",
                format!("Content-Range: bytes */{length}\r\n"),
                Vec::new(),
            ),
            Some(start) => (
                "206 Partial Content",
                format!("Content-Range: bytes {start}-{}/{length}\r\n", length - 1),
                content[start..].to_vec(),
            ),
            None => ("200 OK", String::new(), content),
        };

        let mut sent = body.len();
        if let Some(Fault::Truncate(times)) = fault
            && !body.is_empty()
        {
            sent = body.len() / 2;
            if times > 1 {
                state
                    .faults
                    .insert(path.clone(), Fault::Truncate(times - 1));
            } else {
                state.faults.remove(&path);
            }
        }

        state.log.push(Logged {
            path,
            range,
            status: status[..3].parse().unwrap(),
        });
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
            body.len()
        );
        (head, body, sent)
    }

    /// Returns the folder of the public dataset copies, or None after printing why the calling
    /// test does not run.
    fn dataset_copies() -> Option<PathBuf> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets");
        if path.is_dir() {
            Some(path)
        } else {
            eprintln!(
                "skipped: the dataset copies at {} are absent",
                path.display()
            );
            None
        }
    }

    /// Reads the 4 TEP files of fault 01 and of the normal run, keyed by their URL path.
    fn tep_fault_01(copies: &Path) -> HashMap<String, Vec<u8>> {
        ["d00.dat", "d00_te.dat", "d01.dat", "d01_te.dat"]
            .into_iter()
            .map(|name| {
                let bytes = fs::read(copies.join("tep").join(name)).unwrap();
                (name.to_owned(), bytes)
            })
            .collect()
    }

    fn download_message(error: &Error) -> (String, String) {
        match error {
            Error::Download { url, message } => (url.clone(), message.clone()),
            other => panic!("expected a download error, got: {other}"),
        }
    }

    #[test]
    fn second_fetch_into_the_same_folder_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("tep");
        fs::create_dir_all(&dir).unwrap();
        let _lock = ResultsLock::acquire(&dir).unwrap();
        let options = FetchOptions {
            base_url: Some("http://127.0.0.1:9".into()),
            ..FetchOptions::default()
        };
        let err = fetch("tep", root.path(), &options).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(err.to_string().contains("is in use by process"), "{err}");
    }

    #[test]
    fn tep_fault_fetch_verifies_files() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let files = tep_fault_01(&copies);
        let server = TestServer::start(files.clone());
        let root = tempfile::tempdir().unwrap();

        let summary = fetch("tep", root.path(), &server.options(&["01"])).unwrap();

        assert_eq!(summary.downloaded, 4);
        assert_eq!(summary.skipped, 0);
        assert_eq!(summary.unverified, 0);
        let total: usize = files.values().map(Vec::len).sum();
        assert_eq!(summary.bytes, total as u64);
        for (name, bytes) in &files {
            let dest = root.path().join("tep").join(name);
            assert_eq!(&fs::read(&dest).unwrap(), bytes, "{name}");
            assert!(!part_path(&dest).exists(), "{name}.part is left over");
        }
        let sums = fs::read_to_string(root.path().join("tep").join(CHECKSUMS_FILE)).unwrap();
        assert_eq!(sums.lines().count(), 4);
        let d00 = published_files(TEP_PUBLISHED).next().unwrap();
        assert!(
            sums.contains(&format!("{}  {}\n", d00.sha256, d00.path)),
            "{sums}"
        );
    }

    #[test]
    fn second_fetch_skips_present_files() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let server = TestServer::start(tep_fault_01(&copies));
        let root = tempfile::tempdir().unwrap();
        let options = server.options(&["1"]);
        fetch("tep", root.path(), &options).unwrap();
        let requests = server.request_count();

        let summary = fetch("tep", root.path(), &options).unwrap();

        assert_eq!(summary.downloaded, 0);
        assert_eq!(summary.skipped, 4);
        assert_eq!(summary.bytes, 0);
        assert_eq!(
            server.request_count(),
            requests,
            "the second fetch sent requests"
        );
    }

    #[test]
    fn corrupted_file_fails_checksum() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let server = TestServer::start(tep_fault_01(&copies));
        server.set_fault("d01.dat", Some(Fault::Corrupt));
        let root = tempfile::tempdir().unwrap();

        let error = fetch("tep", root.path(), &server.options(&["01"])).unwrap_err();

        let (url, message) = download_message(&error);
        assert!(url.ends_with("/d01.dat"), "{url}");
        let published = published_files(TEP_PUBLISHED)
            .find(|f| f.path == "d01.dat")
            .unwrap();
        assert!(message.contains(published.sha256), "{message}");
        assert!(message.contains("base URL"), "{message}");
        let dest = root.path().join("tep/d01.dat");
        assert!(!dest.exists());
        assert!(!part_path(&dest).exists());
        assert_eq!(
            server.requests("d01.dat").len(),
            2,
            "expected one retry from scratch"
        );
    }

    #[test]
    fn corruption_once_is_redone() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let files = tep_fault_01(&copies);
        let server = TestServer::start(files.clone());
        server.set_fault("d01.dat", Some(Fault::CorruptOnce));
        let root = tempfile::tempdir().unwrap();

        let summary = fetch("tep", root.path(), &server.options(&["01"])).unwrap();

        assert_eq!(summary.downloaded, 4);
        let requests = server.requests("d01.dat");
        assert_eq!(requests.len(), 2);
        assert!(requests.iter().all(|r| r.range.is_none()), "{requests:?}");
        let received = fs::read(root.path().join("tep/d01.dat")).unwrap();
        assert_eq!(received, files["d01.dat"]);
    }

    #[test]
    fn truncated_transfer_resumes_with_range() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let files = tep_fault_01(&copies);
        let server = TestServer::start(files.clone());
        server.set_fault("d00_te.dat", Some(Fault::Truncate(2)));
        let root = tempfile::tempdir().unwrap();

        let summary = fetch("tep", root.path(), &server.options(&["01"])).unwrap();

        assert_eq!(summary.downloaded, 4);
        let requests = server.requests("d00_te.dat");
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert_eq!(requests[0].range, None);
        let half = files["d00_te.dat"].len() / 2;
        assert_eq!(
            requests[1].range.as_deref(),
            Some(&*format!("bytes={half}-"))
        );
        assert_eq!(requests[1].status, 206);
        assert_eq!(requests[2].status, 206);
        let received = fs::read(root.path().join("tep/d00_te.dat")).unwrap();
        assert_eq!(received, files["d00_te.dat"]);
    }

    #[test]
    fn truncation_beyond_retries_keeps_part() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let files = tep_fault_01(&copies);
        let server = TestServer::start(files.clone());
        server.set_fault("d00.dat", Some(Fault::Truncate(100)));
        let root = tempfile::tempdir().unwrap();
        let mut options = server.options(&["01"]);
        options.retries = 1;

        let error = fetch("tep", root.path(), &options).unwrap_err();

        let (url, message) = download_message(&error);
        assert!(url.ends_with("/d00.dat"), "{url}");
        assert!(message.contains("failed 2 times"), "{message}");
        let dest = root.path().join("tep/d00.dat");
        let part = part_path(&dest);
        assert!(message.contains(&part.display().to_string()), "{message}");
        assert!(fs::metadata(&part).unwrap().len() > 0);
        assert!(!dest.exists());

        server.set_fault("d00.dat", None);
        fetch("tep", root.path(), &options).unwrap();

        let last = server.requests("d00.dat").pop().unwrap();
        assert!(last.range.is_some(), "the last request did not resume");
        assert_eq!(fs::read(&dest).unwrap(), files["d00.dat"]);
        assert!(!part.exists());
    }

    #[test]
    fn partial_file_resumes_with_range() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let files = tep_fault_01(&copies);
        let server = TestServer::start(files.clone());
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("tep/d01_te.dat");
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        let prefix_len = 1000;
        fs::write(part_path(&dest), &files["d01_te.dat"][..prefix_len]).unwrap();

        let summary = fetch("tep", root.path(), &server.options(&["01"])).unwrap();

        let total: usize = files.values().map(Vec::len).sum();
        assert_eq!(summary.bytes, (total - prefix_len) as u64);
        let requests = server.requests("d01_te.dat");
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].range.as_deref(), Some("bytes=1000-"));
        assert_eq!(requests[0].status, 206);
        assert_eq!(fs::read(&dest).unwrap(), files["d01_te.dat"]);
    }

    #[test]
    fn ignored_range_starts_over() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let files = tep_fault_01(&copies);
        let server = TestServer::start(files.clone());
        server.set_fault("d01.dat", Some(Fault::IgnoreRange));
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("tep/d01.dat");
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        // Bytes that differ from the file, so appending to them would fail the digest check.
        fs::write(part_path(&dest), vec![b'x'; 5000]).unwrap();

        fetch("tep", root.path(), &server.options(&["01"])).unwrap();

        let requests = server.requests("d01.dat");
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(requests[0].range.as_deref(), Some("bytes=5000-"));
        assert_eq!(requests[0].status, 200);
        assert_eq!(fs::read(&dest).unwrap(), files["d01.dat"]);
    }

    #[test]
    fn complete_part_is_verified() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let files = tep_fault_01(&copies);
        let server = TestServer::start(files.clone());
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("tep/d00.dat");
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::write(part_path(&dest), &files["d00.dat"]).unwrap();

        fetch("tep", root.path(), &server.options(&["01"])).unwrap();

        let requests = server.requests("d00.dat");
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].status, 416);
        assert_eq!(fs::read(&dest).unwrap(), files["d00.dat"]);
    }

    #[test]
    fn missing_file_gives_404_error() {
        let server = TestServer::start(HashMap::new());
        let root = tempfile::tempdir().unwrap();

        let error = fetch("tep", root.path(), &server.options(&["01"])).unwrap_err();

        let (url, message) = download_message(&error);
        assert_eq!(url, format!("{}/d00.dat", server.base_url));
        assert!(message.contains("HTTP 404"), "{message}");
        let text = error.to_string();
        assert!(text.contains(&url), "{text}");
        assert!(!root.path().join("tep/d00.dat").exists());
    }

    #[test]
    fn refused_connection_names_url() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let root = tempfile::tempdir().unwrap();
        let options = FetchOptions {
            base_url: Some(format!("http://{address}/mirror/")),
            entities: vec!["01".to_owned()],
            retries: 0,
        };

        let error = fetch("tep", root.path(), &options).unwrap_err();

        let (url, message) = download_message(&error);
        assert_eq!(url, format!("http://{address}/mirror/d00.dat"));
        assert!(message.contains("request failed"), "{message}");
    }

    #[test]
    fn unknown_dataset_lists_known_names() {
        let root = tempfile::tempdir().unwrap();

        let error = fetch("nab", root.path(), &FetchOptions::default()).unwrap_err();

        let text = error.to_string();
        for name in known() {
            assert!(text.contains(name), "{text}");
        }
        assert!(presence("nab", root.path()).is_err());
    }

    #[test]
    fn invalid_entities_are_rejected() {
        let root = tempfile::tempdir().unwrap();
        let cases = [
            ("tep", "22"),
            ("tep", "x1"),
            ("tep", "001"),
            ("smd", "machine-4-1"),
        ];
        for (name, entity) in cases {
            let options = FetchOptions {
                entities: vec![entity.to_owned()],
                ..FetchOptions::default()
            };
            let error = fetch(name, root.path(), &options).unwrap_err();
            assert!(
                matches!(&error, Error::Setting { value, .. } if value == entity),
                "{name} {entity}: {error}"
            );
        }
        let bad_base = FetchOptions {
            base_url: Some("ftp://127.0.0.1/".to_owned()),
            ..FetchOptions::default()
        };
        assert!(matches!(
            fetch("tep", root.path(), &bad_base),
            Err(Error::Setting { .. })
        ));
    }

    #[test]
    fn entity_selection_lists_files() {
        let tep = tep_paths(&["3".to_owned(), "d03".to_owned()]).unwrap();
        assert_eq!(tep, ["d00.dat", "d00_te.dat", "d03.dat", "d03_te.dat"]);
        assert_eq!(tep_paths(&[]).unwrap().len(), 44);
        let smd = smd_paths(&["machine-3-11".to_owned()]).unwrap();
        assert_eq!(smd.len(), 4);
        assert!(smd.contains(&"interpretation_label/machine-3-11.txt".to_owned()));
        assert_eq!(smd_paths(&[]).unwrap().len(), 112);
    }

    #[test]
    fn manifest_matches_known_names() {
        let names: Vec<&str> = DATASETS.iter().map(|dataset| dataset.name).collect();
        assert_eq!(names, known());
        let smd = smd_paths(&[]).unwrap();
        for file in published_files(SMD_PUBLISHED) {
            assert!(smd.contains(&file.path.to_owned()), "{}", file.path);
        }
        let tep: Vec<&str> = published_files(TEP_PUBLISHED).map(|f| f.path).collect();
        assert_eq!(tep_paths(&[]).unwrap(), tep);
    }

    #[test]
    fn digest_tables_parse() {
        let tables = [
            (SMD_PUBLISHED, 24),
            (TEP_PUBLISHED, 44),
            (TELEMANOM_PUBLISHED, 1),
        ];
        for (table, count) in tables {
            assert_eq!(table.lines().count(), count);
            assert_eq!(
                published_files(table).count(),
                count,
                "a line does not parse"
            );
            for file in published_files(table) {
                assert_eq!(file.sha256.len(), 64, "{}", file.path);
                assert!(
                    file.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{}",
                    file.path
                );
            }
        }
    }

    #[test]
    fn digest_tables_match_copies() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let tables = [
            ("smd", SMD_PUBLISHED),
            ("tep", TEP_PUBLISHED),
            ("msl", TELEMANOM_PUBLISHED),
        ];
        for (name, table) in tables {
            for file in published_files(table) {
                let (digest, size) = sha256_file(&copies.join(name).join(file.path)).unwrap();
                assert_eq!(digest, file.sha256, "{name}/{}", file.path);
                assert_eq!(size, file.size, "{name}/{}", file.path);
            }
        }
    }

    #[test]
    fn unverified_machine_is_recorded() {
        let machine_files: HashMap<String, Vec<u8>> = SMD_FOLDERS
            .iter()
            .map(|folder| {
                let path = format!("{folder}/machine-1-1.txt");
                let content = format!("{folder} content\n").into_bytes();
                (path, content)
            })
            .collect();
        let server = TestServer::start(machine_files.clone());
        let root = tempfile::tempdir().unwrap();
        let options = server.options(&["machine-1-1"]);

        let first = fetch("smd", root.path(), &options).unwrap();

        assert_eq!(first.downloaded, 4);
        assert_eq!(first.unverified, 4);
        let sums_file = root.path().join("smd").join(CHECKSUMS_FILE);
        let sums = fs::read_to_string(&sums_file).unwrap();
        let (digest, _) = sha256_file(&root.path().join("smd/train/machine-1-1.txt")).unwrap();
        assert!(
            sums.contains(&format!("{digest}  train/machine-1-1.txt\n")),
            "{sums}"
        );

        let second = fetch("smd", root.path(), &options).unwrap();
        assert_eq!(second.skipped, 4);
        assert_eq!(second.downloaded, 0);

        let train = root.path().join("smd/train/machine-1-1.txt");
        fs::write(&train, "edited\n").unwrap();
        let listed = presence("smd", root.path()).unwrap();
        assert_eq!(listed.changed, ["train/machine-1-1.txt"]);
        assert_eq!(listed.present, 4);
        assert_eq!(listed.verified, 0);
        assert_eq!(listed.expected, Some(112));

        let third = fetch("smd", root.path(), &options).unwrap();
        assert_eq!(third.downloaded, 1);
        assert_eq!(
            fs::read(&train).unwrap(),
            machine_files["train/machine-1-1.txt"]
        );

        // A publisher file that changed since the first fetch no longer matches SHA256SUMS.
        server.set_file("train/machine-1-1.txt", b"republished\n".to_vec());
        fs::remove_file(&train).unwrap();
        let error = fetch("smd", root.path(), &options).unwrap_err();
        let (_, message) = download_message(&error);
        assert!(
            message.contains(&sums_file.display().to_string()),
            "{message}"
        );
        assert!(message.contains(&digest), "{message}");
        assert!(!train.exists());
    }

    #[test]
    fn presence_counts_tep_files() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let server = TestServer::start(tep_fault_01(&copies));
        let root = tempfile::tempdir().unwrap();
        let before = presence("tep", root.path()).unwrap();
        assert_eq!(before.present, 0);
        assert_eq!(before.expected, Some(44));

        fetch("tep", root.path(), &server.options(&["01"])).unwrap();
        let after = presence("tep", root.path()).unwrap();

        assert_eq!(after.path, root.path().join("tep"));
        assert_eq!(after.present, 4);
        assert_eq!(after.verified, 4);
        assert!(after.changed.is_empty());
        assert!(after.source.contains("tennessee-eastman"));
        let msl = presence("msl", root.path()).unwrap();
        assert_eq!(msl.expected, None);
        assert_eq!(msl.present, 0);
    }

    /// Builds a zip archive from (member name, content) pairs, compressed with deflate.
    fn build_zip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in members {
            writer.start_file(name.as_str(), options).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn channel_content(folder: &str, channel: &str) -> Vec<u8> {
        format!("{folder} array of {channel}").into_bytes()
    }

    /// Members for every channel of the CSV, plus an unlisted channel, macOS metadata and a
    /// deeper second copy of `train/C-1.npy` placed first.
    fn telemanom_members(labels: &Path) -> Vec<(String, Vec<u8>)> {
        let mut channels = read_channels(labels, "MSL").unwrap().all;
        channels.insert("T-10".to_owned());
        let mut members = vec![(
            "data/2018-05-19/train/C-1.npy".to_owned(),
            b"deeper copy".to_vec(),
        )];
        for channel in &channels {
            for folder in ["train", "test"] {
                let name = format!("data/{folder}/{channel}.npy");
                members.push((name, channel_content(folder, channel)));
            }
        }
        members.push(("__MACOSX/data/train/._C-1.npy".to_owned(), b"meta".to_vec()));
        members
    }

    fn list_dir(dir: &Path) -> BTreeSet<String> {
        fs::read_dir(dir)
            .map(|entries| {
                entries
                    .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn msl_extracts_own_channels_from_zip() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let labels = copies.join("msl").join(TELEMANOM_LABELS);
        let csv = fs::read(&labels).unwrap();
        let files = HashMap::from([
            (TELEMANOM_LABELS.to_owned(), csv.clone()),
            (
                "data.zip".to_owned(),
                build_zip(&telemanom_members(&labels)),
            ),
        ]);
        let server = TestServer::start(files);
        let root = tempfile::tempdir().unwrap();
        let msl_channels = read_channels(&labels, "MSL").unwrap().own;
        let smap_channels = read_channels(&labels, "SMAP").unwrap().own;

        let msl = fetch("msl", root.path(), &server.options(&[])).unwrap();

        assert_eq!(msl.downloaded, 2, "the CSV and the archive");
        assert_eq!(msl.extracted, 2 * msl_channels.len());
        let msl_dir = root.path().join("msl");
        assert_eq!(fs::read(msl_dir.join(TELEMANOM_LABELS)).unwrap(), csv);
        for folder in ["train", "test"] {
            let expected: BTreeSet<String> =
                msl_channels.iter().map(|c| format!("{c}.npy")).collect();
            assert_eq!(list_dir(&msl_dir.join(folder)), expected, "msl/{folder}");
        }
        assert_eq!(
            fs::read(msl_dir.join("test/C-1.npy")).unwrap(),
            channel_content("test", "C-1")
        );
        assert_eq!(
            fs::read(msl_dir.join("train/C-1.npy")).unwrap(),
            channel_content("train", "C-1"),
            "the deeper copy of train/C-1.npy was extracted"
        );
        assert!(
            root.path()
                .join(DOWNLOADS_DIR)
                .join(TELEMANOM_ARCHIVE)
                .is_file()
        );

        let smap = fetch("smap", root.path(), &server.options(&[])).unwrap();

        assert_eq!(
            server.requests("data.zip").len(),
            1,
            "the archive was downloaded twice"
        );
        assert_eq!(smap.downloaded, 1, "only the CSV");
        assert_eq!(smap.extracted, 2 * smap_channels.len());
        let smap_train = list_dir(&root.path().join("smap/train"));
        assert_eq!(smap_train.len(), smap_channels.len());
        assert!(
            !smap_train.contains("T-10.npy"),
            "a channel with no CSV row was extracted"
        );
        assert!(
            !smap_train.contains("C-1.npy"),
            "an MSL channel was extracted"
        );

        let listed = presence("msl", root.path()).unwrap();
        assert_eq!(listed.expected, Some(1 + 2 * msl_channels.len()));
        assert_eq!(listed.present, 1 + 2 * msl_channels.len());
        assert_eq!(listed.verified, 1);
        assert!(listed.changed.is_empty());
    }

    #[test]
    fn msl_channel_selection_extracts_one() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let labels = copies.join("msl").join(TELEMANOM_LABELS);
        let files = HashMap::from([
            (TELEMANOM_LABELS.to_owned(), fs::read(&labels).unwrap()),
            (
                "data.zip".to_owned(),
                build_zip(&telemanom_members(&labels)),
            ),
        ]);
        let server = TestServer::start(files);
        let root = tempfile::tempdir().unwrap();

        let summary = fetch("msl", root.path(), &server.options(&["C-1"])).unwrap();

        assert_eq!(summary.extracted, 2);
        assert_eq!(
            list_dir(&root.path().join("msl/train")),
            BTreeSet::from(["C-1.npy".to_owned()])
        );
        let second = fetch("msl", root.path(), &server.options(&["C-1"])).unwrap();
        assert_eq!(second.skipped, 3);
        assert_eq!(second.extracted, 0);

        let error = fetch("msl", root.path(), &server.options(&["P-1"])).unwrap_err();
        assert!(matches!(error, Error::Setting { .. }), "{error}");
    }

    #[test]
    fn empty_base_url_is_rejected() {
        let root = tempfile::tempdir().unwrap();
        let options = FetchOptions {
            base_url: Some(" ".into()),
            ..FetchOptions::default()
        };

        let error = fetch("tep", root.path(), &options).unwrap_err();

        assert!(matches!(error, Error::Setting { .. }), "{error}");
        assert!(error.to_string().contains("http://"), "{error}");
    }

    #[test]
    fn incomplete_archive_is_forgotten() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let labels = copies.join("msl").join(TELEMANOM_LABELS);
        let members: Vec<(String, Vec<u8>)> = telemanom_members(&labels)
            .into_iter()
            .filter(|(name, _)| !name.ends_with("/C-2.npy"))
            .collect();
        let files = HashMap::from([
            (TELEMANOM_LABELS.to_owned(), fs::read(&labels).unwrap()),
            ("data.zip".to_owned(), build_zip(&members)),
        ]);
        let server = TestServer::start(files);
        let root = tempfile::tempdir().unwrap();

        let error = fetch("msl", root.path(), &server.options(&["C-1", "C-2"])).unwrap_err();

        let text = error.to_string();
        assert!(text.contains("no member for 2 of the 4 files"), "{text}");
        let downloads = root.path().join(DOWNLOADS_DIR);
        assert!(!downloads.join(TELEMANOM_ARCHIVE).exists());
        let sums = Checksums::load(&downloads).unwrap();
        assert_eq!(sums.get(TELEMANOM_ARCHIVE), None);
        // The complete archive is then accepted: no stale digest stands in its way.
        server.set_file("data.zip", build_zip(&telemanom_members(&labels)));
        let summary = fetch("msl", root.path(), &server.options(&["C-1", "C-2"])).unwrap();
        assert_eq!(summary.extracted, 2);
    }

    #[test]
    fn zip_with_parent_member_is_rejected() {
        let Some(copies) = dataset_copies() else {
            return;
        };
        let labels = copies.join("msl").join(TELEMANOM_LABELS);
        let members = vec![
            ("data/train/C-1.npy".to_owned(), b"train".to_vec()),
            ("data/../../train/C-2.npy".to_owned(), b"escape".to_vec()),
        ];
        let files = HashMap::from([
            (TELEMANOM_LABELS.to_owned(), fs::read(&labels).unwrap()),
            ("data.zip".to_owned(), build_zip(&members)),
        ]);
        let server = TestServer::start(files);
        let root = tempfile::tempdir().unwrap();

        let error = fetch("msl", root.path(), &server.options(&[])).unwrap_err();

        let text = error.to_string();
        assert!(text.contains("data/../../train/C-2.npy"), "{text}");
        assert!(!root.path().join("train").exists());
        assert!(!root.path().join("msl/train/C-2.npy").exists());
    }

    #[test]
    fn member_names_are_matched() {
        assert_eq!(channel_member("data/train/C-1.npy"), Some(("train", "C-1")));
        assert_eq!(channel_member("test/P-10.npy"), Some(("test", "P-10")));
        assert_eq!(channel_member("data\\test\\A-1.npy"), Some(("test", "A-1")));
        assert_eq!(channel_member("data/train/._C-1.npy"), None);
        assert_eq!(channel_member("data/other/C-1.npy"), None);
        assert_eq!(channel_member("C-1.npy"), None);
        assert!(is_unsafe_member_name("/etc/train/C-1.npy"));
        assert!(is_unsafe_member_name("C:/train/C-1.npy"));
        assert!(is_unsafe_member_name("data/../train/C-1.npy"));
        assert!(!is_unsafe_member_name("data/train/C-1.npy"));
    }

    #[test]
    fn content_range_is_parsed() {
        let range = ContentRange::parse("bytes 100-199/200").unwrap();
        assert_eq!(range.start, Some(100));
        assert_eq!(range.total, Some(200));
        let unsatisfied = ContentRange::parse("bytes */200").unwrap();
        assert_eq!(unsatisfied.start, None);
        assert_eq!(unsatisfied.total, Some(200));
        let unknown_total = ContentRange::parse("bytes 0-9/*").unwrap();
        assert_eq!(unknown_total.total, None);
        assert!(ContentRange::parse("items 0-9/10").is_none());
    }

    #[test]
    fn checksums_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let digest = "a".repeat(64);
        fs::write(
            dir.path().join(CHECKSUMS_FILE),
            format!("{digest}  train/x.txt\n{digest} *test/x.txt\n"),
        )
        .unwrap();
        let mut sums = Checksums::load(dir.path()).unwrap();
        assert_eq!(sums.get("train/x.txt"), Some(digest.as_str()));
        assert_eq!(sums.get("test/x.txt"), Some(digest.as_str()));
        sums.record("d00.dat", &"b".repeat(64)).unwrap();
        let reloaded = Checksums::load(dir.path()).unwrap();
        assert_eq!(reloaded.digests.len(), 3);

        fs::write(dir.path().join(CHECKSUMS_FILE), "not a digest line\n").unwrap();
        let error = Checksums::load(dir.path()).err().unwrap();
        assert!(
            matches!(error, Error::Data { line: Some(1), .. }),
            "{error}"
        );
    }
}
