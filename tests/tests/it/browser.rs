//! What a frontend developer sees, in a real browser with no network beyond loopback: GraphiQL
//! served by the binary runs a query with the demo token, and a page of another origin calls
//! the API with `fetch` and a bearer token (CORS). Screenshots land in `target/tmp/screenshots/`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::browser::Browser;
use crate::support::*;

/// Starts the embedded default in a folder of its own; returns it with its demo token.
async fn embedded(
    envs: &[(&str, &str)],
) -> (tokio::process::Child, String, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "dai_test_browser_{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (child, base, banner) = start_api(envs, Some(&dir)).await;
    let token = banner
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the banner prints the demo token")
        .to_owned();
    (child, base, token, dir)
}

#[tokio::test]
async fn graphiql_runs_a_query_with_the_demo_token_offline() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let (_api, base, _token, dir) = embedded(&[]).await;
    browser.goto(&format!("{base}/graphql")).await;
    browser
        .wait_for(
            "return !!document.querySelector('.graphiql-execute-button')",
            Duration::from_secs(30),
            "GraphiQL to render",
        )
        .await;
    // The editor holds the default query; the Headers tab the demo token. Run it.
    browser
        .eval("document.querySelector('.graphiql-execute-button').click(); return true")
        .await;
    browser
        .wait_for(
            "return document.body.innerText.includes('\"totalCount\": 6')",
            Duration::from_secs(30),
            "the answer with the demo organization's six assets",
        )
        .await;
    let shot = browser.screenshot("graphiql.png").await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    // Everything the page loaded came from the API itself.
    let foreign = browser
        .eval(&format!(
            "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('{base}'))"
        ))
        .await;
    assert_eq!(
        foreign,
        serde_json::json!([]),
        "resources from elsewhere: {foreign}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Serves one HTML page on a port of its own (another origin than the API's).
async fn serve_page(html: String) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        for _ in 0..20 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut request = vec![0u8; 8192];
            let _ = stream.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    (format!("localhost:{port}"), server)
}

fn app_page(api: &str, token: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Inventory app</title>
<style>body {{ font: 16px sans-serif; margin: 2em; }} li {{ margin: .2em 0; }}</style></head>
<body><h1>Our digital assets</h1><p id="status">loading…</p><ul id="assets"></ul>
<script>
fetch("{api}/graphql", {{
  method: "POST",
  headers: {{ "Authorization": "Bearer {token}", "Content-Type": "application/json" }},
  body: JSON.stringify({{ query: "{{ digitalAssets(first: 10) {{ totalCount nodes {{ name type }} }} }}" }})
}}).then(r => r.json()).then(body => {{
  const list = body.data.digitalAssets;
  document.getElementById("status").textContent = list.totalCount + " assets (via CORS)";
  for (const a of list.nodes) {{
    const li = document.createElement("li");
    li.textContent = a.name + " — " + a.type;
    document.getElementById("assets").appendChild(li);
  }}
}}).catch(e => {{ document.getElementById("status").textContent = "blocked: " + e; }});
</script></body></html>"#
    )
}

#[tokio::test]
async fn a_page_of_another_origin_calls_the_api_with_a_token_when_its_origin_is_allowed() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    // The embedded default allows http://localhost:* and http://127.0.0.1:*.
    let (_api, base, token, dir) = embedded(&[]).await;
    let (page, _server) = serve_page(app_page(&base, &token)).await;
    browser.goto(&format!("http://{page}/")).await;
    browser
        .wait_for(
            "return document.getElementById('status').textContent.includes('6 assets')",
            Duration::from_secs(30),
            "the app to render the API's answer",
        )
        .await;
    let items = browser
        .eval("return document.querySelectorAll('#assets li').length")
        .await;
    assert_eq!(items, 6);
    browser.screenshot("cors-allowed.png").await;
    let _ = std::fs::remove_dir_all(&dir);

    // The same page from an origin the server does not allow is blocked by the browser.
    let (_api, base, token, dir) =
        embedded(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;
    let (page, _server) = serve_page(app_page(&base, &token)).await;
    browser.goto(&format!("http://{page}/")).await;
    browser
        .wait_for(
            "return document.getElementById('status').textContent.startsWith('blocked')",
            Duration::from_secs(30),
            "the browser to block the call",
        )
        .await;
    browser.screenshot("cors-refused.png").await;
    let _ = std::fs::remove_dir_all(&dir);
}
