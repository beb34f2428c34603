//! The attackers of `bench abuse`: plain tokio tasks sending GraphQL requests the API must
//! refuse or shed, and connections that never finish a request. Each loop ends when told to
//! stop, at a hard deadline, or after a bounded number of rounds, whichever comes first.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::load::{self, Answer};

/// Most rounds (a request, or a connection's life) any attacker makes.
const MAX_ROUNDS: u64 = 1_000_000;

/// How long a connection that never completes a request may stay open before the attack counts
/// it as a success of its own (the API closes it after HTTP_HEADER_TIMEOUT, 10 s by default).
pub const HELD_TOO_LONG: Duration = Duration::from_secs(25);

/// How long an attacker waits for an answer (the API's REQUEST_TIMEOUT is 30 s by default).
const ANSWER_WAIT: Duration = Duration::from_secs(45);

/// A pause after a failed connect, so that a refusing server is not hammered in a spin.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

/// When the attackers stop: when told, or at a hard deadline.
#[derive(Clone)]
pub struct Stop {
    rx: watch::Receiver<bool>,
    deadline: Instant,
}

impl Stop {
    /// A stop signal (send `true`, or drop the sender) and the attackers' side of it.
    pub fn new(deadline: Instant) -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self { rx, deadline })
    }

    fn done(&self) -> bool {
        *self.rx.borrow() || Instant::now() >= self.deadline
    }

    /// Completes when the attackers must stop.
    pub async fn stopped(&self) {
        let mut rx = self.rx.clone();
        let _ = tokio::time::timeout_at(self.deadline.into(), rx.wait_for(|stop| *stop)).await;
    }

    /// Sleeps for `d`; false when told to stop meanwhile.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => !self.done(),
            () = self.stopped() => false,
        }
    }
}

/// What one attack is.
#[derive(Debug, Clone, Copy, Default)]
pub struct About {
    /// The attack's number in the hardening issue.
    pub number: u32,
    pub name: &'static str,
    pub what: &'static str,
    pub from: &'static str,
    pub clients: usize,
    /// What the API is expected to answer.
    pub expected: &'static str,
}

/// What one attack did. Requests (or connections) still in flight when the attack stops count
/// as sent only.
#[derive(Debug, Default)]
pub struct Tally {
    pub about: About,
    sent: AtomicU64,
    refused: AtomicU64,
    unexpected: AtomicU64,
    first_unexpected: Mutex<Option<String>>,
}

/// A snapshot of a [`Tally`].
#[derive(Debug, Clone)]
pub struct Counts {
    pub about: About,
    pub sent: u64,
    pub refused: u64,
    pub unexpected: u64,
    pub first_unexpected: Option<String>,
}

impl Tally {
    pub fn new(about: About) -> Arc<Self> {
        Arc::new(Self {
            about,
            ..Self::default()
        })
    }

    fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    fn judged(&self, verdict: Result<(), String>) {
        match verdict {
            Ok(()) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
            Err(what) => {
                self.unexpected.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_unexpected.lock() {
                    first.get_or_insert(what);
                }
            }
        }
    }

    pub fn counts(&self) -> Counts {
        Counts {
            about: self.about,
            sent: self.sent.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            unexpected: self.unexpected.load(Ordering::Relaxed),
            first_unexpected: self.first_unexpected.lock().ok().and_then(|f| f.clone()),
        }
    }
}

/// The answers an attack expects: GraphQL errors, each with one of `codes` (and `message` in
/// its text), or, when `shed`, HTTP 503 with Retry-After.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    pub codes: &'static [&'static str],
    pub message: Option<&'static str>,
    pub shed: bool,
}

impl Expect {
    fn judge(&self, answer: &Answer) -> Result<(), String> {
        let text = || {
            let end = answer.body.len().min(200);
            format!(
                "HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body[..end])
            )
        };
        if answer.status == hyper::StatusCode::SERVICE_UNAVAILABLE {
            if self.shed && answer.retry_after {
                return Ok(());
            }
            return Err(format!("{} (Retry-After: {})", text(), answer.retry_after));
        }
        let value: Value = serde_json::from_slice(&answer.body).map_err(|_| text())?;
        let errors = value["errors"]
            .as_array()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| format!("accepted: {}", text()))?;
        let fits = |e: &Value| {
            let code = e["extensions"]["code"].as_str().unwrap_or_default();
            let message = e["message"].as_str().unwrap_or_default();
            self.codes.contains(&code) && self.message.is_none_or(|m| message.contains(m))
        };
        if errors.iter().all(fits) {
            Ok(())
        } else {
            Err(text())
        }
    }
}

/// One client sending `body` as `token` again and again on a kept-alive connection, judging
/// each answer by `expect`.
pub async fn requests(
    addr: SocketAddr,
    token: String,
    body: Bytes,
    expect: Expect,
    tally: Arc<Tally>,
    stop: Stop,
) {
    let mut sender = None;
    for _ in 0..MAX_ROUNDS {
        if stop.done() {
            break;
        }
        let client = match sender.take().filter(|s: &load::Sender| !s.is_closed()) {
            Some(client) => sender.insert(client),
            None => match load::connect(addr).await {
                Ok(client) => sender.insert(client),
                Err(e) => {
                    tally.sent();
                    tally.judged(Err(e.to_string()));
                    stop.sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };
        tally.sent();
        let answer = tokio::select! {
            answer = tokio::time::timeout(ANSWER_WAIT, load::post(client, &token, body.clone())) => answer,
            () = stop.stopped() => break,
        };
        tally.judged(match answer {
            Ok(Ok(answer)) => expect.judge(&answer),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no answer within {ANSWER_WAIT:?}")),
        });
    }
}

/// A connection that sends nothing, opened again each time the API closes it (as it should,
/// after HTTP_HEADER_TIMEOUT); one still open after [`HELD_TOO_LONG`] is unexpected.
pub async fn idle(addr: SocketAddr, start_after: Duration, tally: Arc<Tally>, stop: Stop) {
    connections(addr, start_after, tally, stop, |mut stream| async move {
        let (mut reader, _writer) = stream.split();
        tokio::select! {
            () = closed(&mut reader) => Ok(()),
            () = tokio::time::sleep(HELD_TOO_LONG) => Err(held_too_long("an idle connection")),
        }
    })
    .await;
}

/// A connection that sends a request's headers one byte a second (slowloris), opened again
/// each time the API closes it.
pub async fn slowloris(addr: SocketAddr, start_after: Duration, tally: Arc<Tally>, stop: Stop) {
    const HEADER: &[u8] = b"POST /graphql HTTP/1.1\r\nHost: bench\r\nX-Slow: ";
    connections(addr, start_after, tally, stop, |mut stream| async move {
        let opened = Instant::now();
        let (mut reader, mut writer) = stream.split();
        let trickle = async {
            for i in 0..=HELD_TOO_LONG.as_secs() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let byte = usize::try_from(i)
                    .ok()
                    .and_then(|i| HEADER.get(i))
                    .copied()
                    .unwrap_or(b'a');
                if writer.write_all(&[byte]).await.is_err() || opened.elapsed() > HELD_TOO_LONG {
                    break;
                }
            }
        };
        tokio::select! {
            () = closed(&mut reader) => Ok(()),
            // A failed write: the API closed the connection.
            () = trickle => if opened.elapsed() > HELD_TOO_LONG {
                Err(held_too_long("a slowloris connection"))
            } else {
                Ok(())
            },
        }
    })
    .await;
}

/// Opens connections one after the other, each judged by `hold` (which returns when the API
/// closed it, or when it stayed open too long).
async fn connections<F, H>(
    addr: SocketAddr,
    start_after: Duration,
    tally: Arc<Tally>,
    stop: Stop,
    hold: H,
) where
    H: Fn(TcpStream) -> F,
    F: std::future::Future<Output = Result<(), String>>,
{
    if !stop.sleep(start_after).await {
        return;
    }
    for _ in 0..MAX_ROUNDS {
        if stop.done() {
            break;
        }
        tally.sent();
        let stream = match TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(e) => {
                tally.judged(Err(format!("connect: {e}")));
                stop.sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        tokio::select! {
            verdict = hold(stream) => tally.judged(verdict),
            () = stop.stopped() => break,
        }
    }
}

fn held_too_long(what: &str) -> String {
    format!("{what} was still open after {HELD_TOO_LONG:?}")
}

/// Completes when the peer has closed the connection (reading and dropping whatever it sent,
/// such as a 408).
async fn closed(reader: &mut tokio::net::tcp::ReadHalf<'_>) {
    let mut buf = [0u8; 1024];
    for _ in 0..MAX_ROUNDS {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: bool, body: &str) -> Answer {
        Answer {
            status: hyper::StatusCode::from_u16(status).unwrap_or_default(),
            retry_after,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn only_the_expected_refusals_count_as_refused() {
        let expect = Expect {
            codes: &["LOCK_TIMEOUT"],
            message: None,
            shed: true,
        };
        let locked =
            r#"{"data":null,"errors":[{"message":"x","extensions":{"code":"LOCK_TIMEOUT"}}]}"#;
        assert!(expect.judge(&answer(200, false, locked)).is_ok());
        assert!(expect.judge(&answer(503, true, "{}")).is_ok());
        assert!(expect.judge(&answer(503, false, "{}")).is_err());
        assert!(
            expect
                .judge(&answer(200, false, r#"{"data":{"x":1}}"#))
                .is_err()
        );
        let internal =
            r#"{"errors":[{"message":"x","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#;
        assert!(expect.judge(&answer(200, false, internal)).is_err());
        let worded = Expect {
            codes: &["BAD_USER_INPUT"],
            message: Some("too complex"),
            shed: false,
        };
        let complex = r#"{"errors":[{"message":"Query is too complex.","extensions":{"code":"BAD_USER_INPUT"}}]}"#;
        assert!(worded.judge(&answer(200, false, complex)).is_ok());
        assert!(worded.judge(&answer(503, true, "{}")).is_err());
    }
}
