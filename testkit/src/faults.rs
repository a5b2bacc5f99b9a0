//! A loopback HTTP proxy between a function's SDK clients and the emulator that breaks chosen
//! requests the ways AWS and networks do: refused connections, answers slower than the SDK's
//! timeouts, throttling errors, 500s, and connections cut in the middle of a body.
//!
//! Each request is served on its own connection (`Connection: close`), so a fault hits exactly
//! the requests it is meant for, including the SDK's retries of them.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What happens to a request the proxy breaks.
#[derive(Debug, Clone)]
pub enum Fault {
    /// The connection is closed before any answer, as by a service that is down.
    Refuse,
    /// The answer comes after this long: longer than the SDK's attempt timeout, it is a timeout.
    Delay(Duration),
    /// DynamoDB's throttling error (HTTP 400, `ThrottlingException`), which the SDK retries.
    Throttle,
    /// S3's throttling error (HTTP 503, `SlowDown`), which the SDK retries.
    SlowDown,
    /// An internal error (HTTP 500), which the SDK retries.
    ServerError,
    /// The real answer's headers and half its body, then the connection is closed.
    CutMidBody,
}

struct Rule {
    /// Matched against "<x-amz-target or nothing> <METHOD> <path>": `PutItem`, `GET /bucket/`.
    pattern: String,
    fault: Fault,
    remaining: usize,
}

#[derive(Default)]
struct State {
    rules: VecDeque<Rule>,
    /// Every request seen, as matched, and whether it was broken.
    log: Vec<(String, bool)>,
}

/// A running proxy; it stops accepting when dropped (its threads end with their connections).
pub struct FaultProxy {
    endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding the fault proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("the proxy's address"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                // The proxy is gone once only this thread holds its state.
                if Arc::strong_count(&shared) == 1 {
                    break;
                }
                let (Ok(client), upstream, state) = (client, upstream.clone(), Arc::clone(&shared)) else {
                    continue;
                };
                std::thread::spawn(move || serve(client, &upstream, &state));
            }
        });
        FaultProxy { endpoint, state }
    }

    /// The proxy's URL, for the function's SDK configuration.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Breaks the next `count` requests that match `pattern` (a substring of the DynamoDB
    /// operation, `PutItem`, or of `METHOD /path`, `GET /bucket/`; `""` matches all) with `fault`.
    pub fn inject(&self, pattern: &str, fault: Fault, count: usize) {
        let rule = Rule {
            pattern: pattern.to_owned(),
            fault,
            remaining: count,
        };
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .rules
            .push_back(rule);
    }

    /// Forgets every fault not yet used: the dependency has recovered.
    pub fn recover(&self) {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .rules
            .clear();
    }

    /// How many requests matching `pattern` were seen, and how many of them were broken.
    pub fn seen(&self, pattern: &str) -> (usize, usize) {
        let state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let matching = state.log.iter().filter(|(request, _)| request.contains(pattern));
        let (all, broken): (Vec<_>, Vec<_>) = matching.map(|(_, broken)| ((), *broken)).unzip();
        (all.len(), broken.into_iter().filter(|broken| *broken).count())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Wake the accept loop so it sees it is alone and stops.
        let _ = TcpStream::connect(self.endpoint.trim_start_matches("http://"));
    }
}

fn serve(mut client: TcpStream, upstream: &str, state: &Mutex<State>) {
    let Some((head, body)) = read_request(&mut client) else {
        return;
    };
    let target = header(&head, "x-amz-target").unwrap_or_default();
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let described = format!(
        "{target} {} {}",
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default()
    );

    let fault = {
        let mut state = state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let fault = state
            .rules
            .iter_mut()
            .find(|rule| rule.remaining > 0 && described.contains(&rule.pattern))
            .map(|rule| {
                rule.remaining -= 1;
                rule.fault.clone()
            });
        state.log.push((described, fault.is_some()));
        fault
    };

    let answer = |client: &mut TcpStream, status: &str, content_type: &str, body: &str| {
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(response.as_bytes());
    };
    match fault {
        Some(Fault::Refuse) => {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Some(Fault::Throttle) => {
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
            return answer(&mut client, "400 Bad Request", "application/x-amz-json-1.0", body);
        }
        Some(Fault::SlowDown) => {
            let body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
            return answer(&mut client, "503 Slow Down", "application/xml", body);
        }
        Some(Fault::ServerError) => {
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#;
            return answer(
                &mut client,
                "500 Internal Server Error",
                "application/x-amz-json-1.0",
                body,
            );
        }
        Some(Fault::Delay(delay)) => std::thread::sleep(delay),
        Some(Fault::CutMidBody) | None => {}
    }

    let Some(response) = forward(upstream, &head, &body) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    if matches!(fault, Some(Fault::CutMidBody)) {
        let split = response
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map_or(0, |end| end + 4);
        let half = split + (response.len() - split) / 2;
        let _ = client.write_all(&response[..half]);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let _ = client.write_all(&response);
}

/// The request's head (up to the blank line) and its body (by `content-length`).
fn read_request(client: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end + 4;
        }
        let read = client.read(&mut chunk).ok().filter(|read| *read > 0)?;
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = header(&head, "content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let read = client.read(&mut chunk).ok().filter(|read| *read > 0)?;
        body.extend_from_slice(&chunk[..read]);
    }
    Some((head, body))
}

/// Sends the request upstream on a connection of its own and reads the whole answer.
fn forward(upstream: &str, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut connection = TcpStream::connect(upstream).ok()?;
    let head: String = head
        .trim_end()
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .map(|line| format!("{line}\r\n"))
        .collect();
    connection
        .write_all(format!("{head}connection: close\r\n\r\n").as_bytes())
        .ok()?;
    connection.write_all(body).ok()?;
    let mut response = Vec::new();
    connection.read_to_end(&mut response).ok()?;
    // Tell the client this connection ends here, whatever the emulator said.
    let head_end = response.windows(4).position(|window| window == b"\r\n\r\n")? + 2;
    let head: String = String::from_utf8_lossy(&response[..head_end])
        .lines()
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .map(|line| format!("{line}\r\n"))
        .collect();
    let mut closed = format!("{head}connection: close\r\n").into_bytes();
    closed.extend_from_slice(&response[head_end..]);
    Some(closed)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
    })
}
