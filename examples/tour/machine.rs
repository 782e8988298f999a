//! The machine the figures are measured on, and the date: printed above the table and
//! written on every chart.

use std::time::{SystemTime, UNIX_EPOCH};

pub struct Machine {
    /// The CPU's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// How many CPUs the system has online.
    pub cpus: usize,
    /// The kernel's release (`uname -r`).
    pub kernel: String,
    /// Today, in UTC: `2026-12-06`.
    pub date: String,
}

impl Machine {
    pub fn here() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |line: &str, name: &str| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_owned())
        };
        let cpu = cpuinfo
            .lines()
            .find_map(|l| field(l, "model name"))
            .unwrap_or_else(|| "an unknown CPU".to_owned());
        let cpus = cpuinfo
            .lines()
            .filter(|l| field(l, "processor").is_some())
            .count()
            .max(1);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|r| r.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        let days = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        Machine {
            cpu,
            cpus,
            kernel,
            date: date(days as i64),
        }
    }

    /// `AMD EPYC 7B13, 2 CPUs, Linux 6.18.5, 2026-12-06`.
    pub fn describe(&self) -> String {
        format!(
            "{}, {} CPU{}, Linux {}, {}",
            self.cpu,
            self.cpus,
            if self.cpus == 1 { "" } else { "s" },
            self.kernel,
            self.date
        )
    }
}

/// The civil date `days` days after 1970-01-01, as `YYYY-MM-DD` (the proleptic Gregorian
/// calendar, after Howard Hinnant's `civil_from_days`).
fn date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
