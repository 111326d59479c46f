//! Raises the soft open-file limit to the hard one at start.
//!
//! Every HTTP connection and every KMS socket is a file descriptor. The common default soft
//! limit (1,024) is what 1,100 idle HTTP connections once exhausted, blocking scrapes and KMS
//! reconnects alike; the hard limit (often 512 Ki or more) is what the process may use without
//! privileges. The HTTP connection cap (`web.max_connections`) keeps HTTP well under either.

/// Where the Linux kernel caps a process's descriptors when the hard limit is unlimited.
const NR_OPEN_PATH: &str = "/proc/sys/fs/nr_open";

/// The soft limit before and after the attempt, and the hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    pub before: u64,
    pub after: u64,
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` as far as allowed and reports what it is now.
pub fn raise_nofile_limit() -> std::io::Result<NofileLimit> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    let nr_open = std::fs::read_to_string(NR_OPEN_PATH)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let Some(target) = target_soft_limit(soft, hard, nr_open) else {
        return Ok(NofileLimit {
            before: soft,
            after: soft,
            hard,
        });
    };
    rlimit::Resource::NOFILE.set(target, hard)?;
    Ok(NofileLimit {
        before: soft,
        after: target,
        hard,
    })
}

/// Raises the limit and logs the outcome; a failure is only a warning (the exporter still runs).
pub fn raise_nofile_limit_logged() {
    match raise_nofile_limit() {
        Ok(l) if l.after > l.before => {
            tracing::info!(
                from = l.before,
                to = l.after,
                hard = l.hard,
                "raised the open-file limit"
            );
        }
        Ok(l) => tracing::debug!(soft = l.after, hard = l.hard, "open-file limit unchanged"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// The soft limit to set, or `None` when it is already as high as it can go. An unlimited hard
/// limit cannot be the soft one on Linux (setrlimit fails past `nr_open`), so `nr_open` caps it.
fn target_soft_limit(soft: u64, hard: u64, nr_open: Option<u64>) -> Option<u64> {
    let ceiling = if hard == rlimit::INFINITY {
        nr_open?
    } else {
        hard
    };
    (soft < ceiling).then_some(ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_table() {
        let inf = rlimit::INFINITY;
        let cases = [
            (1024, 524_288, None, Some(524_288)),
            (1024, 1024, None, None),
            (4096, 1024, None, None),
            (1024, inf, Some(1_048_576), Some(1_048_576)),
            (1024, inf, None, None),
            (2_000_000, inf, Some(1_048_576), None),
        ];
        for (soft, hard, nr_open, want) in cases {
            assert_eq!(
                target_soft_limit(soft, hard, nr_open),
                want,
                "soft {soft} hard {hard} nr_open {nr_open:?}"
            );
        }
    }

    #[test]
    fn raising_is_idempotent() {
        let first = raise_nofile_limit().unwrap();
        let second = raise_nofile_limit().unwrap();
        assert!(first.after >= first.before);
        assert_eq!(second.before, second.after, "already raised");
        assert_eq!(second.after, first.after);
    }
}
