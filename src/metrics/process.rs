//! The exporter's own process, named as every Prometheus client library names it (`process_*`):
//! CPU time, memory, file descriptors, threads and start time, read from `/proc/self` when a
//! scrape asks (these change between cycles, so they are not part of the cached render).

/// One reading of the process's resources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ProcessStats {
    /// User plus system CPU time, seconds.
    pub(super) cpu_seconds: f64,
    pub(super) resident_memory_bytes: u64,
    pub(super) virtual_memory_bytes: u64,
    pub(super) open_fds: u64,
    /// The soft `RLIMIT_NOFILE`; `None` when unlimited.
    pub(super) max_fds: Option<u64>,
    /// Unix time the process started, seconds.
    pub(super) start_time_seconds: f64,
    pub(super) threads: u64,
}

/// Reads `/proc/self`. Linux only: elsewhere there is nothing to read and no `process_*` family
/// is served.
#[cfg(target_os = "linux")]
pub(super) fn read_self() -> Result<ProcessStats, String> {
    use procfs::process::{LimitValue, Process};
    let context = |what: &'static str| move |e: procfs::ProcError| format!("reading {what}: {e}");
    let me = Process::myself().map_err(context("/proc/self"))?;
    let stat = me.stat().map_err(context("/proc/self/stat"))?;
    let limits = me.limits().map_err(context("/proc/self/limits"))?;
    let open_fds = me.fd_count().map_err(context("/proc/self/fd"))?;
    let boot = procfs::boot_time_secs().map_err(context("the boot time in /proc/stat"))?;
    let ticks = procfs::ticks_per_second().max(1) as f64;
    Ok(ProcessStats {
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        resident_memory_bytes: stat.rss.saturating_mul(procfs::page_size()),
        virtual_memory_bytes: stat.vsize,
        open_fds: open_fds as u64,
        max_fds: match limits.max_open_files.soft_limit {
            LimitValue::Value(n) => Some(n),
            LimitValue::Unlimited => None,
        },
        start_time_seconds: boot as f64 + stat.starttime as f64 / ticks,
        threads: u64::try_from(stat.num_threads).unwrap_or(0),
    })
}

#[cfg(not(target_os = "linux"))]
pub(super) fn read_self() -> Result<ProcessStats, String> {
    Err("process metrics are read from /proc, which only Linux has".to_owned())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_test_process_reads_as_itself() {
        let stats = read_self().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // Started before now, and not before the machine booted a year ago.
        assert!(stats.start_time_seconds <= now + 1.0, "{stats:?}");
        assert!(
            stats.start_time_seconds > now - 366.0 * 86_400.0,
            "{stats:?}"
        );
        assert!(stats.resident_memory_bytes > 1 << 20, "{stats:?}");
        assert!(stats.virtual_memory_bytes >= stats.resident_memory_bytes);
        assert!(stats.threads >= 1);
        // stdin, stdout and stderr at least (other test threads open and close files meanwhile).
        assert!(stats.open_fds >= 3, "{stats:?}");
        let rlimit = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap().0;
        assert_eq!(
            stats.max_fds,
            (rlimit != rlimit::INFINITY).then_some(rlimit)
        );
    }
}
