//! `api admin`: from an empty database to a first query without SQL. Organizations, users,
//! purposes and activities are created, updated and left unchanged by their keys; a bad record
//! writes nothing and is named; a printed token authenticates against the server.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

/// Runs `api admin <args>` with `envs` (and nothing of the caller's environment that would
/// change its database or secret).
async fn admin_with(envs: &[(&str, &str)], args: &[&str]) -> Run {
    let out = tokio::process::Command::new(binary("api"))
        .arg("admin")
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("AUTH_JWT_SECRET")
        .env_remove("DATA_DIR")
        .env_remove("LOG_FORMAT")
        .env("RUST_LOG", "warn")
        .envs(envs.iter().copied())
        .kill_on_drop(true)
        .output()
        .await
        .expect("start the api binary");
    Run::from(out)
}

/// `api admin <args>` on `db`, signing with the test servers' secret.
async fn admin(db: &TestDb, args: &[&str]) -> Run {
    admin_with(
        &[
            ("DATABASE_URL", db.url.as_str()),
            ("AUTH_JWT_SECRET", SECRET),
        ],
        args,
    )
    .await
}

/// A test database ready for `api admin`: PostgreSQL migrated by `migration up`; SQLite left
/// empty, since `api admin` migrates it itself (as the server does).
async fn database(backend: Backend) -> Option<TestDb> {
    let db = TestDb::new(backend).await?;
    if backend == Backend::Postgres {
        migration(&db.url, &["up"]).await.success();
    }
    Some(db)
}

/// The output lines, each split into outcome, kind and id (the last word), key in between.
fn records(run: &Run) -> Vec<(String, String, String, String)> {
    run.stdout
        .lines()
        .filter(|l| !l.starts_with("token "))
        .map(|line| {
            let words: Vec<&str> = line.split(' ').collect();
            assert!(words.len() >= 4, "a record line: {line}");
            (
                words[0].to_owned(),
                words[1].to_owned(),
                words[2..words.len() - 1].join(" "),
                words[words.len() - 1].to_owned(),
            )
        })
        .collect()
}

/// The one record a single-record command printed: (outcome, kind, key, id).
#[track_caller]
fn single(run: &Run) -> (String, String, String, String) {
    let mut all = records(run);
    assert_eq!(all.len(), 1, "one record line:\n{}", run.stdout);
    all.remove(0)
}

/// Every row of the directory's tables with its `updated_at`: what a re-run must leave alone.
async fn snapshot(db: &TestDb) -> Vec<String> {
    let conn = db.connect().await;
    let mut rows = Vec::new();
    for (table, columns) in [
        (
            "organizations",
            "id || '|' || slug || '|' || name || '|' || COALESCE(headquarters_country_id, '-')",
        ),
        (
            "users",
            "id || '|' || COALESCE(organization_id, '-') || '|' || email || '|' || name",
        ),
        (
            "purposes",
            "id || '|' || organization_id || '|' || name || '|' || COALESCE(description, '-') || '|' || CAST(is_active AS TEXT)",
        ),
        (
            "data_processing_activities",
            "id || '|' || organization_id || '|' || name || '|' || COALESCE(description, '-') || '|' || status",
        ),
    ] {
        let sql = format!(
            "SELECT '{table}|' || {columns} || '|' || CAST(updated_at AS TEXT) FROM {table} ORDER BY id"
        );
        rows.extend(strings(&conn, &sql).await);
    }
    conn.close().await.ok();
    rows
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    let conn = db.connect().await;
    let n = scalar_i64(&conn, sql).await;
    conn.close().await.ok();
    n
}

#[track_caller]
fn failed_naming(run: &Run, place: &str) {
    assert_eq!(
        run.code,
        Some(1),
        "expected exit 1\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("{place}: ")),
        "the error names {place}:\n{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "nothing reported as done:\n{}",
        run.stdout
    );
}

/// A file in the temporary folder, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn json(doc: &Value) -> Self {
        Self::text(&doc.to_string())
    }

    fn text(text: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "dai_test_admin_{}.json",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn directory() -> Value {
    json!({"organizations": [
        {
            "slug": "acme", "name": "Acme GmbH", "headquarters": "DE",
            "users": [
                {"email": "ann@acme.example", "name": "Ann Example"},
                {"email": "bob@acme.example", "name": "Bob Example"}
            ],
            "purposes": [{"name": "Billing", "description": "Invoices and reminders"}],
            "activities": [
                {"name": "Payroll", "description": "Monthly pay", "status": "ACTIVE"},
                {"name": "Newsletter"}
            ]
        },
        {
            "slug": "globex", "name": "Globex SA", "headquarters": "fr",
            "users": [{"email": "Gina@Globex.example", "name": "Gina"}]
        }
    ]})
}

on_both_backends!(
    records_are_created_then_updated_and_a_rerun_changes_nothing,
    an_import_is_applied_whole_and_a_second_run_changes_nothing,
    an_import_with_one_bad_record_writes_nothing_and_names_it,
    an_email_of_another_organizations_user_is_refused_clearly,
    a_printed_token_authenticates_and_the_smoke_test_passes,
    bad_flags_are_refused_naming_the_flag_and_nothing_is_written,
    a_dry_run_reports_what_would_change_and_writes_nothing,
);

async fn records_are_created_then_updated_and_a_rerun_changes_nothing(backend: Backend) {
    let Some(db) = database(backend).await else {
        return;
    };
    let org = [
        "org",
        "--slug",
        "acme",
        "--name",
        "Acme GmbH",
        "--headquarters",
        "de",
    ];
    let user = [
        "user",
        "--org",
        "acme",
        "--email",
        "Ann@Acme.example",
        "--name",
        "Ann",
    ];
    let purpose = [
        "purpose",
        "--org",
        "acme",
        "--name",
        "Billing",
        "--description",
        "Invoices",
    ];
    let activity = ["activity", "--org", "acme", "--name", "Payroll"];

    let (outcome, kind, key, org_id) = single(&admin(&db, &org).await.success());
    assert_eq!(
        (&*outcome, &*kind, &*key),
        ("created", "organization", "acme")
    );
    let (outcome, kind, key, user_id) = single(&admin(&db, &user).await.success());
    assert_eq!((&*outcome, &*kind), ("created", "user"));
    assert_eq!(key, "ann@acme.example", "e-mails are stored in lower case");
    // `--org` takes the id as well as the slug.
    let by_id = [
        "purpose",
        "--org",
        &org_id,
        "--name",
        "Billing",
        "--description",
        "Invoices",
    ];
    let (outcome, kind, key, _) = single(&admin(&db, &by_id).await.success());
    assert_eq!(
        (&*outcome, &*kind, &*key),
        ("created", "purpose", "Billing")
    );
    let (outcome, kind, key, _) = single(&admin(&db, &activity).await.success());
    assert_eq!(
        (&*outcome, &*kind, &*key),
        ("created", "activity", "Payroll")
    );

    let conn = db.connect().await;
    let row = strings(
        &conn,
        &format!(
            "SELECT name || '|' || headquarters_country_id FROM organizations WHERE id = '{org_id}'"
        ),
    )
    .await;
    assert_eq!(row, ["Acme GmbH|DE"], "the country id in its stored case");
    let row = strings(&conn, "SELECT status FROM data_processing_activities").await;
    assert_eq!(row, ["DRAFT"], "an activity starts as a draft");
    let row = strings(
        &conn,
        &format!("SELECT organization_id FROM users WHERE id = '{user_id}'"),
    )
    .await;
    assert_eq!(row, [org_id.as_str()]);
    conn.close().await.ok();

    // Again, as given or with keys written differently: nothing changes, not even updated_at.
    let before = snapshot(&db).await;
    let user_again = [
        "user",
        "--org",
        "acme",
        "--email",
        "ANN@acme.example",
        "--name",
        "Ann",
    ];
    let no_name = ["user", "--org", "acme", "--email", "ann@acme.example"];
    for args in [&org[..], &user, &user_again, &no_name, &purpose, &activity] {
        let (outcome, _, _, _) = single(&admin(&db, args).await.success());
        assert_eq!(outcome, "unchanged", "{args:?}");
    }
    assert_eq!(snapshot(&db).await, before, "a re-run wrote nothing");

    // A changed field is updated, and only the record it belongs to.
    let rename = [
        "org",
        "--slug",
        "acme",
        "--name",
        "Acme SE",
        "--headquarters",
        "FR",
    ];
    let (outcome, _, _, id) = single(&admin(&db, &rename).await.success());
    assert_eq!((&*outcome, &*id), ("updated", org_id.as_str()));
    let activate = [
        "activity", "--org", "acme", "--name", "Payroll", "--status", "active",
    ];
    assert_eq!(single(&admin(&db, &activate).await.success()).0, "updated");
    let clear = [
        "purpose",
        "--org",
        "acme",
        "--name",
        "Billing",
        "--description",
        "",
    ];
    assert_eq!(single(&admin(&db, &clear).await.success()).0, "updated");
    let after = snapshot(&db).await;
    let changed: Vec<&String> = after.iter().filter(|r| !before.contains(r)).collect();
    assert_eq!(changed.len(), 3, "{changed:#?}");
    assert!(changed[0].contains("|acme|Acme SE|FR|"), "{}", changed[0]);
    assert!(changed[1].contains("|Billing|-|"), "{}", changed[1]);
    assert!(changed[2].contains("|Payroll|-|ACTIVE|"), "{}", changed[2]);
    let user_row = before.iter().find(|r| r.starts_with("users|")).unwrap();
    assert!(after.contains(user_row), "the user was not touched");
}

async fn an_import_is_applied_whole_and_a_second_run_changes_nothing(backend: Backend) {
    let Some(db) = database(backend).await else {
        return;
    };
    let file = TempFile::json(&directory());
    let first = admin(&db, &["import", file.path()]).await.success();
    let lines = records(&first);
    let summary: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|(o, k, key, _)| (o.as_str(), k.as_str(), key.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("created", "organization", "acme"),
            ("created", "user", "ann@acme.example"),
            ("created", "user", "bob@acme.example"),
            ("created", "purpose", "Billing"),
            ("created", "activity", "Payroll"),
            ("created", "activity", "Newsletter"),
            ("created", "organization", "globex"),
            ("created", "user", "gina@globex.example"),
        ]
    );
    assert!(
        first.stderr.contains("8 created, 0 updated, 0 unchanged"),
        "{}",
        first.stderr
    );
    let before = snapshot(&db).await;
    assert_eq!(before.len(), 8);

    let second = admin(&db, &["--json", "import", file.path()])
        .await
        .success();
    let doc: Value = serde_json::from_str(&second.stdout).expect("one JSON document");
    let changes = doc["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 8);
    for (change, (_, _, _, id)) in changes.iter().zip(&lines) {
        assert_eq!(change["outcome"], "unchanged", "{change}");
        assert_eq!(change["id"], id.as_str());
    }
    assert_eq!(doc["dry_run"], false);
    assert_eq!(snapshot(&db).await, before, "the second run wrote nothing");
}

async fn an_import_with_one_bad_record_writes_nothing_and_names_it(backend: Backend) {
    let Some(db) = database(backend).await else {
        return;
    };
    // Refused by the input rules, before the database is asked anything.
    let mut doc = directory();
    doc["organizations"][0]["users"]
        .as_array_mut()
        .unwrap()
        .push(json!({"email": "carol at acme", "name": "Carol"}));
    let file = TempFile::json(&doc);
    let run = admin(&db, &["import", file.path()]).await;
    failed_naming(&run, "organizations[0].users[2].email");
    assert!(
        run.stderr.contains(file.path()),
        "the file is named: {}",
        run.stderr
    );

    // Refused by the database, after the first organization and its records were written in
    // the same transaction: they are rolled back.
    let mut doc = directory();
    doc["organizations"][1]["headquarters"] = json!("ZZ");
    let file = TempFile::json(&doc);
    let run = admin(&db, &["import", file.path()]).await;
    failed_naming(&run, "organizations[1].headquarters");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM organizations").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM users").await, 0);

    // With data in place: updates and creations before the bad record are not kept either.
    let good = TempFile::json(&directory());
    admin(&db, &["import", good.path()]).await.success();
    let before = snapshot(&db).await;
    let mut doc = directory();
    doc["organizations"][0]["name"] = json!("Acme SE");
    doc["organizations"][0]["users"][0]["name"] = json!("Ann Renamed");
    doc["organizations"][1]["users"]
        .as_array_mut()
        .unwrap()
        .push(json!({"email": "new@globex.example", "name": "New"}));
    doc["organizations"][1]["activities"] = json!([{"name": "Audit", "status": "ARCHIVED"}]);
    let file = TempFile::json(&doc);
    let run = admin(&db, &["import", file.path()]).await;
    failed_naming(&run, "organizations[1].activities[0].status");
    assert_eq!(
        snapshot(&db).await,
        before,
        "nothing of the failed import was kept"
    );

    // A record listed twice, an unknown field, and a syntax error are named as well.
    let mut doc = directory();
    doc["organizations"][1]["users"][0]["email"] = json!("BOB@acme.example");
    let file = TempFile::json(&doc);
    failed_naming(
        &admin(&db, &["import", file.path()]).await,
        "organizations[1].users[0].email",
    );
    let mut doc = directory();
    doc["organizations"][0]["purposes"][0]["descripton"] = json!("typo");
    let file = TempFile::json(&doc);
    failed_naming(
        &admin(&db, &["import", file.path()]).await,
        "organizations[0].purposes[0].descripton",
    );
    let file =
        TempFile::text("{\"organizations\": [\n  {\"slug\": \"acme\"\n  \"name\": \"A\"}\n]}");
    let run = admin(&db, &["import", file.path()]).await;
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("line 3"), "{}", run.stderr);
    assert_eq!(snapshot(&db).await, before);
}

async fn an_email_of_another_organizations_user_is_refused_clearly(backend: Backend) {
    let Some(db) = database(backend).await else {
        return;
    };
    for slug in ["acme", "globex"] {
        admin(&db, &["org", "--slug", slug, "--name", slug])
            .await
            .success();
    }
    let ann = [
        "user",
        "--org",
        "acme",
        "--email",
        "ann@shared.example",
        "--name",
        "Ann",
    ];
    admin(&db, &ann).await.success();
    let before = snapshot(&db).await;

    // However it is written: e-mails are stored in lower case, and users.email is unique
    // across organizations.
    let run = admin(
        &db,
        &[
            "user",
            "--org",
            "globex",
            "--email",
            "ANN@shared.example",
            "--name",
            "Ann",
        ],
    )
    .await;
    failed_naming(&run, "--email");
    assert!(
        run.stderr.contains("another organization"),
        "{}",
        run.stderr
    );
    for database_text in [
        "duplicate key",
        "UNIQUE constraint",
        "SQLSTATE",
        "users_email",
        "internal",
    ] {
        assert!(!run.stderr.contains(database_text), "{}", run.stderr);
    }

    // In an import, after a new organization was written in the same transaction.
    let file = TempFile::json(&json!({"organizations": [
        {"slug": "initech", "name": "Initech", "users": [{"email": "ann@shared.example", "name": "Ann"}]}
    ]}));
    let run = admin(&db, &["import", file.path()]).await;
    failed_naming(&run, "organizations[0].users[0].email");
    assert!(
        run.stderr.contains("another organization"),
        "{}",
        run.stderr
    );
    assert_eq!(
        snapshot(&db).await,
        before,
        "neither globex's user nor initech was written"
    );
}

async fn a_printed_token_authenticates_and_the_smoke_test_passes(backend: Backend) {
    let Some(db) = database(backend).await else {
        return;
    };
    admin(&db, &["org", "--slug", "acme", "--name", "Acme GmbH"])
        .await
        .success();
    for name in ["Payroll", "Customer support"] {
        admin(&db, &["activity", "--org", "acme", "--name", name])
            .await
            .success();
    }
    let run = admin(
        &db,
        &[
            "user",
            "--org",
            "acme",
            "--email",
            "ann@acme.example",
            "--name",
            "Ann",
            "--token",
            "--ttl-hours",
            "2",
        ],
    )
    .await
    .success();
    let token = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("token "))
        .expect("a token line")
        .to_owned();
    // The import prints one too, for the user it names.
    let file = TempFile::json(&json!({"organizations": [
        {"slug": "globex", "name": "Globex", "users": [{"email": "gina@globex.example", "name": "Gina"}],
         "activities": [{"name": "Globex audit"}]}
    ]}));
    let run = admin(
        &db,
        &["import", file.path(), "--token-for", "GINA@globex.example"],
    )
    .await
    .success();
    let globex = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("token "))
        .expect("a token line")
        .to_owned();

    let api = Api::on(db).await;
    let query = "{ dataProcessingActivities { name } }";
    let answer = api.gql(&token, query, Value::Null).await;
    assert_eq!(answer.status, 200, "{:#}", answer.body);
    assert_eq!(
        answer.data()["dataProcessingActivities"],
        json!([{"name": "Customer support"}, {"name": "Payroll"}])
    );
    let answer = api.gql(&globex, query, Value::Null).await;
    assert_eq!(
        answer.data()["dataProcessingActivities"],
        json!([{"name": "Globex audit"}]),
        "each token sees its own organization"
    );
    let smoke = migration(&api.db.url, &["smoke"]).await.success();
    assert!(
        smoke.stdout.contains("smoke test passed"),
        "{}",
        smoke.stdout
    );
}

async fn bad_flags_are_refused_naming_the_flag_and_nothing_is_written(backend: Backend) {
    let Some(db) = database(backend).await else {
        return;
    };
    let cases: &[(&[&str], &str)] = &[
        (&["org", "--slug", "Acme GmbH", "--name", "Acme"], "--slug"),
        (&["org", "--slug", "acme"], "--name"),
        (&["org", "--slug", "acme", "--name", "  "], "--name"),
        (
            &[
                "org",
                "--slug",
                "acme",
                "--name",
                "Acme",
                "--headquarters",
                "XX",
            ],
            "--headquarters",
        ),
        (
            &[
                "user",
                "--org",
                "acme",
                "--email",
                "a@acme.example",
                "--name",
                "A",
            ],
            "--org",
        ),
        (&["activity", "--org", "nope", "--name", "Payroll"], "--org"),
    ];
    for (args, flag) in cases {
        failed_naming(&admin(&db, args).await, flag);
    }
    admin(&db, &["org", "--slug", "acme", "--name", "Acme"])
        .await
        .success();
    let before = snapshot(&db).await;
    let long = "x".repeat(256);
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "user",
                "--org",
                "acme",
                "--email",
                "not-an-address",
                "--name",
                "A",
            ],
            "--email",
        ),
        (
            &["user", "--org", "acme", "--email", "new@acme.example"],
            "--name",
        ),
        (&["purpose", "--org", "acme", "--name", &long], "--name"),
        (
            &[
                "activity", "--org", "acme", "--name", "Payroll", "--status", "ARCHIVED",
            ],
            "--status",
        ),
    ];
    for (args, flag) in cases {
        failed_naming(&admin(&db, args).await, flag);
    }
    // A usage error is clap's: exit 2.
    let run = admin(
        &db,
        &[
            "purpose", "--org", "acme", "--name", "A", "--active", "maybe",
        ],
    )
    .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert_eq!(snapshot(&db).await, before);

    if backend == Backend::Postgres {
        // A token needs AUTH_JWT_SECRET outside the embedded default: refused before writing.
        let run = admin_with(
            &[("DATABASE_URL", db.url.as_str())],
            &[
                "user",
                "--org",
                "acme",
                "--email",
                "t@acme.example",
                "--name",
                "T",
                "--token",
            ],
        )
        .await;
        assert_eq!(run.code, Some(1));
        assert!(run.stderr.contains("AUTH_JWT_SECRET"), "{}", run.stderr);
        assert_eq!(snapshot(&db).await, before);
    }
}

async fn a_dry_run_reports_what_would_change_and_writes_nothing(backend: Backend) {
    let Some(db) = database(backend).await else {
        return;
    };
    let file = TempFile::json(&directory());
    let run = admin(&db, &["--dry-run", "import", file.path()])
        .await
        .success();
    assert_eq!(records(&run).len(), 8);
    assert!(records(&run).iter().all(|r| r.0 == "created"));
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM organizations").await, 0);
}

#[tokio::test]
async fn postgres_with_pending_migrations_is_refused_until_migration_up() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let run = admin(&db, &["org", "--slug", "acme", "--name", "Acme"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("run `migration up` first"),
        "{}",
        run.stderr
    );
    let tables = count(
        &db,
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .await;
    assert_eq!(tables, 0, "the database was left as it was");
    migration(&db.url, &["up"]).await.success();
    let run = admin(&db, &["org", "--slug", "acme", "--name", "Acme"])
        .await
        .success();
    assert_eq!(single(&run).0, "created");
}

#[tokio::test]
async fn on_the_embedded_default_the_data_folder_is_migrated_and_its_token_works() {
    let dir =
        std::env::temp_dir().join(format!("dai_test_admin_{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.to_str().unwrap();
    let envs = [("DATA_DIR", data)];
    admin_with(&envs, &["org", "--slug", "acme", "--name", "Acme GmbH"])
        .await
        .success();
    admin_with(&envs, &["activity", "--org", "acme", "--name", "Payroll"])
        .await
        .success();
    let run = admin_with(
        &envs,
        &[
            "user",
            "--org",
            "acme",
            "--email",
            "ann@acme.example",
            "--name",
            "Ann",
            "--token",
        ],
    )
    .await
    .success();
    let token = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("token "))
        .expect("a token signed with the data folder's secret")
        .to_owned();
    assert!(Path::new(data).join("inventory.db").exists());

    let (child, base, banner) = start_api(&envs, None).await;
    assert!(
        !banner.contains("demo organization token"),
        "no demo organization beside the operator's own:\n{banner}"
    );
    let answer: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .json(&json!({"query": "{ dataProcessingActivities { name } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["data"]["dataProcessingActivities"],
        json!([{"name": "Payroll"}]),
        "{answer:#}"
    );
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_first_run_script_goes_from_an_empty_postgres_to_a_first_query() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let api = binary("api");
    let migration_bin = binary("migration");
    let out = tokio::process::Command::new("bash")
        .arg(root.join("scripts/first-run-postgres"))
        .arg(&db.url)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .env("AUTH_JWT_SECRET", SECRET)
        .env("API_BIN", &api)
        .env("MIGRATION_BIN", &migration_bin)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run scripts/first-run-postgres");
    let run = Run::from(out).success();
    for step in [
        "created organization acme",
        "created user admin@acme.example",
        "\"createDigitalAsset\"",
        "\"totalCount\":1",
        "smoke test passed",
    ] {
        assert!(run.stdout.contains(step), "{step}:\n{}", run.stdout);
    }
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM organizations WHERE slug = 'acme'"
        )
        .await,
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM digital_assets").await,
        0,
        "the first asset was deleted again"
    );
    // The token it prints last authenticates against a server on that database.
    let token = run.stdout.lines().last().unwrap().trim().to_owned();
    let api = Api::on(db).await;
    let answer = api
        .gql(&token, "{ digitalAssets { totalCount } }", Value::Null)
        .await;
    assert_eq!(answer.data()["digitalAssets"]["totalCount"], 0);
}
