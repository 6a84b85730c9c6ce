//! Log lines as runc writes them. Engines (containerd's shim, conmon) read the
//! `--log` file in `--log-format json` to report why a command failed, so an
//! error goes there as `{"level":"error","msg":...,"time":...}` and, as runc
//! does, also to stderr in plain text.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::cli::LogFormat;

struct Logger {
    file: Option<File>,
    format: LogFormat,
    debug: bool,
    start: Instant,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging once per process; later calls are ignored.
pub fn init(path: Option<&Path>, format: LogFormat, debug: bool) -> std::io::Result<()> {
    let file = match path {
        Some(p) => Some(crate::hostfile::open_append(p).map_err(|e| {
            std::io::Error::new(e.kind(), format!("--log {}: {e}", p.display()))
        })?),
        None => None,
    };
    let _ = LOGGER.set(Logger {
        file,
        format,
        debug,
        start: Instant::now(),
    });
    Ok(())
}

/// The log file's descriptor, which the init keeps until it execs.
pub fn file_fd() -> Option<i32> {
    LOGGER
        .get()
        .and_then(|l| l.file.as_ref())
        .map(|f| f.as_raw_fd())
}

pub fn error(msg: &str) {
    // Like runc, an error goes to stderr even when a log file is given:
    // engines capture either one. The level is spelled out, as runc's
    // `level=error` and youki's `ERROR` are, so that a script reading
    // stderr tells a failure from a warning.
    let _ = writeln!(std::io::stderr(), "berth: error: {msg}");
    if LOGGER.get().is_some_and(|l| l.file.is_some()) {
        write("error", msg);
    }
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn debug(msg: &str) {
    if LOGGER.get().is_some_and(|l| l.debug) {
        write("debug", msg);
    }
}

/// A debug line with the time since the process started, for the per-phase
/// trace that `--debug` prints on the create path.
pub fn phase(name: &str) {
    if let Some(l) = LOGGER.get().filter(|l| l.debug) {
        let us = l.start.elapsed().as_micros();
        write(
            "debug",
            &format!("phase {name} at {us}us (pid {})", std::process::id()),
        );
    }
}

/// One line to the log file in the chosen format, or plainly to stderr
/// when there is no log file.
fn write(level: &str, msg: &str) {
    let Some(l) = LOGGER.get().filter(|l| l.file.is_some()) else {
        let _ = writeln!(std::io::stderr(), "berth: {level}: {msg}");
        return;
    };
    let line = match l.format {
        LogFormat::Json => {
            let v = serde_json::json!({"level": level, "msg": msg, "time": rfc3339_now()});
            format!("{v}\n")
        }
        LogFormat::Text => format!(
            "time=\"{}\" level={level} msg={}\n",
            rfc3339_now(),
            serde_json::Value::from(msg)
        ),
    };
    // One write per line so concurrent writers (parent and init) interleave
    // whole lines in an O_APPEND file.
    if let Some(f) = &l.file {
        let _ = (&*f).write_all(line.as_bytes());
    }
}

/// Current UTC time as RFC 3339 with nanoseconds.
pub fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm): avoids a date crate for one timestamp per log line.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_795_441_200, 0), "2026-11-23T13:40:00.000000000Z");
    }
}
