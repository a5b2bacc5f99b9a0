//! `shared::aws` against the local AWS emulator. One test per process-wide setting, in one
//! function, because the environment is shared by every test thread of this binary.

use aws_credential_types::provider::ProvideCredentials;
use testkit::{Emulator, REGION};

#[tokio::test]
async fn config_from_the_environment_reaches_the_emulator_with_path_style_s3() {
    let emulator = Emulator::start();
    // The endpoint written as `localhost`: S3 works there only with path-style addressing,
    // because `<bucket>.localhost` does not resolve.
    let endpoint = emulator.endpoint().replace("127.0.0.1", "localhost");
    for (name, value) in emulator.env() {
        std::env::set_var(name, value);
    }
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint);

    let config = shared::aws::load_config().await;

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
