//! Lambda's Runtime API, played on loopback for one function process at a time, for Rust and
//! Python alike: the process asks for work (`GET .../invocation/next`), we hand it an event and
//! time how long it takes to post the answer (`POST .../invocation/{id}/response` or `/error`).

use anyhow::{anyhow, Result};
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Mutex};

/// How long one invocation may take before the benchmark gives up on it.
const INVOCATION_PATIENCE: Duration = Duration::from_secs(300);

/// What the process posted for an invocation.
#[derive(Debug)]
pub struct Outcome {
    pub failed: bool,
    pub body: String,
    pub at: Instant,
}

struct Shared {
    /// Each `GET .../next` is announced here, with when it arrived.
    ready: mpsc::UnboundedSender<Instant>,
    /// Events to hand out, one per `GET .../next`.
    events: Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

/// A Runtime API endpoint on a free loopback port.
pub struct RuntimeApi {
    pub address: SocketAddr,
    ready: mpsc::UnboundedReceiver<Instant>,
    events: mpsc::UnboundedSender<(String, Value)>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    server: tokio::task::JoinHandle<()>,
    next_request: u64,
}

impl RuntimeApi {
    pub async fn start() -> Result<RuntimeApi> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|error| anyhow!("binding the Runtime API: {error}"))?;
        let address = listener.local_addr().map_err(|error| anyhow!("{error}"))?;
        let (ready_tx, ready) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            ready: ready_tx,
            events: Mutex::new(events_rx),
            outcomes: outcomes_tx,
        });
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| answer(shared.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RuntimeApi {
            address,
            ready,
            events,
            outcomes,
            server,
            next_request: 0,
        })
    }

    /// Waits for the process to ask for work; returns when it asked.
    pub async fn wait_until_ready(&mut self, patience: Duration) -> Result<Instant> {
        match tokio::time::timeout(patience, self.ready.recv()).await {
            Ok(Some(at)) => Ok(at),
            _ => Err(anyhow!("the function did not ask for work within {patience:?}")),
        }
    }

    /// Hands out one event (the process must be waiting for work) and waits for its outcome.
    /// Returns the outcome and the time from handing it out to the answer.
    pub async fn invoke(&mut self, event: Value) -> Result<(Outcome, Duration)> {
        self.next_request += 1;
        let request_id = format!("00000000-0000-4000-8000-{:012}", self.next_request);
        let sent = Instant::now();
        self.events
            .send((request_id, event))
            .map_err(|_| anyhow!("the Runtime API stopped"))?;
        match tokio::time::timeout(INVOCATION_PATIENCE, self.outcomes.recv()).await {
            Ok(Some(outcome)) => {
                let took = outcome.at.saturating_duration_since(sent);
                Ok((outcome, took))
            }
            _ => Err(anyhow!("no answer within {INVOCATION_PATIENCE:?}")),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(shared: Arc<Shared>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let is_post = request.method() == hyper::Method::POST;
    if path == "/2018-06-01/runtime/invocation/next" {
        let _ = shared.ready.send(Instant::now());
        let next = shared.events.lock().await.recv().await;
        let Some((request_id, event)) = next else {
            return Ok(status(StatusCode::GONE));
        };
        let deadline = std::time::SystemTime::now() + INVOCATION_PATIENCE;
        let deadline_ms = deadline
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        let response = Response::builder()
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", &request_id)
            .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:000000000000:function:bench",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000;Sampled=0",
            )
            .body(Full::new(Bytes::from(event.to_string())));
        return Ok(response.unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR)));
    }
    if is_post && (path.ends_with("/response") || path.ends_with("/error")) {
        let failed = path.ends_with("/error");
        let body = request
            .into_body()
            .collect()
            .await
            .map(|body| String::from_utf8_lossy(&body.to_bytes()).into_owned())
            .unwrap_or_default();
        let _ = shared.outcomes.send(Outcome {
            failed,
            body,
            at: Instant::now(),
        });
        return Ok(status(StatusCode::ACCEPTED));
    }
    Ok(status(StatusCode::NOT_FOUND))
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// Peak and current resident memory of a process, in bytes: `VmHWM` and `VmRSS` of
/// `/proc/<pid>/status`, which the kernel gives in KiB.
pub fn memory_of(pid: u32) -> Result<(u64, u64)> {
    let id = i32::try_from(pid).map_err(|error| anyhow!("pid {pid}: {error}"))?;
    let status = procfs::process::Process::new(id)
        .and_then(|process| process.status())
        .map_err(|error| anyhow!("reading /proc/{pid}/status: {error}"))?;
    let bytes = |kib: Option<u64>, name: &str| {
        kib.map(|kib| kib * 1024)
            .ok_or_else(|| anyhow!("/proc/{pid}/status has no {name}"))
    };
    Ok((bytes(status.vmhwm, "VmHWM")?, bytes(status.vmrss, "VmRSS")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory() -> Result<()> {
        let (peak, current) = memory_of(std::process::id())?;
        assert!(peak >= current && current > 0, "peak {peak}, current {current}");
        Ok(())
    }
}
