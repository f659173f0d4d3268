//! What `GET /api/health` reports as degraded, each thing with a reason,
//! and the disk watcher that feeds it.
//!
//! Degraded is not down: the server still takes calls, but something an
//! operator should look at is wrong. The database not answering is the one
//! problem that makes the health check fail (503, decided by the API);
//! the others here are the trunk not answering OPTIONS, a disk nearly
//! full, recordings failing, and overload.
//!
//! The decisions are pure functions of the figures ([`disk_problem`],
//! [`problems`]), tested with made-up figures; only [`watch_disks`] reads
//! the filesystem (statvfs, every [`DISK_CHECK_EVERY`], on a blocking
//! thread so a hung network filesystem cannot stall the runtime).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tracing::{info, warn};

use super::metrics::{DiskSpace, Metrics};

/// How often the disks are looked at.
pub const DISK_CHECK_EVERY: Duration = Duration::from_secs(10);
/// A recording failure this recent keeps the server degraded.
pub const RECORDING_FAILURE_RECENT_MS: i64 = 15 * 60_000;

/// When a disk counts as nearly full: less free than either limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLimits {
    /// Percent of the filesystem's size.
    pub min_free_percent: u32,
    pub min_free_bytes: u64,
}

/// One thing that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `database`, `trunk`, `disk`, `recordings` or `overload`.
    pub what: &'static str,
    /// For a person: what is wrong and what it affects.
    pub reason: String,
}

impl Problem {
    /// The database does not answer.
    pub fn database() -> Problem {
        Problem {
            what: "database",
            reason: "the database does not answer: call records wait in memory, sign-ins and \
                     the API fail"
                .into(),
        }
    }
}

/// The free space a filesystem of `size` bytes must keep under `limits`:
/// the larger of the two.
pub fn min_free(size: u64, limits: &DiskLimits) -> u64 {
    let share = u128::from(size) * u128::from(limits.min_free_percent) / 100;
    u64::try_from(share)
        .unwrap_or(u64::MAX)
        .max(limits.min_free_bytes)
}

/// Why `disk` is nearly full, or `None` when it has room.
pub fn disk_problem(disk: &DiskSpace) -> Option<String> {
    (disk.free < disk.min_free).then(|| {
        let percent = if disk.size == 0 {
            0.0
        } else {
            disk.free as f64 * 100.0 / disk.size as f64
        };
        format!(
            "{}: {} free of {} ({percent:.1}%), under the minimum of {}: recordings and \
             call records will soon fail",
            disk.path.display(),
            mib(disk.free),
            mib(disk.size),
            mib(disk.min_free),
        )
    })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1u32 << 20))
}

/// Everything degraded but the database: the trunk, the disks, recent
/// recording failures (`recording_failures` is the count since start),
/// overload.
pub fn problems(m: &Metrics, recording_failures: u64, now_ms: i64) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(t) = m.trunk().filter(|t| t.is_down()) {
        out.push(Problem {
            what: "trunk",
            reason: format!(
                "the outbound proxy {} left the last {} OPTIONS unanswered{}: outbound calls \
                 will likely fail",
                t.proxy,
                t.failures,
                t.since_ms
                    .map(|s| format!(" (since {}s ago)", (now_ms - s).max(0) / 1000))
                    .unwrap_or_default()
            ),
        });
    }
    for d in m.disks() {
        if let Some(reason) = disk_problem(&d) {
            out.push(Problem {
                what: "disk",
                reason,
            });
        }
    }
    let failed_at = m.recording_failed_at_ms.load(Ordering::Relaxed);
    if recording_failures > 0 && failed_at > 0 && now_ms - failed_at < RECORDING_FAILURE_RECENT_MS {
        out.push(Problem {
            what: "recordings",
            reason: format!(
                "{recording_failures} recordings failed since start, the latest {}s ago: \
                 the log says why (a full disk, a folder not writable)",
                (now_ms - failed_at).max(0) / 1000
            ),
        });
    }
    if m.overloaded.load(Ordering::Relaxed) {
        out.push(Problem {
            what: "overload",
            reason: "the server cannot keep up: new calls are refused with 503 until it \
                     catches up"
                .into(),
        });
    }
    out
}

/// The folders the server writes to: the data directory, its recordings,
/// and an SQLite database's folder outside it.
pub fn watched_paths(data_dir: &Path, database_url: &str) -> Vec<PathBuf> {
    let mut paths = vec![data_dir.to_owned(), data_dir.join("recordings")];
    if let Some(file) = database_url.strip_prefix("sqlite://") {
        let file = Path::new(file.split('?').next().unwrap_or(file));
        if let Some(dir) = file.parent().filter(|d| !d.starts_with(data_dir)) {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            paths.push(dir.to_owned());
        }
    }
    paths
}

/// Looks at the disks under `paths` now, then every [`DISK_CHECK_EVERY`]
/// until `stop`; logs a disk becoming nearly full and recovering.
pub async fn watch_disks(
    paths: Vec<PathBuf>,
    limits: DiskLimits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let mut low: Vec<PathBuf> = Vec::new();
    loop {
        let look = paths.clone();
        if let Ok(disks) = tokio::task::spawn_blocking(move || space_of(&look, &limits)).await {
            for d in &disks {
                let problem = disk_problem(d);
                let was_low = low.contains(&d.path);
                match (&problem, was_low) {
                    (Some(reason), false) => {
                        warn!(path = %d.path.display(), free = d.free, "disk nearly full: {reason}");
                        low.push(d.path.clone());
                    }
                    (None, true) => {
                        info!(path = %d.path.display(), free = d.free, "disk has room again");
                        low.retain(|p| p != &d.path);
                    }
                    _ => {}
                }
            }
            metrics.set_disks(disks);
        }
        tokio::select! {
            () = tokio::time::sleep(DISK_CHECK_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The space of each filesystem under `paths`, once per filesystem (the
/// first path on it names it); paths that do not exist are skipped.
fn space_of(paths: &[PathBuf], limits: &DiskLimits) -> Vec<DiskSpace> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for p in paths {
        let Ok(meta) = std::fs::metadata(p) else {
            continue;
        };
        if seen.contains(&meta.dev()) {
            continue;
        }
        seen.push(meta.dev());
        match statvfs(p) {
            Ok((free, size)) => out.push(DiskSpace {
                path: p.clone(),
                free,
                size,
                min_free: min_free(size, limits),
            }),
            Err(e) => warn!(path = %p.display(), error = %e, "cannot read the disk's free space"),
        }
    }
    out
}

/// `(bytes free for unprivileged users, size)` of the filesystem holding
/// `path`.
fn statvfs(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs only writes into the struct we pass, which is
    // plain data, and reads the NUL-terminated path.
    let mut buf: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &raw mut buf) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[allow(clippy::useless_conversion)] // the field types differ by platform
    let fragment = u64::from(buf.f_frsize);
    #[allow(clippy::useless_conversion)]
    let (avail, blocks) = (u64::from(buf.f_bavail), u64::from(buf.f_blocks));
    Ok((avail * fragment, blocks * fragment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TrunkStatus;

    const GIB: u64 = 1 << 30;
    const LIMITS: DiskLimits = DiskLimits {
        min_free_percent: 5,
        min_free_bytes: GIB,
    };

    /// A disk with these figures, judged by [`LIMITS`].
    fn disk(free: u64, size: u64) -> DiskSpace {
        DiskSpace {
            path: "/srv/hotline".into(),
            free,
            size,
            min_free: min_free(size, &LIMITS),
        }
    }

    #[test]
    fn a_disk_is_nearly_full_under_either_limit() {
        // 100 GiB: 5% is 5 GiB, the larger floor.
        assert_eq!(disk_problem(&disk(6 * GIB, 100 * GIB)), None);
        let reason = disk_problem(&disk(4 * GIB, 100 * GIB)).expect("under 5%");
        assert!(
            reason.starts_with("/srv/hotline: 4096.0 MiB free of 102400.0 MiB (4.0%)"),
            "{reason}"
        );
        assert!(reason.contains("minimum of 5120.0 MiB"), "{reason}");
        // 10 GiB: 1 GiB is the larger floor.
        assert_eq!(disk_problem(&disk(GIB + 1, 10 * GIB)), None);
        assert!(disk_problem(&disk(GIB - 1, 10 * GIB)).is_some());
        // A tiny filesystem is full however empty it is.
        assert!(disk_problem(&disk(16 << 20, 16 << 20)).is_some());
        // Huge figures do not overflow.
        assert_eq!(disk_problem(&disk(u64::MAX, u64::MAX)), None);
    }

    #[test]
    fn each_degraded_thing_is_named_with_its_reason() {
        let m = Metrics::default();
        let now = 10_000_000;
        assert_eq!(problems(&m, 0, now), vec![]);
        let gauges = crate::engine::Gauges {
            calls_inbound: 0,
            calls_outbound: 0,
            started_inbound: 0,
            started_outbound: 0,
            rejected: 0,
            queues: vec![],
            agents: [0; crate::engine::AGENT_STATES.len()],
            phone_registrations: 0,
        };
        let mut trunk = TrunkStatus {
            proxy: "192.0.2.10:5060".parse().expect("address"),
            failures: 1,
            last_code: Some(200),
            since_ms: Some(now - 60_000),
        };
        m.refresh(&gauges, Some(trunk.clone()), 0, now);
        assert_eq!(problems(&m, 0, now), vec![], "one silence is not down");
        trunk.failures = 2;
        m.refresh(&gauges, Some(trunk), 3, now - 1_000);
        m.set_disks(vec![disk(GIB / 2, 100 * GIB)]);
        m.overloaded.store(true, Ordering::Relaxed);
        let found = problems(&m, 3, now);
        let whats: Vec<&str> = found.iter().map(|p| p.what).collect();
        assert_eq!(whats, ["trunk", "disk", "recordings", "overload"]);
        assert!(
            found[0].reason.starts_with(
                "the outbound proxy 192.0.2.10:5060 left the last 2 OPTIONS unanswered (since 60s ago)"
            ),
            "{}",
            found[0].reason
        );
        assert!(
            found[2]
                .reason
                .starts_with("3 recordings failed since start, the latest 1s ago")
        );
        // Recording failures long ago no longer count.
        let later = now + RECORDING_FAILURE_RECENT_MS;
        assert!(
            problems(&m, 3, later)
                .iter()
                .all(|p| p.what != "recordings")
        );
    }

    #[test]
    fn the_watched_folders_include_an_sqlite_database_elsewhere() {
        let data = Path::new("/srv/hotline");
        assert_eq!(
            watched_paths(data, "sqlite:///srv/hotline/hotline.db?mode=rwc"),
            [data.to_owned(), data.join("recordings")]
        );
        assert_eq!(
            watched_paths(data, "sqlite:///var/db/hotline.db"),
            [
                data.to_owned(),
                data.join("recordings"),
                PathBuf::from("/var/db")
            ]
        );
        assert_eq!(watched_paths(data, "postgres://db/hotline").len(), 2);
    }

    #[test]
    fn the_real_disk_under_the_temp_dir_has_figures() {
        let found = space_of(&[std::env::temp_dir(), std::env::temp_dir()], &LIMITS);
        assert_eq!(found.len(), 1, "one filesystem, looked at once");
        assert!(found[0].size > 0 && found[0].free <= found[0].size);
    }
}
