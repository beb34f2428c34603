//! Connections that send nothing, or too little too slowly, are closed; a flood of them held
//! open does not make the service unreachable.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// Reads until the server closes the connection; returns what it sent and how long it took.
async fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server kept the connection open for 20 s");
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

#[tokio::test]
async fn idle_half_sent_and_slow_connections_are_closed() {
    let Some(api) = Api::start_with(
        Backend::Sqlite,
        &[("HTTP_HEADER_TIMEOUT", "1s"), ("HTTP_BODY_TIMEOUT", "1s")],
    )
    .await
    else {
        return;
    };
    let org = api.org("a").await;
    // A bare connection that never sends a byte.
    let mut bare = TcpStream::connect(api.addr()).await.unwrap();
    // Half a request line and headers.
    let mut half_header = TcpStream::connect(api.addr()).await.unwrap();
    half_header
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Ty")
        .await
        .unwrap();
    // Complete headers, half a body.
    let mut half_body = TcpStream::connect(api.addr()).await.unwrap();
    half_body
        .write_all(
            format!(
                "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\":",
                org.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // A keep-alive connection left idle after one answer.
    let mut idle = TcpStream::connect(api.addr()).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    for (name, stream) in [
        ("bare", &mut bare),
        ("half header", &mut half_header),
        ("idle keep-alive", &mut idle),
    ] {
        let (_, took) = until_closed(stream).await;
        assert!(
            took < Duration::from_secs(10),
            "{name} closed after {took:?}"
        );
    }
    let (answer, _) = until_closed(&mut half_body).await;
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "a body too slow to arrive: {answer}"
    );
}

#[tokio::test]
async fn a_flood_of_idle_connections_does_not_make_the_service_unreachable() {
    // At most 1024 open files: a flood of 1500 connections would exhaust them.
    let db = TestDb::migrated(Backend::Sqlite).await.unwrap();
    let api = Api::under(
        db,
        &["prlimit", "--nofile=1024:1024"],
        &[("MAX_CONNECTIONS", "500"), ("HTTP_HEADER_TIMEOUT", "2s")],
    )
    .await;
    let org = api.org("a").await;
    let mut flood = Vec::new();
    for _ in 0..1500 {
        match TcpStream::connect(api.addr()).await {
            Ok(s) => flood.push(s),
            Err(e) => panic!("connect: {e}"),
        }
    }
    // The flood is still held open by this side; the service answers a new client.
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        api.gql(&org.token, "{ digitalAssets { totalCount } }", Value::Null),
    )
    .await
    .expect("the service answers while a flood of idle connections is held open");
    assert_eq!(answer.data()["digitalAssets"]["totalCount"], 0);
    drop(flood);
}

#[tokio::test]
async fn a_client_that_does_not_read_its_answer_is_cut_off() {
    let Some(api) = Api::start_with(Backend::Sqlite, &[("HTTP_WRITE_TIMEOUT", "1s")]).await else {
        return;
    };
    let org = api.org("a").await;
    // An answer of several megabytes: 40 aliases of 100 assets with 2,000-character texts.
    let conn = api.db.connect().await;
    let rows: Vec<String> = (0..100)
        .map(|i| {
            format!(
                "('asset-{i:03}', '{}', 'Asset {i:03}', 'API', '{}')",
                org.id,
                "d".repeat(2000)
            )
        })
        .collect();
    exec(
        &conn,
        &format!(
            "INSERT INTO digital_assets (id, organization_id, name, type, description) VALUES {}",
            rows.join(",")
        ),
    )
    .await;
    conn.close().await.ok();
    let query = format!(
        "{{ {} }}",
        (0..40)
            .map(|i| format!("a{i}: digitalAssets(first: 100) {{ nodes {{ description }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let body = serde_json::json!({ "query": query }).to_string();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(api.addr().parse().unwrap()).await.unwrap();
    stream
        .write_all(
            format!(
                "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                org.token,
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Not reading: the answer (about 8 MB) cannot all be written.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut received)).await;
    let text = String::from_utf8_lossy(&received);
    let length: usize = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("headers were sent");
    assert!(
        received.len() < length,
        "the whole answer ({length} bytes) was kept for a client that did not read"
    );
    // The service still answers others.
    api.gql(
        &org.token,
        "{ dataProcessingActivities { id } }",
        Value::Null,
    )
    .await
    .data();
}
