//! `shared::aws` against the local AWS emulator, over TLS as in Lambda. Only one test sets the
//! process's environment, because it is shared by every test thread of this binary.

use aws_credential_types::provider::ProvideCredentials;
use testkit::tls::TlsFront;
use testkit::{Emulator, REGION};

#[tokio::test]
async fn config_from_the_environment_reaches_the_emulator_over_tls_with_path_style_s3() {
    let emulator = Emulator::start();
    let https = TlsFront::start(emulator.endpoint());
    // The endpoint is `https://localhost:PORT`: S3 works there only with path-style addressing,
    // because `<bucket>.localhost` does not resolve. Its authority is trusted only because
    // AWS_CA_BUNDLE names it.
    let endpoint = https.endpoint().to_owned();
    for (name, value) in emulator.env() {
        std::env::set_var(name, value);
    }
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
    std::env::set_var(shared::aws::CA_BUNDLE_VARIABLE, https.authority_file());

    let config = shared::aws::load_config().await.unwrap();

    assert_eq!(config.endpoint_url(), Some(endpoint.as_str()));
    // Every call gives up before the shortest function timeout (10 s), retries included.
    let timeouts = config.timeout_config().unwrap();
    assert!(timeouts.operation_timeout().unwrap() < std::time::Duration::from_secs(10));
    assert!(timeouts.operation_attempt_timeout().unwrap() < timeouts.operation_timeout().unwrap());
    assert!(timeouts.connect_timeout().is_some());
    assert_eq!(config.retry_config().unwrap().max_attempts(), shared::aws::MAX_ATTEMPTS);
    assert_eq!(config.region().map(|region| region.as_ref()), Some(REGION));
    let credentials = config
        .credentials_provider()
        .unwrap()
        .provide_credentials()
        .await
        .unwrap();
    assert_eq!(credentials.access_key_id(), testkit::ACCESS_KEY_ID);

    let s3 = shared::aws::s3_client(&config);
    s3.create_bucket().bucket("path-style-check").send().await.unwrap();
    let listed = s3.list_objects_v2().bucket("path-style-check").send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));
}

#[tokio::test]
async fn https_calls_reach_an_endpoint_of_a_named_authority_and_no_other() {
    let emulator = Emulator::start();
    let https = TlsFront::start(emulator.endpoint());
    let config_trusting = |roots| {
        testkit::sdk_config_for(https.endpoint())
            .into_builder()
            .http_client(shared::aws::https_client_trusting(roots).unwrap())
            .build()
    };

    // Amazon's roots alone: the local authority is unknown, and the call fails its handshake.
    let amazon_only = shared::aws::s3_client(&config_trusting(shared::aws::amazon_roots()));
    let refused = amazon_only.list_buckets().send().await.unwrap_err();
    let cause = shared::error::chain(&refused);
    assert!(
        cause.contains("UnknownIssuer") || cause.contains("invalid peer certificate"),
        "{cause}"
    );

    // Amazon's and the local authority: the same call succeeds.
    let named = shared::aws::amazon_roots_and(https.authority_file()).unwrap();
    let trusting = shared::aws::s3_client(&config_trusting(named));
    trusting.create_bucket().bucket("over-tls").send().await.unwrap();
    let listed = trusting.list_buckets().send().await.unwrap();
    assert!(listed.buckets().iter().any(|bucket| bucket.name() == Some("over-tls")));
}
