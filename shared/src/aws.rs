//! The one way every function builds its AWS clients.
//!
//! Build one [`SdkConfig`] in `main`, before the runtime starts, and derive every client from it:
//! the clients then live for the whole life of the sandbox and reuse their connections, instead of
//! paying for a TLS handshake on every invocation.

use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use std::time::Duration;

use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// The longest any one AWS call may take, its retries included. Below the shortest function
/// timeout in the template (10 seconds, the HTTP API's), so a slow dependency becomes an error the
/// function handles itself (the API answers 504 with a problem) instead of Lambda killing the
/// invocation and API Gateway answering a bare 500.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(8);
/// The longest one attempt may wait for the start of its response. DynamoDB answers in
/// milliseconds and S3 sends a body's headers before the body, so a hung connection is given up
/// and retried well before the operation's own limit.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a new connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts per call, the first included. The SDK retries throttling, 5xx answers, timeouts and
/// connection failures, with exponential backoff and jitter.
pub const MAX_ATTEMPTS: u32 = 3;

/// The timeouts every client gets (see the constants above for each value's reason).
pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry policy every client gets: the SDK's standard mode, with a first backoff short
/// enough that three attempts fit in [`OPERATION_TIMEOUT`].
pub fn retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(1))
}

/// Loads the shared AWS configuration.
///
/// Credentials and region come from the environment (which is where Lambda puts them) or, on a
/// laptop, from `~/.aws`. Unlike the SDK's default chain, nothing here asks the EC2 instance
/// metadata service, so a misconfigured local run fails at once instead of waiting on timeouts.
/// `AWS_ENDPOINT_URL` (the local emulator) is honoured as usual. Every client derived from it
/// has [`timeouts`] and [`retries`].
pub async fn load_config() -> SdkConfig {
    let http = https_client();
    // The profile providers may call STS or SSO for a profile that asks for it: they get the same
    // HTTPS client (the SDK has no default one here, see `https_client`).
    let providers = ProviderConfig::default().with_http_client(http.clone());
    let credentials = CredentialsProviderChain::first_try("Environment", EnvironmentVariableCredentialsProvider::new())
        .or_else(
            "Profile",
            ProfileFileCredentialsProvider::builder().configure(&providers).build(),
        );
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::builder().configure(&providers).build());
    aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(credentials)
        .region(region)
        .http_client(http)
        .timeout_config(timeouts())
        .retry_config(retries())
        .load()
        .await
}

/// The HTTPS client every SDK client uses: rustls with the `ring` crypto provider, rather than
/// the SDK's default (rustls with aws-lc-rs). The binaries are about 0.5 MiB smaller, and there is
/// no C library to build and no CPU-jitter entropy source for aws-lc to initialise on the first
/// TLS handshake of every cold start. Connections are pooled and reused across invocations.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// An S3 client for `config`.
///
/// With an endpoint override (a local emulator), requests use path-style addressing
/// (`http://127.0.0.1:5000/bucket/key`): virtual-hosted style would need a DNS name per bucket,
/// which `localhost` does not resolve.
#[cfg(feature = "s3")]
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// A DynamoDB client for `config`.
#[cfg(feature = "dynamodb")]
pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}
