//! The `api` binary, started on a free port against a test database.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{Backend, TestDb, binary, exec};

/// The secret the test servers sign tokens with.
pub const SECRET: &str = "test-secret-that-is-long-enough";

/// A running API server and its database.
pub struct Api {
    pub db: TestDb,
    pub base: String,
    http: reqwest::Client,
    child: Child,
}

/// One organization of a test: its ids and a token.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: String,
    pub user: String,
    pub purpose: String,
    pub activities: [String; 2],
    pub token: String,
}

/// A GraphQL answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// `data`, panicking with the errors if there are any.
    #[track_caller]
    pub fn data(&self) -> &Value {
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {:#}",
            self.body
        );
        &self.body["data"]
    }

    /// The first error's `extensions.code`.
    pub fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<none>")
    }

    /// The first error's message.
    pub fn message(&self) -> &str {
        self.body["errors"][0]["message"]
            .as_str()
            .unwrap_or("<none>")
    }
}

/// Signs a token for `org` / `sub` with `secret`, valid for an hour.
pub fn token_for(secret: &str, org: &str, sub: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": sub, "org_id": org, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Starts `api` with `envs` and waits for its banner; returns the child and its base URL.
pub async fn start_api(
    envs: &[(&str, &str)],
    cwd: Option<&std::path::Path>,
) -> (Child, String, String) {
    start_api_under(&[], envs, cwd).await
}

/// [`start_api`] under a wrapper command, e.g. `prlimit --nofile=1024:1024`.
pub async fn start_api_under(
    wrapper: &[&str],
    envs: &[(&str, &str)],
    cwd: Option<&std::path::Path>,
) -> (Child, String, String) {
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(binary("api"));
            cmd
        }
        None => Command::new(binary("api")),
    };
    cmd.env_remove("DATABASE_URL")
        .env_remove("AUTH_JWT_SECRET")
        .env_remove("MIMALLOC_ALLOW_THP")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().expect("start the api binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = String::new();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            banner.push_str(&line);
            banner.push('\n');
            if let Some(addr) = line.strip_prefix("digital-asset inventory API listening on ") {
                return addr.trim().to_owned();
            }
        }
        panic!("api exited before listening:\n{banner}");
    })
    .await
    .expect("api listening within a minute");
    // Keep reading the banner's remaining lines (the demo token) without blocking the server.
    let mut rest = String::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
    {
        rest.push_str(&line);
        rest.push('\n');
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base, banner + &rest)
}

impl Api {
    /// A migrated database of `backend` and a server on it.
    pub async fn start(backend: Backend) -> Option<Self> {
        let db = TestDb::migrated(backend).await?;
        Some(Self::on(db).await)
    }

    /// A migrated database of `backend` and a server on it with extra settings.
    pub async fn start_with(backend: Backend, envs: &[(&str, &str)]) -> Option<Self> {
        let db = TestDb::migrated(backend).await?;
        Some(Self::on_with(db, envs).await)
    }

    /// A server on an existing database.
    pub async fn on(db: TestDb) -> Self {
        Self::on_with(db, &[]).await
    }

    /// A server on an existing database, with extra settings.
    pub async fn on_with(db: TestDb, envs: &[(&str, &str)]) -> Self {
        Self::under(db, &[], envs).await
    }

    /// A server on an existing database, started under `wrapper` with extra settings.
    pub async fn under(db: TestDb, wrapper: &[&str], envs: &[(&str, &str)]) -> Self {
        let mut all = vec![
            ("DATABASE_URL", db.url.as_str()),
            ("AUTH_JWT_SECRET", SECRET),
        ];
        all.extend_from_slice(envs);
        let (child, base, _) = start_api_under(wrapper, &all, None).await;
        Self {
            db,
            base,
            http: reqwest::Client::new(),
            child,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the api is running")
    }

    /// The server's resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the api's /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("a memory figure")
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The host and port the server listens on.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// Creates an organization with a user, a purpose and two activities.
    pub async fn org(&self, slug: &str) -> Org {
        let conn = self.db.connect().await;
        let id = format!("org-{slug}");
        let user = format!("user-{slug}");
        let purpose = format!("purpose-{slug}");
        let activities = [format!("act-{slug}-1"), format!("act-{slug}-2")];
        exec(
            &conn,
            &format!(
                "INSERT INTO organizations (id, name, slug) VALUES ('{id}', '{slug}', '{slug}')"
            ),
        )
        .await;
        exec(&conn, &format!("INSERT INTO users (id, organization_id, name, email) VALUES ('{user}', '{id}', 'User {slug}', '{slug}@example.com')")).await;
        exec(&conn, &format!("INSERT INTO purposes (id, organization_id, name) VALUES ('{purpose}', '{id}', 'Purpose {slug}')")).await;
        for (i, act) in activities.iter().enumerate() {
            exec(&conn, &format!("INSERT INTO data_processing_activities (id, organization_id, name) VALUES ('{act}', '{id}', 'Activity {i} of {slug}')")).await;
        }
        conn.close().await.ok();
        let token = token_for(SECRET, &id, &user);
        Org {
            id,
            user,
            purpose,
            activities,
            token,
        }
    }

    /// Posts a GraphQL request with `token`.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Answer {
        let resp = self
            .http
            .post(format!("{}/graphql", self.base))
            .bearer_auth(token)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .expect("the api answers");
        let status = resp.status().as_u16();
        Answer {
            status,
            body: resp.json().await.unwrap_or(Value::Null),
        }
    }

    /// A raw POST to /graphql with the given headers and body.
    pub async fn post_raw(&self, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.base))
            .body(body.to_owned());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("the api answers");
        let status = resp.status().as_u16();
        Answer {
            status,
            body: resp.json().await.unwrap_or(Value::Null),
        }
    }

    /// A GET, returning status and body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the api answers");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    }

    /// A GET with a bearer token: status, headers and body.
    pub async fn get_with_token(
        &self,
        token: &str,
        path: &str,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("the api answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap_or_default())
    }

    /// SQL statements the server has run so far (from /metrics).
    pub async fn statements(&self) -> u64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix("inventory_db_statements_total "))
            .and_then(|n| n.trim().parse().ok())
            .expect("the statement counter")
    }
}
