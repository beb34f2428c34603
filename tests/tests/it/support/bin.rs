//! The built binaries, run as a user would.

use std::path::PathBuf;
use std::process::Output;

/// Path of a workspace binary, next to the directory holding this test executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run the suite with `cargo test --workspace` (it builds every binary)",
        path.display()
    );
    path
}

/// The outcome of one run of a binary.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the run exited 0.
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `migration <args>` against `url` and waits for it.
pub async fn migration(url: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(binary("migration"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .env_remove("LOG_FORMAT")
        .kill_on_drop(true)
        .output()
        .await
        .expect("start the migration binary");
    Run::from(out)
}

/// Starts `migration <args>` against `url` without waiting (to run several at once, or to kill).
pub fn spawn_migration(url: &str, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(binary("migration"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .env_remove("LOG_FORMAT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the migration binary")
}

/// Waits for a spawned run.
pub async fn finish(child: tokio::process::Child) -> Run {
    Run::from(
        child
            .wait_with_output()
            .await
            .expect("wait for the migration binary"),
    )
}
