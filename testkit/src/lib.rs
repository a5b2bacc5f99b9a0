//! Tests only: the local AWS emulator (moto's server on a free loopback port), the catalog's
//! tables in it, and a table's stream read as Lambda delivers it.
//!
//! Each [`Emulator`] is its own server with its own empty state, so tests never see each other's
//! buckets and tables. The server stops when the `Emulator` is dropped and also when the test
//! process dies without dropping it: the server exits as soon as its standard input closes.
//!
//! [`faults::FaultProxy`] sits between a function and the emulator and breaks chosen requests.

pub mod faults;
mod tables;
pub mod tls;

pub use tables::*;

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

/// What to do when the emulator is missing.
pub const INSTALL_HINT: &str = "The local AWS emulator (moto) is not installed. Run `./scripts/setup.sh` from \
     the repository root, or `pip install 'moto[server]==5.2.5'` so that `moto_server` is on PATH.";

/// The region every local test uses; any valid name works against the emulator.
pub const REGION: &str = "us-east-1";
/// The emulator accepts any credentials. These are distinctive so that a scan of the local run's
/// logs can tell whether a function ever logged them.
pub const ACCESS_KEY_ID: &str = "local-emulator-access-key";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "local-emulator-secret-never-logged";

/// The context Lambda gives an invocation that may run for `timeout` from now. A handler that
/// watches its remaining time reads its `deadline`; `Context::default()`'s is in 1970.
pub fn invocation_context(timeout: Duration) -> lambda_runtime::Context {
    let deadline = SystemTime::now() + timeout;
    let mut context = lambda_runtime::Context::default();
    context.deadline = deadline
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64);
    context
}

/// Starts moto's server on a port the operating system picks, prints that port, and exits when our
/// end of its stdin closes (on drop, or when the test process dies for any reason). Letting the
/// server bind port 0 itself, rather than handing it a port found free a moment earlier, means two
/// tests starting emulators at once can never end up sharing one.
///
/// DynamoDB applies the writes to one item one at a time, and S3 a conditional `PUT` likewise:
/// each is checked against the write before it. moto answers each connection on a thread of its
/// own and its stores take no lock, so two racing writes could both pass their condition (two
/// `INSERT`s of one key in the stream: an object counted twice). So DynamoDB's requests, and S3's
/// conditional `PUT`s, are answered one at a time.
///
/// Arguments: `switch=<seconds>`, Python's thread switch interval (see
/// [`Emulator::start_interleaving_often`]); `no-gc`, no garbage collection (see
/// [`Emulator::start_for_benchmarks`]).
const SERVER_SCRIPT: &str = r#"
import gc, os, sys, threading
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import ThreadedMotoServer

for argument in sys.argv[1:]:
    if argument.startswith("switch="):
        sys.setswitchinterval(float(argument[len("switch="):]))
    elif argument == "no-gc":
        gc.disable()
dynamodb, conditional_s3_puts = threading.Lock(), threading.Lock()
answer = DomainDispatcherApplication.__call__

def one_write_at_a_time(self, environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        lock = dynamodb
    elif environ.get("REQUEST_METHOD") == "PUT" and (
        "HTTP_IF_MATCH" in environ or "HTTP_IF_NONE_MATCH" in environ
    ):
        lock = conditional_s3_puts
    else:
        return answer(self, environ, start_response)
    with lock:
        return answer(self, environ, start_response)

DomainDispatcherApplication.__call__ = one_write_at_a_time
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
os._exit(0)
"#;

/// A running local AWS emulator.
pub struct Emulator {
    server: Child,
    python: PathBuf,
    endpoint: String,
}

impl Emulator {
    /// Starts a fresh emulator and waits until it accepts connections.
    ///
    /// Panics, failing the test, with [`INSTALL_HINT`] when moto is not installed.
    pub fn start() -> Emulator {
        Emulator::launch(&[])
    }

    /// An emulator whose request threads take turns every 10 microseconds rather than Python's
    /// 5 milliseconds: callers racing for one item interleave inside its requests, as truly
    /// parallel callers do in AWS, so a race the emulator's locks would miss shows up. About a
    /// tenth slower than [`Emulator::start`]'s, which the benchmarks and the local run use.
    pub fn start_interleaving_often() -> Emulator {
        Emulator::launch(&["switch=1e-5"])
    }

    /// An emulator whose Python never pauses to collect garbage. Its full collections take longer
    /// as its stores grow (a pause of 90 ms, then 400 ms, about every 60-100 requests of a
    /// stream consumer's run) and fall on whichever function is measured while they happen: the
    /// benchmark would compare the emulator's pauses, not the functions. Its memory only grows,
    /// which a benchmark's hour can afford and a long-lived local run could not.
    pub fn start_for_benchmarks() -> Emulator {
        Emulator::launch(&["no-gc"])
    }

    fn launch(arguments: &[&str]) -> Emulator {
        let python = find_moto_python().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let mut server = Command::new(&python)
            .args(["-c", SERVER_SCRIPT])
            .args(arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("could not start {}: {error}. {INSTALL_HINT}", python.display()));

        // The first line is the port, printed once the server listens; nothing if it failed.
        let mut first_line = String::new();
        if let Some(stdout) = server.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut first_line);
        }
        let Ok(port) = first_line.trim().parse::<u16>() else {
            let _ = server.kill();
            let status = server.wait().map(|status| status.to_string()).unwrap_or_default();
            let mut stderr = String::new();
            if let Some(mut pipe) = server.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("the emulator exited ({status}) before it was ready:\n{stderr}\n{INSTALL_HINT}");
        };
        // Nothing reads the server's request log: let it go to /dev/null rather than fill a pipe.
        drop(server.stderr.take());
        Emulator {
            server,
            python,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The Python interpreter the emulator runs on; it also has boto3, for comparing with Python code.
    pub fn python(&self) -> &Path {
        &self.python
    }

    /// The emulator's URL, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The environment a function process needs to talk to this emulator: its endpoint, a region
    /// and dummy credentials.
    pub fn env(&self) -> [(&'static str, String); 4] {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_owned()),
        ]
    }

    /// [`Emulator::env`] for any process, not only ours: plus `AWS_DEFAULT_REGION`, which boto3
    /// and the AWS CLI read instead of `AWS_REGION` (Lambda sets both).
    pub fn process_env(&self) -> Vec<(String, String)> {
        let mut variables: Vec<(String, String)> = self
            .env()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        variables.push(("AWS_DEFAULT_REGION".to_owned(), REGION.to_owned()));
        variables
    }

    /// An `SdkConfig` for this emulator, built without reading the process environment (tests
    /// run in parallel threads of one process, and the environment is shared by all of them).
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint)
    }
}

/// An `SdkConfig` with dummy credentials for any endpoint, including one where nothing listens.
pub fn sdk_config_for(endpoint: &str) -> SdkConfig {
    let credentials = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "emulator");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(
            shared::aws::https_client_trusting(shared::aws::amazon_roots()).expect("the SDK takes Amazon's roots"),
        )
        // What production clients get, so tests see the same retries and time limits.
        .timeout_config(shared::aws::timeouts())
        .retry_config(shared::aws::retries())
        .build()
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// An objects-table item for `key` of `size` bytes, as the S3 put handler would write it, for
/// tests that need indexed objects without uploading them.
pub fn object_item(bucket: &str, key: &str, size: u64) -> shared::catalog::ObjectItem {
    shared::catalog::ObjectItem {
        folder: shared::catalog::folder_of(key).to_owned(),
        key: key.to_owned(),
        bucket: bucket.to_owned(),
        size,
        sha256: "0".repeat(64),
        content_type: "text/plain".to_owned(),
        etag: "0".repeat(32),
        last_modified: "2026-11-27T06:00:00Z".to_owned(),
        indexed_at: "2026-11-27T06:00:01Z".to_owned(),
        sequencer: None,
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a free loopback port");
    listener.local_addr().expect("reading a bound port").port()
}

/// The Python that has moto: the project's own tools folder first (`./scripts/setup.sh` installs
/// it there), then whatever `moto_server` is on PATH.
fn find_moto_python() -> Option<PathBuf> {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())?;
    let project_tools = start.ancestors().map(|dir| dir.join(".tools/venv/bin"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path).collect::<Vec<_>>();
    project_tools.chain(on_path).find_map(|bin| python_beside_moto(&bin))
}

fn python_beside_moto(bin: &Path) -> Option<PathBuf> {
    if !bin.join("moto_server").is_file() {
        return None;
    }
    ["python", "python3"]
        .iter()
        .map(|name| bin.join(name))
        .find(|python| python.is_file())
}
