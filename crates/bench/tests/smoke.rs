//! The `bench` binary end to end on a tiny data set, so that it keeps working: seed, load and
//! raw with every answer checked, the schema paths, and a short abuse run. Needs PostgreSQL (skipped without one,
//! except in CI) and the `api` and `migration` binaries that `cargo test --workspace` builds.
// Fixtures and assertions fail by panicking: that is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn required() -> bool {
    ["CI", "REQUIRE_POSTGRES"]
        .iter()
        .any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty() && s != "0" && s != "false"))
}

fn bench(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("bench runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// Three organizations: `abuse` needs one well-behaved tenant and two attacking ones.
const SIZE: [&str; 6] = ["--orgs", "3", "--assets", "60", "--activities", "20"];

#[test]
fn seed_load_raw_and_paths_work_on_a_tiny_data_set() {
    let dir = Path::new(env!("CARGO_BIN_EXE_bench"))
        .parent()
        .expect("target dir");
    if !dir.join("api").exists() || !dir.join("migration").exists() {
        assert!(
            !required(),
            "the api and migration binaries are not built: run `cargo test --workspace`"
        );
        eprintln!("SKIPPED: build the api and migration binaries (cargo test --workspace)");
        return;
    }
    let mut url = url::Url::parse(&admin_url()).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/dai_bench_smoke_{}", std::process::id()));
    let url = url.to_string();

    let mut seed = vec!["seed", "--recreate"];
    seed.extend(SIZE);
    let out = bench(&url, &seed);
    if !out.status.success() && !required() && text(&out).contains("onnect") {
        eprintln!("SKIPPED: PostgreSQL unreachable\n{}", text(&out));
        return;
    }
    let result = std::panic::catch_unwind(|| {
        assert!(out.status.success(), "{}", text(&out));
        for side in ["load", "raw"] {
            let mut args = vec![
                side,
                "-w",
                "mixed",
                "--requests",
                "300",
                "-c",
                "4",
                "--warmup",
                "0",
            ];
            args.extend(SIZE);
            let out = bench(&url, &args);
            assert!(out.status.success(), "{}", text(&out));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("300 requests, 0 errors"), "{}", text(&out));
        }
        let mut args = vec!["paths", "--runs", "1"];
        args.extend(SIZE);
        let out = bench(&url, &args);
        assert!(out.status.success(), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("delete an organization"),
            "{}",
            text(&out)
        );
        // Seconds only, and few attackers: whether the tenant's p99 holds is for the real run
        // to say; here every attack must run and be answered as expected.
        let mut args = vec![
            "abuse",
            "--duration",
            "2",
            "--warmup",
            "1",
            "--cost-clients",
            "1",
            "--added-locations",
            "12000",
            "--blocked",
            "2",
            "--big-bodies",
            "1",
            "--idle",
            "20",
            "--slowloris",
            "1",
        ];
        args.extend(SIZE);
        let out = bench(&url, &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("abuse: organization 0"), "{}", text(&out));
        let attacks: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("attack "))
            .collect();
        assert_eq!(attacks.len(), 6, "{}", text(&out));
        for line in attacks {
            assert!(line.contains("unexpected 0"), "{line}\n{}", text(&out));
        }
    });
    let name = url::Url::parse(&url)
        .map(|u| u.path().trim_start_matches('/').to_owned())
        .unwrap_or_default();
    let dropped = Command::new("psql")
        .arg(admin_url())
        .args(["-X", "-q", "-c"])
        .arg(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .status();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert!(dropped.is_ok_and(|s| s.success()), "dropping {name}");
}
