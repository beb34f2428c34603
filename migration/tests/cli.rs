//! The `migration` binary's command line, without a database. (Being an integration test of this
//! package, it also makes `cargo test --workspace` build the binary the black-box suite drives.)

use std::process::Command;

fn migration() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migration"));
    cmd.env_remove("DATABASE_URL").env_remove("RUST_LOG");
    cmd
}

#[test]
fn help_lists_the_commands() {
    let out = migration().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["up", "down", "status", "fresh", "refresh", "reset"] {
        assert!(
            help.contains(&format!("\n  {command} ")),
            "{command} missing from:\n{help}"
        );
    }
}

#[test]
fn a_missing_database_url_is_a_one_line_error() {
    let out = migration().arg("status").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}
