//! What a caller with no IAM identity may upload: the public demo URL (`PublicDemoUrl=true` in
//! template.yaml), a function URL anyone on the internet can call.
//!
//! Behind the HTTP API every request carries the IAM identity that signed it; a function URL
//! with no auth carries none. Such a caller gets the demo's rules: uploads only into the demo
//! folder (whose objects a lifecycle rule expires), never over an existing file, smaller files,
//! and URLs that live a minute. Reading the catalog is the same for everyone.

use std::time::Duration;

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::Config;

/// How long a demo upload URL lives: the page PUTs the file the moment it has the URL, and S3
/// checks the expiry when the PUT starts, so a slow upload that started in time still finishes.
pub const DEMO_URL_LIFETIME: Duration = Duration::from_secs(60);

/// The demo's limits (`PUBLIC_DEMO_FOLDER`, `PUBLIC_DEMO_MAX_UPLOAD_BYTES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicDemo {
    /// Under the upload prefix, where anonymous uploads go: `demo/`.
    pub folder: String,
    /// The largest file an anonymous upload URL accepts.
    pub max_upload_bytes: u64,
}

/// The rules one `POST /uploads` is held to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UploadRules<'a> {
    /// Put in front of the requested key, after the upload prefix: empty, or the demo folder.
    pub folder: &'a str,
    pub max_upload_bytes: u64,
    pub expires_in: Duration,
    /// Whether the caller may replace a file: anyone could replace anyone's through the demo.
    pub may_overwrite: bool,
}

/// The rules for `request`: the demo's when the function has a demo and the caller no IAM
/// identity, the API's otherwise (the local run has no demo configured, so its anonymous
/// callers get the API's rules).
pub(crate) fn upload_rules<'a>(config: &'a Config, request: &Request) -> UploadRules<'a> {
    match &config.public_demo {
        Some(demo) if !signed_by_iam(request) => UploadRules {
            folder: &demo.folder,
            max_upload_bytes: demo.max_upload_bytes,
            expires_in: DEMO_URL_LIFETIME.min(config.presign_expires_in),
            may_overwrite: false,
        },
        _ => UploadRules {
            folder: "",
            max_upload_bytes: config.max_upload_bytes,
            expires_in: config.presign_expires_in,
            may_overwrite: true,
        },
    }
}

/// Whether API Gateway verified an IAM signature for `request`. Only API Gateway sets these
/// fields (a client's headers cannot), and it sets them only after checking the signature.
fn signed_by_iam(request: &Request) -> bool {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .is_some_and(|authorizer| authorizer.iam.is_some()),
        Some(RequestContext::ApiGatewayV1(context)) => context.identity.user_arn.is_some(),
        _ => false,
    }
}

/// Reads the demo's limits; `None` when `PUBLIC_DEMO_FOLDER` is not set.
pub(crate) fn from_lookup(
    lookup: &impl Fn(&str) -> Option<String>,
    max_bytes_allowed: u64,
) -> Result<Option<PublicDemo>, String> {
    let Some(folder) = lookup("PUBLIC_DEMO_FOLDER") else {
        return Ok(None);
    };
    let one_segment = folder
        .strip_suffix('/')
        .is_some_and(|name| !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-'));
    if !one_segment {
        return Err(format!(
            "PUBLIC_DEMO_FOLDER must be one folder name of letters, digits and '-' ending in '/', not {folder:?}"
        ));
    }
    let max_upload_bytes = match lookup("PUBLIC_DEMO_MAX_UPLOAD_BYTES") {
        None => 5 * 1024 * 1024,
        Some(bytes) => bytes.parse::<u64>().ok().filter(|bytes| *bytes >= 1).ok_or(format!(
            "PUBLIC_DEMO_MAX_UPLOAD_BYTES must be a number of bytes, not {bytes:?}"
        ))?,
    };
    // Never more than the API's own limit: the template's parameters cannot compare numbers.
    Ok(Some(PublicDemo {
        folder,
        max_upload_bytes: max_upload_bytes.min(max_bytes_allowed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn no_folder_means_no_demo() {
        assert_eq!(from_lookup(&lookup(&[]), 100), Ok(None));
    }

    #[test]
    fn the_demo_folder_is_one_plain_folder_name() {
        let demo = from_lookup(&lookup(&[("PUBLIC_DEMO_FOLDER", "demo/")]), 100 * 1024 * 1024);
        assert_eq!(
            demo,
            Ok(Some(PublicDemo {
                folder: "demo/".to_owned(),
                max_upload_bytes: 5 * 1024 * 1024
            }))
        );
        for bad in ["demo", "/", "", "a/b/", "../", "démo/"] {
            let error = from_lookup(&lookup(&[("PUBLIC_DEMO_FOLDER", bad)]), 100);
            assert!(error.is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_demo_limit_is_at_most_the_apis() {
        let limit = |bytes: &str| {
            let env = [("PUBLIC_DEMO_FOLDER", "demo/"), ("PUBLIC_DEMO_MAX_UPLOAD_BYTES", bytes)];
            let demo = from_lookup(&lookup(&env), 100);
            demo.map(|demo| demo.map(|demo| demo.max_upload_bytes))
        };
        assert_eq!(limit("99"), Ok(Some(99)));
        assert_eq!(limit("101"), Ok(Some(100)));
        assert!(limit("0").is_err());
        assert!(limit("five").is_err());
    }
}
