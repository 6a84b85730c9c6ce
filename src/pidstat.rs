//! The two facts berth needs about a process, read from /proc/PID/stat: its
//! state letter and its start time (clock ticks since boot). The start time
//! tells a container's init from an unrelated process that reused its pid.

use std::io::Read;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidStat {
    pub state: u8,
    pub start_time: u64,
}

impl PidStat {
    /// Exited: a zombie or dead task no longer runs the container.
    pub fn exited(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Reads /proc/PID/stat; None when the process does not exist.
pub fn read(pid: i32) -> Option<PidStat> {
    let mut buf = [0u8; 1024];
    let mut f = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = f.read(&mut buf).ok()?;
    parse(&buf[..n])
}

/// Parses a stat line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last ')'.
pub fn parse(line: &[u8]) -> Option<PidStat> {
    let close = line.iter().rposition(|&b| b == b')')?;
    let mut fields = line[close + 1..]
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    // Field 22 (starttime) is the 20th after the state (field 3).
    let start = fields.nth(18)?;
    let start_time = std::str::from_utf8(start).ok()?.trim().parse().ok()?;
    Some(PidStat { state, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_name() {
        let line = b"4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 0\n";
        assert_eq!(
            parse(line),
            Some(PidStat {
                state: b'S',
                start_time: 987654
            })
        );
    }

    #[test]
    fn reads_own_process() {
        let me = read(std::process::id() as i32).expect("own stat");
        assert!(matches!(me.state, b'R' | b'S'));
        assert!(me.start_time > 0);
        assert!(read(i32::MAX).is_none());
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(parse(b"no paren"), None);
        assert_eq!(parse(b"1 (x) S 1 2"), None);
    }
}
