//! Starting one function in one language as Lambda would: the Rust binary or the Python handler
//! under `awslambdaric`, with a Lambda-like environment and nothing of this shell's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use testkit::Emulator;

use super::lambda_api::RuntimeApi;
use super::{fixtures, report, Language, Result};
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
}

impl Launcher<'_> {
    /// Starts the process against `api`, with only the environment Lambda would give it.
    pub fn spawn(&self, api: &RuntimeApi) -> Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|error| anyhow!("{}: {error}", self.log.display()))?;
        let log_too = log.try_clone().map_err(|error| anyhow!("{error}"))?;
        let mut command = match self.language {
            Language::Rust => Command::new(self.binaries.join(self.function)),
            Language::Python => {
                let folder = python_folder(self.root, self.function);
                let mut command = Command::new(self.python);
                command
                    .args(["-m", "awslambdaric", "lambda_function.lambda_handler"])
                    .current_dir(&folder)
                    .env("LAMBDA_TASK_ROOT", &folder)
                    .env("_HANDLER", "lambda_function.lambda_handler");
                command
            }
        };
        command
            // Lambda's environment, not this shell's: nothing leaks in (certificate folders,
            // profiles, log settings) that the sandbox would not have.
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("TZ", ":UTC")
            .env("AWS_LAMBDA_RUNTIME_API", api.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", self.function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", report::MEMORY_MB.to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", self.function))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .envs(self.environment.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_too)
            .spawn()
            .map_err(|error| anyhow!("starting {} ({}): {error}", self.function, self.language.name()))
    }
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

pub fn environment(
    emulator: &Emulator,
    catalog: &fixtures::Catalog,
    function: &str,
    language: Language,
) -> Vec<(String, String)> {
    let mut environment = emulator.process_env();
    environment.extend(fixtures::function_environment(catalog, function, language));
    environment
}
