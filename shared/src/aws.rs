//! The one way every function builds its AWS clients.
//!
//! Build one [`SdkConfig`] in `main`, before the runtime starts, and derive every client from it:
//! the clients then live for the whole life of the sandbox and reuse their connections, instead of
//! paying for a TLS handshake on every invocation.

use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the shared AWS configuration.
///
/// Credentials and region come from the environment (which is where Lambda puts them) or, on a
/// laptop, from `~/.aws`. Unlike the SDK's default chain, nothing here asks the EC2 instance
/// metadata service, so a misconfigured local run fails at once instead of waiting on timeouts.
/// `AWS_ENDPOINT_URL` (the local emulator) is honoured as usual.
pub async fn load_config() -> SdkConfig {
    let credentials = CredentialsProviderChain::first_try("Environment", EnvironmentVariableCredentialsProvider::new())
        .or_else("Profile", ProfileFileCredentialsProvider::builder().build());
    let region = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::builder().build());
    aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(credentials)
        .region(region)
        .load()
        .await
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
