//! What the benchmark reads from /proc about the exporter process and the machine (pure parsers
//! plus thin readers).

use std::path::Path;

/// CPU time and peak memory of a process at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessSample {
    /// utime + stime, in clock ticks (threads that ended included).
    pub cpu_ticks: u64,
    /// Peak resident set size (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses, so fields are counted after the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // The first field after the command name is field 3 (state).
    let mut fields = after_comm.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmHWM` of a `/proc/<pid>/status` file, in KiB.
pub fn parse_peak_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut words = line["VmHWM:".len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(value),
        Some(_) => None,
    }
}

/// The CPU model of `/proc/cpuinfo` (`model name` on x86, `Model`/`Hardware` elsewhere).
pub fn parse_cpu_model(cpuinfo: &str) -> Option<String> {
    ["model name", "Model", "Hardware", "cpu model"]
        .iter()
        .find_map(|key| {
            cpuinfo.lines().find_map(|line| {
                let (k, v) = line.split_once(':')?;
                (k.trim() == *key && !v.trim().is_empty()).then(|| v.trim().to_owned())
            })
        })
}

/// Reads the CPU time and peak RSS of `pid`.
pub fn sample(pid: u32) -> std::io::Result<ProcessSample> {
    let proc_dir = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(proc_dir.join("stat"))?;
    let status = std::fs::read_to_string(proc_dir.join("status"))?;
    let invalid = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("cannot parse {what} of process {pid}"),
        )
    };
    Ok(ProcessSample {
        cpu_ticks: parse_cpu_ticks(&stat).ok_or_else(|| invalid("stat"))?,
        peak_rss_kib: parse_peak_rss_kib(&status).ok_or_else(|| invalid("status"))?,
    })
}

/// Clock ticks per second of /proc CPU times: `getconf CLK_TCK`, else 100 (Linux's USER_HZ).
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

/// Facts about the machine printed above the results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model: parse_cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_owned()),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|k| k.trim().to_owned())
                .unwrap_or_else(|_| "unknown".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_add_utime_and_stime() {
        let cases: &[(&str, Option<u64>)] = &[
            (
                "4242 (kurento_export) S 1 4242 4242 0 -1 4194560 1234 0 0 0 157 43 0 0 20 0 9 0 100 123456 789 18446744073709551615",
                Some(200),
            ),
            // A command name with spaces and parentheses.
            (
                "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1",
                Some(11),
            ),
            ("7 (short) R 1 2 3", None),
            ("no parenthesis at all", None),
            ("7 (x) R 1 7 7 0 -1 0 0 0 0 0 five 6 0", None),
        ];
        for (stat, want) in cases {
            assert_eq!(parse_cpu_ticks(stat), *want, "{stat}");
        }
    }

    #[test]
    fn peak_rss_is_vmhwm_in_kib() {
        let cases: &[(&str, Option<u64>)] = &[
            (
                "Name:\tx\nVmPeak:\t  99999 kB\nVmHWM:\t   23456 kB\nVmRSS:\t 20000 kB\n",
                Some(23456),
            ),
            ("Name:\tx\nVmRSS:\t 20000 kB\n", None),
            ("VmHWM:\t 1 MB\n", None),
            ("VmHWM:\t\n", None),
        ];
        for (status, want) in cases {
            assert_eq!(parse_peak_rss_kib(status), *want, "{status}");
        }
    }

    #[test]
    fn cpu_model_of_x86_and_arm() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n",
                Some("Intel(R) Xeon(R) CPU @ 2.20GHz"),
            ),
            (
                "processor\t: 0\nBogoMIPS\t: 50.00\n\nModel\t\t: Raspberry Pi 4 Model B\n",
                Some("Raspberry Pi 4 Model B"),
            ),
            ("processor\t: 0\n", None),
        ];
        for (cpuinfo, want) in cases {
            assert_eq!(parse_cpu_model(cpuinfo).as_deref(), *want);
        }
    }

    #[test]
    fn sample_reads_this_process() {
        let sample = sample(std::process::id()).unwrap();
        assert!(sample.peak_rss_kib > 0);
    }
}
