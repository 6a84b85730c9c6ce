//! berth: a daemonless OCI container runtime with runc's command line.

// The C runtime calls our `main` directly; see there.
#![cfg_attr(not(test), no_main)]

include!("modules.rs");

/// musl's own malloc (mallocng) maps and unmaps pages for small
/// allocations as they come and go: about a hundred mmap/munmap pairs per
/// create, and clap's parse plus `list` at 0.92 ms of CPU against glibc's
/// 0.52. dlmalloc (the allocator Rust's std uses on wasm) takes memory in
/// larger steps and reuses it: 0.55 ms.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

use clap::Parser;

/// The process entry. std's own start-up (lang_start) is skipped: on every
/// run it reads /proc/self/maps (pthread_getattr_np, to place the main
/// thread's stack guard) and installs stack-overflow handlers, a tenth of
/// the work of a command that lives a few milliseconds. What of it matters
/// is done here: closed standard descriptors are opened on /dev/null (so no
/// file of ours lands on 0-2), and SIGPIPE is ignored (a closed pipe is an
/// error, not a silent death). And error backtraces are turned off: the
/// release build carries no unwind tables (hack/build), so a backtrace that
/// RUST_BACKTRACE asked anyhow to capture would abort the process instead
/// of printing the error.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    sanitize_stdio();
    // std fills its argument list only in its own start-up on musl (on
    // glibc, from an init_array hook), which this entry skips: the
    // arguments come from here.
    let args = (0..usize::try_from(argc).unwrap_or(0))
        .map(|i| {
            // SAFETY: the C start-up passes argc valid NUL-terminated
            // strings in argv, alive for the whole process.
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(arg.to_bytes())
                .to_os_string()
        })
        .collect();
    // SAFETY: SIG_IGN runs no code of ours; nothing else handles SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: no other thread exists yet to read the environment; every
    // process berth starts gets an environment of its own (config.json's).
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    run(args)
}

#[cfg(not(test))]
fn sanitize_stdio() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes three pollfd structs we own; a zero
    // timeout only reports POLLNVAL for descriptors that are not open.
    if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } < 0 {
        return;
    }
    for p in fds.iter().filter(|p| p.revents & libc::POLLNVAL != 0) {
        // The lowest free descriptor is the closed one we are filling.
        if let Ok(f) = std::fs::File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
            debug_assert_eq!(fd, p.fd);
        }
    }
}

/// The test harness brings its own entry; this keeps `run` (and everything
/// it reaches) compiled and linted in test builds too.
#[cfg(test)]
fn main() {
    run(std::env::args_os().collect())
}

fn run(args: Vec<std::ffi::OsString>) -> ! {
    // Handled before clap so that the version text (which asks libseccomp)
    // is built only when asked for, not on every create.
    if cli::asks_version(&args) {
        let _ = stdout::line(&format!("berth version {}", version::long()));
        std::process::exit(0);
    }
    let cli = cli::Cli::parse_from(&args);
    // Before the log file or anything else of ours is opened.
    let passed = passed_fds::check(&cli.command);
    if let Err(e) = logging::init(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        eprintln!("berth: error: {e}");
        std::process::exit(1);
    }
    if let Err(e) = passed {
        logging::error(&e.to_string());
        std::process::exit(1);
    }
    if cli.command.enters_container()
        && let Err(e) = sealed_exe::ensure(&args)
    {
        logging::error(&e.to_string());
        std::process::exit(1);
    }
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            logging::error(&format!("{e:#}"));
            1
        }
    };
    std::process::exit(code);
}
