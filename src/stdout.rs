//! What commands print on stdout. SIGPIPE is ignored (see main), so a
//! reader that went away (`berth list | head -n 1`) shows as EPIPE, which
//! println! turns into a panic: here it ends the command quietly with the
//! status a death by SIGPIPE would give (128 + 13), as other tools end.

use std::io::Write;

/// Writes `text` and a newline to stdout, flushed.
pub fn line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(text.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
        r => r,
    }
}
