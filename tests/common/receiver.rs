//! A real local HTTP endpoint for webhook tests: records every request and answers as
//! scripted per path (a status, or a delay past the sender's timeout), then 200.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

/// How the endpoint answers one request.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Waits this long before answering 200 (longer than the sender waits).
    Hang(Duration),
}

/// One request the endpoint received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
    pub json: Value,
    pub at: Instant,
    /// The status it is answered with (200 for a hang, if the sender still waits).
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: HashMap<String, VecDeque<Answer>>,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/{path}", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver binds");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { inner, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    /// The next requests to `path` (or, keyed `path:event`, those of one event) are
    /// answered with `answers`, in order.
    pub fn script(&self, path: &str, answers: &[Answer]) {
        let mut inner = self.inner.lock().expect("lock");
        inner
            .script
            .entry(path.to_string())
            .or_default()
            .extend(answers.iter().copied());
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().expect("lock").received.clone()
    }

    /// Requests to `path`, in arrival order.
    pub fn at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits (up to 20 s) until `done` holds for the requests received.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..800 {
            let received = self.received();
            if done(&received) {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the receiver never saw {what}: {:#?}", self.received());
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let arrived = Instant::now();
    let event = headers
        .get("x-webhook-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = String::from_utf8_lossy(&body).into_owned();
    // Recorded on arrival, so a request still being answered is already seen.
    let answer = {
        let mut inner = inner.lock().expect("lock");
        let answer = [format!("{path}:{event}"), path.clone()]
            .iter()
            .find_map(|key| inner.script.get_mut(key).and_then(VecDeque::pop_front))
            .unwrap_or(Answer::Status(200));
        let status = match answer {
            Answer::Status(code) => code,
            Answer::Hang(_) => 200,
        };
        inner.received.push(Received {
            path,
            headers,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            body: text,
            at: arrived,
            status,
        });
        answer
    };
    match answer {
        Answer::Status(code) => {
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Answer::Hang(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK
        }
    }
}
