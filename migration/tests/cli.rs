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
    for command in [
        "up", "down", "status", "verify", "sql", "resolve", "smoke", "fresh", "refresh", "reset",
    ] {
        assert!(
            help.contains(&format!("\n  {command} ")),
            "{command} missing from:\n{help}"
        );
    }
}

#[test]
fn a_missing_database_url_is_a_one_line_error() {
    let out = migration().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "configuration errors exit 3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn destructive_commands_refuse_without_yes_before_connecting() {
    let out = migration()
        .args(["-u", "postgres://nobody@127.0.0.1:1/none", "fresh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
}
