//! The bucket listing: every page of ListBuckets, answered the way the Python original answers.

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_buckets::ListBucketsError;
use aws_sdk_s3::Client;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

/// Buckets asked for per ListBuckets call. S3 allows up to 10,000; asking for a page size at all
/// is what makes S3 paginate instead of returning everything in one response.
const PAGE_SIZE: i32 = 1000;

/// The function's answer, shaped like an API Gateway proxy response, as in the Python original:
/// `{"statusCode": 200, "body": "[\"bucket-a\", \"bucket-b\"]"}`.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub status_code: u16,
    pub body: String,
}

/// Everything that can make an invocation fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("ListBuckets failed on page {page}")]
    ListBuckets {
        page: usize,
        #[source]
        source: SdkError<ListBucketsError>,
    },
}

impl From<Error> for Diagnostic {
    fn from(error: Error) -> Diagnostic {
        shared::error::report("ListBucketsFailed", &error)
    }
}

/// The client every invocation uses, built once in `main` (this function reads no configuration).
pub struct Deps {
    pub s3: Client,
}

impl Deps {
    /// The client for `aws` (see `shared::aws`).
    pub fn new(aws: &aws_config::SdkConfig) -> Deps {
        Deps {
            s3: shared::aws::s3_client(aws),
        }
    }
}

/// Lists every bucket the caller can see. The event is ignored.
pub async fn function_handler(deps: &Deps, _event: LambdaEvent<Value>) -> Result<Response, Error> {
    let names = list_bucket_names(&deps.s3).await?;
    let body = json_list_like_python(&names);
    tracing::info!(count = names.len(), buckets = %body, "listed buckets");
    let mut metrics = shared::metrics::Metrics::new();
    metrics.count("BucketsListed", names.len());
    metrics.emit();
    Ok(Response { status_code: 200, body })
}

/// The names of all buckets, from every page, in the order S3 returns them (by name).
async fn list_bucket_names(s3: &Client) -> Result<Vec<String>, Error> {
    let mut pages = s3.list_buckets().max_buckets(PAGE_SIZE).into_paginator().send();
    let mut names = Vec::new();
    let mut page = 0;
    // Not `while let Some(Ok(page))`: that idiom ends the loop quietly on the first error and
    // returns a short list as if it were complete. Any failed page fails the call.
    // Each page in a span named after the AWS call: a subsegment in the X-Ray trace.
    while let Some(result) = pages.next().instrument(tracing::info_span!("S3.ListBuckets")).await {
        page += 1;
        let output = result.map_err(|source| Error::ListBuckets { page, source })?;
        names.extend(
            output
                .buckets()
                .iter()
                .filter_map(|bucket| bucket.name().map(str::to_owned)),
        );
    }
    Ok(names)
}

/// A JSON array of strings exactly as Python's `json.dumps` writes it: `["a", "b"]`, with a space
/// after each comma (serde_json writes `["a","b"]`). Bucket names are ASCII, so Python's escaping
/// of non-ASCII characters never comes into play.
fn json_list_like_python(names: &[String]) -> String {
    let items: Vec<String> = names
        .iter()
        .map(|name| Value::from(name.as_str()).to_string())
        .collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::list_buckets::ListBucketsOutput;
    use aws_sdk_s3::types::Bucket;
    use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
    use lambda_runtime::Context;

    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn names_are_written_like_python_json_dumps() {
        assert_eq!(
            json_list_like_python(&names(&["alpha", "beta.logs"])),
            r#"["alpha", "beta.logs"]"#
        );
        assert_eq!(json_list_like_python(&names(&["only-one"])), r#"["only-one"]"#);
        assert_eq!(json_list_like_python(&[]), "[]");
    }

    #[test]
    fn response_serializes_with_status_code_first_as_the_python_dict_does() {
        let response = Response {
            status_code: 200,
            body: "[]".to_owned(),
        };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"statusCode":200,"body":"[]"}"#
        );
    }

    // The emulator never paginates ListBuckets, so pagination is tested against a mocked client.

    fn page(buckets: &[&str], next: Option<&str>) -> ListBucketsOutput {
        ListBucketsOutput::builder()
            .set_buckets(Some(
                buckets
                    .iter()
                    .map(|name| Bucket::builder().name(*name).build())
                    .collect(),
            ))
            .set_continuation_token(next.map(str::to_owned))
            .build()
    }

    fn deps_answering(rules: &[&Rule]) -> Deps {
        let interceptor = rules.iter().fold(
            MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
            |interceptor, rule| interceptor.with_rule(rule),
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("key", "secret", None, None, "test"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build();
        Deps {
            s3: Client::from_conf(config),
        }
    }

    fn any_event() -> LambdaEvent<Value> {
        LambdaEvent::new(Value::Null, Context::default())
    }

    #[tokio::test]
    async fn buckets_from_every_page_are_listed() {
        let first = mock!(Client::list_buckets)
            .match_requests(|request| request.continuation_token().is_none())
            .then_output(|| page(&["alpha", "beta"], Some("after-beta")));
        let second = mock!(Client::list_buckets)
            .match_requests(|request| request.continuation_token() == Some("after-beta"))
            .then_output(|| page(&["gamma"], None));

        let response = function_handler(&deps_answering(&[&first, &second]), any_event())
            .await
            .unwrap();

        assert_eq!(response.body, r#"["alpha", "beta", "gamma"]"#);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn an_error_on_the_second_page_fails_the_invocation() {
        let first = mock!(Client::list_buckets)
            .match_requests(|request| request.continuation_token().is_none())
            .then_output(|| page(&["alpha", "beta"], Some("after-beta")));
        let second = mock!(Client::list_buckets)
            .match_requests(|request| request.continuation_token() == Some("after-beta"))
            .then_error(|| {
                ListBucketsError::generic(
                    ErrorMetadata::builder()
                        .code("AccessDenied")
                        .message("Access Denied")
                        .build(),
                )
            });

        let error = function_handler(&deps_answering(&[&first, &second]), any_event())
            .await
            .unwrap_err();

        assert!(matches!(error, Error::ListBuckets { page: 2, .. }), "{error:?}");
        let diagnostic = Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, "ListBucketsFailed");
        assert!(
            diagnostic.error_message.contains("AccessDenied"),
            "{}",
            diagnostic.error_message
        );
    }
}
