//! The local AWS emulator for tests: moto's server on a free loopback port.
//!
//! Each [`Emulator`] is its own server with its own empty state, so tests never see each other's
//! buckets and tables. The server stops when the `Emulator` is dropped and also when the test
//! process dies without dropping it: the server exits as soon as its standard input closes.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;

/// What to do when the emulator is missing.
pub const INSTALL_HINT: &str = "The local AWS emulator (moto) is not installed. Run `./scripts/setup.sh` from \
     the repository root, or `pip install 'moto[server]==5.2.5'` so that `moto_server` is on PATH.";

/// The region every local test uses; any valid name works against the emulator.
pub const REGION: &str = "us-east-1";

/// Starts moto's server and makes it exit when our end of its stdin closes (on drop, or when the
/// test process dies for any reason).
const SERVER_SCRIPT: &str = r#"
import os, sys, threading
from moto.server import main
def exit_when_parent_is_gone():
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=exit_when_parent_is_gone, daemon=True).start()
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
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
        let python = find_moto_python().unwrap_or_else(|| panic!("{INSTALL_HINT}"));
        let port = free_port();
        let mut server = Command::new(&python)
            .args(["-c", SERVER_SCRIPT, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("could not start {}: {error}. {INSTALL_HINT}", python.display()));

        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = server.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = server.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!("the emulator exited with {status} before it was ready:\n{stderr}\n{INSTALL_HINT}");
            }
            assert!(
                Instant::now() < deadline,
                "the emulator did not accept connections on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
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
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ]
    }

    /// An `SdkConfig` for this emulator, built without reading the process environment (tests
    /// run in parallel threads of one process, and the environment is shared by all of them).
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint)
    }
}

/// An `SdkConfig` with dummy credentials for any endpoint, including one where nothing listens.
pub fn sdk_config_for(endpoint: &str) -> SdkConfig {
    let credentials = Credentials::new("testing", "testing", None, None, "emulator");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Creates the objects table as `template.yaml` declares it: partition key `folder`, sort key
/// `key`, on-demand, with a `NEW_AND_OLD_IMAGES` stream.
#[cfg(feature = "dynamodb")]
pub async fn create_objects_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
        StreamViewType,
    };
    let key = |attribute: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(key_type)
            .build()
            .expect("a key schema element")
    };
    let string = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("an attribute definition")
    };
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .expect("a stream specification");
    dynamodb
        .create_table()
        .table_name(name)
        .key_schema(key("folder", KeyType::Hash))
        .key_schema(key("key", KeyType::Range))
        .attribute_definitions(string("folder"))
        .attribute_definitions(string("key"))
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream)
        .send()
        .await
        .expect("creating the objects table in the emulator");
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
