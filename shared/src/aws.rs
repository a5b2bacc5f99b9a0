//! The one way every function builds its AWS clients.
//!
//! Build one [`SdkConfig`] in `main`, before the runtime starts, and derive every client from it:
//! the clients then live for the whole life of the sandbox and reuse their connections, instead of
//! paying for a TLS handshake on every invocation.

use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_smithy_http_client::tls::TrustStore;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

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
/// has [`timeouts`] and [`retries`], and trusts the authorities of [`trusted_roots`].
///
/// # Errors
/// When `AWS_CA_BUNDLE` names a file that cannot be read or holds no certificate: said at init,
/// rather than on the first call of the first invocation.
pub async fn load_config() -> Result<SdkConfig, TrustError> {
    let http = https_client_trusting(trusted_roots()?)?;
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
    let config = aws_config::defaults(BehaviorVersion::latest())
        .credentials_provider(credentials)
        .region(region)
        .http_client(http)
        .timeout_config(timeouts())
        .retry_config(retries())
        .load()
        .await;
    Ok(config)
}

/// The HTTPS client every SDK client uses: rustls with the `ring` crypto provider, rather than
/// the SDK's default (rustls with aws-lc-rs). The binaries are about 0.5 MiB smaller, and there is
/// no C library to build and no CPU-jitter entropy source for aws-lc to initialise on the first
/// TLS handshake of every cold start. Connections are pooled and reused across invocations.
///
/// It trusts `roots` only: [`trusted_roots`] in a function, [`amazon_roots`] and a test's own
/// authority in tests.
///
/// # Errors
/// When the SDK refuses the TLS settings (it has no such case today).
pub fn https_client_trusting(roots: TrustStore) -> Result<SharedHttpClient, TrustError> {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider, TlsContext};
    let tls = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .map_err(|error| TrustError::Refused(error.to_string()))?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https())
}

/// The root certificates of Amazon Trust Services (Amazon Root CA 1 to 4, and the Starfield
/// Services root that cross-signs them), the authorities every AWS endpoint's certificate chains
/// to. Compiled in rather than read from the operating system: the system's bundle is about 140
/// certificates, read and parsed at every cold start for authorities no AWS call needs
/// (`docs/benchmarks.md` measures the difference). Each expires in 2037-2040.
pub const AMAZON_ROOT_CAS_PEM: &str = include_str!("amazon-root-cas.pem");

/// The variable that names a PEM file of more authorities to trust, as the AWS CLI and the other
/// SDKs read it: for a proxy that inspects TLS, or the local TLS endpoint the tests and the
/// benchmark put in front of the emulator. Unset in Lambda.
pub const CA_BUNDLE_VARIABLE: &str = "AWS_CA_BUNDLE";

/// Amazon's root authorities only.
pub fn amazon_roots() -> TrustStore {
    TrustStore::empty().with_pem_certificate(AMAZON_ROOT_CAS_PEM.as_bytes())
}

/// Amazon's root authorities, and those of the file `AWS_CA_BUNDLE` names, if it is set.
///
/// # Errors
/// When the file cannot be read or is not a PEM file of certificates.
pub fn trusted_roots() -> Result<TrustStore, TrustError> {
    match std::env::var_os(CA_BUNDLE_VARIABLE).filter(|path| !path.is_empty()) {
        None => Ok(amazon_roots()),
        Some(path) => amazon_roots_and(Path::new(&path)),
    }
}

/// Amazon's root authorities and those of the PEM file at `bundle`.
///
/// # Errors
/// When the file cannot be read or is not a PEM file of certificates.
pub fn amazon_roots_and(bundle: &Path) -> Result<TrustStore, TrustError> {
    let unreadable = |source| TrustError::Unreadable {
        path: bundle.to_path_buf(),
        source,
    };
    let pem = std::fs::read(bundle).map_err(unreadable)?;
    let not_certificates = |reason: String| TrustError::NotCertificates {
        path: bundle.to_path_buf(),
        reason,
    };
    // The SDK's client parses the bundle only when it opens its first connection, and panics on
    // what it cannot parse: parse it here, at init, with an error that names the file.
    let mut anchors = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        let certificate = certificate.map_err(|error| not_certificates(error.to_string()))?;
        anchors
            .add(certificate)
            .map_err(|error| not_certificates(error.to_string()))?;
    }
    if anchors.is_empty() {
        return Err(not_certificates("no CERTIFICATE block in it".to_owned()));
    }
    Ok(amazon_roots().with_pem_certificate(pem))
}

/// Why the authorities to trust could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{CA_BUNDLE_VARIABLE}: cannot read {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{CA_BUNDLE_VARIABLE}: {} is not a PEM file of certificates: {reason}", path.display())]
    NotCertificates { path: PathBuf, reason: String },
    #[error("the HTTPS client's TLS settings were refused: {0}")]
    Refused(String),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_amazon_s_five_authorities_and_each_is_a_trust_anchor() {
        let mut anchors = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_slice_iter(AMAZON_ROOT_CAS_PEM.as_bytes()) {
            anchors.add(certificate.unwrap()).unwrap();
        }
        assert_eq!(anchors.len(), 5);
    }

    #[test]
    fn a_bundle_that_is_missing_or_holds_no_certificate_is_an_error_that_names_it() {
        let folder = std::env::temp_dir().join(format!("shared-trust-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let missing = folder.join("missing.pem");
        let error = amazon_roots_and(&missing).unwrap_err().to_string();
        assert!(
            error.starts_with("AWS_CA_BUNDLE: cannot read ") && error.contains("missing.pem"),
            "{error}"
        );

        let not_pem = folder.join("not.pem");
        std::fs::write(&not_pem, "a certificate, honestly").unwrap();
        let error = amazon_roots_and(&not_pem).unwrap_err().to_string();
        assert!(error.contains("not.pem is not a PEM file of certificates"), "{error}");

        let broken = folder.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let error = amazon_roots_and(&broken).unwrap_err().to_string();
        assert!(
            error.contains("broken.pem is not a PEM file of certificates"),
            "{error}"
        );

        let amazon = folder.join("amazon.pem");
        std::fs::write(&amazon, AMAZON_ROOT_CAS_PEM).unwrap();
        assert!(amazon_roots_and(&amazon).is_ok());
        std::fs::remove_dir_all(&folder).unwrap();
    }
}
