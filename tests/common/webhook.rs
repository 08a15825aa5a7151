//! A real webhook receiver for alerting tests: an HTTP server on 127.0.0.1 that records every
//! request (arrival time, headers, JSON body) and can be told to fail the first N requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::Mutex;

#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    /// Wall-clock arrival, to compare with the server's timestamps.
    pub at_system: SystemTime,
    /// The status the receiver answered.
    pub status: u16,
    pub authorization: Option<String>,
    pub body: serde_json::Value,
}

#[derive(Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<AtomicUsize>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Starts a receiver that answers 500 to its first `fail_first` requests, 200 after.
    pub async fn start(fail_first: usize) -> Receiver {
        let shared = Shared {
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
            ..Shared::default()
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub async fn all(&self) -> Vec<Received> {
        self.shared.received.lock().await.clone()
    }

    /// Requests answered 200 whose body has `status` (`firing` / `resolved`).
    pub async fn delivered(&self, status: &str) -> Vec<Received> {
        self.all()
            .await
            .into_iter()
            .filter(|r| r.status == 200 && r.body["status"] == status)
            .collect()
    }

    /// Waits until `n` delivered bodies have `status`, then returns them.
    pub async fn wait_delivered(&self, status: &str, n: usize, timeout: Duration) -> Vec<Received> {
        super::eventually(timeout, || async {
            let got = self.delivered(status).await;
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let failing = shared
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
    shared.received.lock().await.push(Received {
        at: Instant::now(),
        at_system: SystemTime::now(),
        status: status.as_u16(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
    });
    status
}
