//! The command line as scripts and people meet it: version probes, help,
//! and errors about the bundle's files naming the file.

mod common;

use std::process::Command;

use common::{BERTH, Bundle};

fn berth(args: &[&str]) -> std::process::Output {
    Command::new(BERTH).args(args).output().expect("run berth")
}

#[test]
fn version_after_global_flags_and_in_help() {
    for args in [
        &["--version"][..],
        &["-v"],
        &["--root", "/nonexistent/berth-root", "--version"],
        &["--log-format", "json", "--debug", "-V"],
    ] {
        let out = berth(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("berth version "), "{args:?}: {text}");
        assert!(text.contains("\nspec: "), "{text}");
    }
    let help = String::from_utf8_lossy(&berth(&["--help"]).stdout).into_owned();
    assert!(help.contains("-v, --version"), "{help}");
}

#[test]
fn truncated_config_blames_the_file() {
    let b = Bundle::new("cli-trunc", &["true"]);
    b.write_config();
    let text = std::fs::read_to_string(b.dir.join("config.json")).unwrap();
    let cut = text.find("\"args\"").unwrap() + 20;
    std::fs::write(b.dir.join("config.json"), &text[..cut]).unwrap();
    let out = b.berth_raw(&["create", "-b", b.dir.to_str().unwrap(), &b.id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(": config.json: EOF while parsing"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!b.root.join(&b.id).exists(), "state dir left");
}

/// A reader that went away (`berth features | head -c 1`): the command ends
/// as a death by SIGPIPE would (141), never with a panic message.
#[test]
fn closed_stdout_ends_quietly() {
    for args in [&["features"][..], &["--version"], &["list"]] {
        let (read, write) = nix::unistd::pipe().unwrap();
        drop(read);
        let out = Command::new(BERTH)
            .args(["--root", "/nonexistent/berth-root"])
            .args(args)
            .stdout(std::process::Stdio::from(write))
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
