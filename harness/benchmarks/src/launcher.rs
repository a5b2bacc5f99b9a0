//! Starting one function in one language as Lambda would: the Rust binary or the Python handler
//! under `awslambdaric`, with a Lambda-like environment and nothing of this shell's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use testkit::tls::TlsFront;
use testkit::Emulator;

use super::lambda_api::RuntimeApi;
use super::{fixtures, Language, Result};
use anyhow::anyhow;

/// How to start one function in one language.
pub struct Launcher<'a> {
    pub function: &'a str,
    pub language: Language,
    pub binaries: &'a Path,
    pub root: &'a Path,
    pub python: &'a Path,
    pub environment: Vec<(String, String)>,
    pub log: PathBuf,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, as the sandbox would say it.
    pub memory_mb: u32,
}

impl Launcher<'_> {
    /// Starts the process against `api`, with only the environment Lambda would give it.
    pub fn spawn(&self, api: &RuntimeApi) -> Result<Child> {
        self.start(api, false)
    }

    /// The same process, held before its program starts: `/bin/sh` waits for a line on its stdin,
    /// then execs the program (same pid) with stdin from /dev/null. Moving a process into a
    /// control group takes the kernel a few milliseconds (cgroup v1 waits for an RCU grace
    /// period), about as long as a Rust function's whole init: moved once it has started, the
    /// first milliseconds of its CPU time and of its quota would go uncounted. Held, it is moved
    /// first and started with [`release`].
    pub fn spawn_held(&self, api: &RuntimeApi) -> Result<Child> {
        self.start(api, true)
    }

    fn start(&self, api: &RuntimeApi, held: bool) -> Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|error| anyhow!("{}: {error}", self.log.display()))?;
        let log_too = log.try_clone().map_err(|error| anyhow!("{error}"))?;
        let (program, arguments, handler) = match self.language {
            Language::Rust => (self.binaries.join(self.function), Vec::new(), None),
            Language::Python => (
                self.python.to_path_buf(),
                vec!["-m", "awslambdaric", "lambda_function.lambda_handler"],
                Some(python_folder(self.root, self.function)),
            ),
        };
        let mut command = if held {
            let mut command = Command::new("/bin/sh");
            command
                .args(["-c", "read -r go && exec \"$0\" \"$@\" </dev/null"])
                .arg(&program)
                .args(&arguments);
            command
        } else {
            let mut command = Command::new(&program);
            command.args(&arguments);
            command
        };
        if let Some(folder) = &handler {
            command.current_dir(folder);
        }
        command
            // Lambda's environment, not this shell's: nothing leaks in (certificate folders,
            // profiles, log settings) that the sandbox would not have. (It clears what was set
            // before it too, so everything is set after it.)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("TZ", ":UTC")
            .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", self.function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", self.memory_mb.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", self.function))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .envs(self.environment.iter().map(|(name, value)| (name, value)));
        if let Some(folder) = handler {
            command
                .env("LAMBDA_TASK_ROOT", &folder)
                .env("_HANDLER", "lambda_function.lambda_handler");
        }
        command
            .stdin(if held { Stdio::piped() } else { Stdio::null() })
            .stdout(log)
            .stderr(log_too)
            .spawn()
            .map_err(|error| anyhow!("starting {} ({}): {error}", self.function, self.language.name()))
    }
}

/// Starts the program of a process made by [`Launcher::spawn_held`].
pub fn release(child: &mut Child) -> Result<()> {
    use std::io::Write as _;
    let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("the process was not held"))?;
    stdin
        .write_all(b"go\n")
        .map_err(|error| anyhow!("releasing the held process: {error}"))
}

/// Where a function's Python version lives: the bucket listing is the original, kept beside its
/// crate; the others are under `bench/python/`.
pub fn python_folder(root: &Path, function: &str) -> PathBuf {
    let beside_the_crate = root.join("crates").join(function).join("python");
    if beside_the_crate.join("lambda_function.py").is_file() {
        beside_the_crate
    } else {
        root.join("bench/python").join(function)
    }
}

/// What one function process is given: the emulator behind the TLS front, and the function's
/// own settings.
pub fn environment(
    emulator: &Emulator,
    https: &TlsFront,
    catalog: &fixtures::Catalog,
    function: &str,
    language: Language,
) -> Vec<(String, String)> {
    let mut environment = over_tls(emulator, https);
    environment.extend(fixtures::function_environment(catalog, function, language));
    environment
}

/// The emulator's environment with its endpoint behind `https`, whose authority the process
/// trusts through `AWS_CA_BUNDLE` (read by the Rust functions' `shared::aws` and by boto3 alike).
pub fn over_tls(emulator: &Emulator, https: &TlsFront) -> Vec<(String, String)> {
    let mut environment: Vec<(String, String)> = emulator
        .process_env()
        .into_iter()
        .filter(|(name, _)| name != "AWS_ENDPOINT_URL")
        .collect();
    environment.push(("AWS_ENDPOINT_URL".to_owned(), https.endpoint().to_owned()));
    environment.push((
        shared::aws::CA_BUNDLE_VARIABLE.to_owned(),
        https.authority_file().display().to_string(),
    ));
    // For binaries that read the system's roots instead (`--binaries` built with the SDK's
    // default client, or before the roots were compiled in): the system's and the authority.
    // The functions here and boto3 ignore it (AWS_CA_BUNDLE comes first for boto3).
    environment.push((
        "SSL_CERT_FILE".to_owned(),
        https.system_roots_and_authority_file().display().to_string(),
    ));
    environment
}
