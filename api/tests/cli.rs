//! The `api` binary's command line, without a server. (Being an integration test of this
//! package, it also makes `cargo test --workspace` build the binary the black-box suite drives.)

use std::process::Command;

fn api() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_api"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("AUTH_JWT_SECRET")
        .env_remove("RUST_LOG");
    cmd
}

#[test]
fn the_committed_schema_is_what_api_schema_prints() {
    let out = api().arg("schema").output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        printed.trim_end() == committed.trim_end(),
        "api/schema.graphql is stale: run `cargo run -p api -- schema > api/schema.graphql`"
    );
}

#[test]
fn a_token_needs_a_secret_outside_the_embedded_default() {
    let out = api()
        .args(["token", "--org", "o", "--sub", "u"])
        .env("DATABASE_URL", "postgres://x@127.0.0.1/x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTH_JWT_SECRET is required"));
}

#[test]
fn serving_postgres_without_a_secret_is_refused() {
    let out = api()
        .env("DATABASE_URL", "postgres://x@127.0.0.1:1/x")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AUTH_JWT_SECRET is required"), "{stderr}");
}

#[test]
fn a_token_is_signed_with_the_configured_secret() {
    let out = api()
        .args(["token", "--org", "org-1", "--sub", "user-1"])
        .env("AUTH_JWT_SECRET", "0123456789abcdef0123")
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(token.trim().split('.').count(), 3, "{token}");
}

#[test]
fn a_token_lifetime_that_overflows_is_refused_not_a_panic() {
    let out = api()
        .args(["token", "--org", "o", "--sub", "u", "--ttl-hours"])
        .arg(u64::MAX.to_string())
        .env("AUTH_JWT_SECRET", "a-secret-of-sixteen-or-more")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ttl-hours"));
}

#[test]
fn durations_of_the_limits_are_checked() {
    let out = api()
        .args(["schema"])
        .env("REQUEST_TIMEOUT", "99999999999999999999999m")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a usage error: {out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("REQUEST_TIMEOUT")
            || String::from_utf8_lossy(&out.stderr).contains("request-timeout")
    );
}
