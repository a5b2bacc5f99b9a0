//! Running the functions: one `cargo lambda watch` per function, and invoking them through it.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use testkit::free_port;

use super::{Result, PATIENCE};
use anyhow::{anyhow, Context};
use support::http;
use template_plan::Function;

/// What an invocation may take beyond the function's own timeout: the runtime emulator starts the
/// function with `cargo run` on its first invocation and after each rebuild.
const START_ALLOWANCE: Duration = Duration::from_secs(30);

/// Every function's runtime emulator, by binary name.
#[derive(Default)]
pub struct Runtimes(pub BTreeMap<String, FunctionRuntime>);

impl Runtimes {
    pub fn port(&self, binary: &str) -> Result<u16> {
        Ok(self.target(binary)?.port)
    }

    pub fn target(&self, binary: &str) -> Result<Target> {
        self.0
            .get(binary)
            .map(|runtime| runtime.target.clone())
            .with_context(|| format!("no function named {binary} is running"))
    }
}

/// A running function, as its triggers invoke it.
#[derive(Debug, Clone)]
pub struct Target {
    pub binary: String,
    pub port: u16,
    /// How long an invocation may go unanswered before it counts as failed, as a timed-out one
    /// does in Lambda (and is retried as one): never forever, so one lost invocation cannot stop
    /// a trigger.
    pub limit: Duration,
}

/// One function under `cargo lambda watch -p <binary>`, with up to `concurrency` instances, stopped (with the function it started)
/// on drop.
///
/// One watch per function rather than one for the whole workspace: at the workspace root,
/// `cargo lambda watch` runs `cargo run --bin <binary>`, which compiles each function with the
/// features of every workspace member merged in. With `-p` it compiles exactly what
/// `cargo build -p` and `sam build` compile.
pub struct FunctionRuntime {
    child: Child,
    pub target: Target,
}

impl FunctionRuntime {
    pub fn start(
        root: &Path,
        logs: &Path,
        function: &Function,
        environment: &BTreeMap<String, String>,
        concurrency: usize,
    ) -> Result<FunctionRuntime> {
        use std::os::unix::process::CommandExt;
        let binary = function.binary.as_str();
        let port = free_port();
        let log_name = format!("{binary}.log");
        let log = std::fs::File::create(logs.join(&log_name)).map_err(|error| anyhow!("{log_name}: {error}"))?;
        let log_too = log.try_clone().map_err(|error| anyhow!("{log_name}: {error}"))?;
        let child = support::tool("cargo")
            .args([
                "lambda",
                "watch",
                "--quiet",
                "--package",
                binary,
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
                // Instances, started as invocations need them, as Lambda scales a function out.
                "--concurrency",
                &concurrency.to_string(),
            ])
            .current_dir(root)
            .envs(environment)
            // Its own process group, so that stopping it stops the functions it started too.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_too)
            .spawn()
            .map_err(|error| anyhow!("starting cargo lambda watch: {error}"))?;
        let runtime = FunctionRuntime {
            child,
            target: Target {
                binary: binary.to_owned(),
                port,
                limit: function.timeout + START_ALLOWANCE,
            },
        };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "cargo lambda watch did not start; see target/local/logs/{log_name}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(runtime)
    }
}

impl Drop for FunctionRuntime {
    fn drop(&mut self) {
        // The whole group, as `kill -- -<pid>` would: `Child::kill` would stop cargo-lambda alone
        // and leave the function it started running. Its group id is its pid (`process_group(0)`).
        if let Ok(group) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(group), Signal::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Invokes a function through the runtime emulator, as Lambda's Invoke API would.
pub async fn invoke(target: &Target, payload: &Value) -> Result<(Value, bool)> {
    let Target { binary, port, limit } = target;
    let url = format!("http://127.0.0.1:{port}/2015-03-31/functions/{binary}/invocations");
    let sent = http::send(
        "POST",
        &url,
        &[("content-type", "application/json")],
        payload.to_string().into_bytes(),
    );
    let answer = tokio::time::timeout(*limit, sent)
        .await
        .map_err(|_| anyhow!("{binary}: no answer within {} s", limit.as_secs()))??;
    let body = serde_json::from_str(&answer.body).unwrap_or(Value::String(answer.body));
    Ok((body, answer.function_error || answer.status >= 400))
}
