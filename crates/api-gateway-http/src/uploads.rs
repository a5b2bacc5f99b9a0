//! `POST /uploads`: a presigned PUT for one file of a declared size.

use std::collections::BTreeMap;

use aws_sdk_s3::presigning::PresigningConfig;
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::StatusCode;
use lambda_http::Request;
use serde::{Deserialize, Serialize};

use crate::objects::indexed_object;
use crate::public_demo::upload_rules;
use crate::upload_key::validate_upload_key;
use crate::{json_response, Answer, Deps, Failure, MAX_KEY_BYTES};

/// Largest request body accepted; an upload request is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The body of `POST /uploads`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// Where under the upload prefix the file goes: `reports/q3.pdf`.
    pub key: String,
    /// The Content-Type the upload will be sent with (the signature covers it).
    pub content_type: Option<String>,
    /// The file's exact size in bytes (the signature covers it: S3 refuses any other length).
    pub size: u64,
    /// Replace the object the catalog lists at that key: the URL is signed with its ETag
    /// (`If-Match`), so it replaces that version once and nothing newer. Without it, S3 refuses
    /// the upload if the key exists (412 Precondition Failed). Callers of the public demo URL
    /// may not overwrite.
    #[serde(default)]
    pub overwrite: bool,
}

/// The answer to `POST /uploads`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadUrl {
    /// The object's full key: the upload prefix and the requested key.
    pub key: String,
    /// A presigned URL: send the file there with `method` and exactly these `headers`.
    pub url: String,
    /// Always `PUT`.
    pub method: String,
    /// The headers the signature covers (`content-type`, `content-length`, and `if-none-match`
    /// or, to overwrite, `if-match`): the upload must carry them with these values, or S3
    /// refuses it.
    pub headers: BTreeMap<String, String>,
    /// Seconds until the URL stops working.
    pub expires_in: u64,
}

/// Hands out a presigned PUT for one file of a declared size.
///
/// S3 itself enforces the limits, because they are signed into the URL: the `Content-Length`
/// (a presigned URL cannot cap a body otherwise; a different length breaks the signature) and
/// a condition that lets one PUT succeed: `If-None-Match: *` (S3 answers 412 if the key exists)
/// or, to overwrite, `If-Match` with the ETag the catalog lists (412 once anything replaced it,
/// this URL's own PUT included).
pub(crate) async fn create_upload(deps: &Deps, request: &Request) -> Answer {
    let upload = json_body::<UploadRequest>(request)?;
    validate_upload_key(&upload.key).map_err(Failure::bad_request)?;
    let rules = upload_rules(&deps.config, request);
    if upload.overwrite && !rules.may_overwrite {
        return Err(Failure::client(
            StatusCode::FORBIDDEN,
            "The public demo URL does not replace files; upload under a new name.",
        ));
    }
    let max_bytes = rules.max_upload_bytes;
    if upload.size > max_bytes {
        return Err(Failure::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The file is {} bytes; uploads of at most {max_bytes} bytes are accepted.",
                upload.size
            ),
        ));
    }
    let size = i64::try_from(upload.size).map_err(|_| Failure::bad_request("size is too large."))?;
    let content_type = upload
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    if content_type.is_empty()
        || content_type.len() > 255
        || !content_type.chars().all(|c| c.is_ascii_graphic() || c == ' ')
    {
        return Err(Failure::bad_request(
            "content_type must be 1 to 255 printable ASCII characters.",
        ));
    }
    let key = format!("{}{}{}", deps.config.upload_prefix, rules.folder, upload.key);
    if key.len() > MAX_KEY_BYTES {
        return Err(Failure::bad_request(format!(
            "The key is {} bytes with its prefix; S3 allows {MAX_KEY_BYTES}.",
            key.len()
        )));
    }
    // The version to replace is the one the caller saw in the catalog.
    let replaces = match upload.overwrite {
        true => indexed_object(deps, &key).await?.map(|object| object.etag),
        false => None,
    };
    let expires_in = rules.expires_in;
    let presigning =
        PresigningConfig::expires_in(expires_in).map_err(|error| Failure::internal("presigning config", &error))?;
    let put = deps
        .s3
        .put_object()
        .bucket(&deps.config.uploads_bucket)
        .key(&key)
        .content_type(&content_type)
        .content_length(size);
    // Nothing listed to replace is a plain create: the key may not exist yet, or not be
    // indexed yet (then S3 answers 412 and the caller asks again once the catalog caught up).
    let put = match replaces {
        Some(etag) => put.if_match(format!("\"{}\"", etag.trim_matches('"'))),
        None => put.if_none_match("*"),
    };
    let presigned = put
        .presigned(presigning)
        .await
        .map_err(|error| Failure::internal("presigning a PUT", &error))?;
    let headers = signed_headers(presigned.uri(), presigned.headers());
    let answer = UploadUrl {
        key,
        url: presigned.uri().to_owned(),
        method: presigned.method().to_owned(),
        headers,
        expires_in: expires_in.as_secs(),
    };
    Ok(json_response(StatusCode::CREATED, &answer))
}

/// The origin the page's uploads go to (`https://<bucket>.s3.<region>.amazonaws.com`, or the
/// emulator's address in the local run), read off a presigned URL, so that it is exactly the
/// one `POST /uploads` hands out. Presigning is local work (no call to AWS). `None`, logged,
/// if it fails: the page then lists but cannot upload.
pub(crate) async fn bucket_origin(deps: &Deps) -> Option<String> {
    let presigned = async {
        let presigning = PresigningConfig::expires_in(std::time::Duration::from_secs(60))?;
        let probe = deps
            .s3
            .put_object()
            .bucket(&deps.config.uploads_bucket)
            .key(&deps.config.upload_prefix)
            .presigned(presigning)
            .await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(url::Url::parse(probe.uri())?)
    };
    match presigned.await {
        Ok(url) => Some(url.origin().ascii_serialization()),
        Err(error) => {
            tracing::warn!(%error, "no bucket origin for the page's Content-Security-Policy");
            None
        }
    }
}

/// The headers among `headers` that the URL's signature covers (its `X-Amz-SignedHeaders`),
/// but `host`, which the client sets from the URL.
///
/// The SDK adds headers of its own to a presigned request that are no part of the upload: in
/// Lambda, with tracing on, the invocation's `x-amzn-trace-id`. A browser told to send it fails
/// the bucket's CORS preflight, which allows only the headers an upload needs. (Found by the
/// browser test: the local runtime emulator sets a trace id as Lambda does.)
fn signed_headers<'a>(url: &str, headers: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    let signed: Vec<String> = url::Url::parse(url)
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(name, _)| name == "X-Amz-SignedHeaders")
                .map(|(_, value)| value.split(';').map(str::to_owned).collect())
        })
        .unwrap_or_default();
    headers
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .filter(|(name, _)| name != "host" && signed.contains(name))
        .collect()
}

/// The request's JSON body as `T`, or the 4xx that says why not. Checks what `payload()` would
/// silently turn into `None`: a missing or non-JSON content type.
fn json_body<T: for<'de> Deserialize<'de>>(request: &Request) -> Result<T, Failure> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(Failure::bad_request(format!(
            "Send the body as application/json, not {content_type:?}."
        )));
    }
    let body = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(Failure::client(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The body is {} bytes; at most {MAX_BODY_BYTES} are accepted.",
                body.len()
            ),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|error| Failure::bad_request(format!("The body is not a valid request: {error}.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_headers_the_signature_covers_are_handed_out() {
        let url = "http://127.0.0.1:9000/bucket/uploads/a.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match&X-Amz-Signature=abc";
        let headers = [
            ("content-length", "5"),
            ("Content-Type", "text/plain"),
            ("if-none-match", "*"),
            ("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793"),
            ("host", "127.0.0.1:9000"),
        ];
        let handed_out = signed_headers(url, headers.into_iter());
        let names: Vec<&str> = handed_out.keys().map(String::as_str).collect();
        assert_eq!(names, ["content-length", "content-type", "if-none-match"]);
        assert_eq!(handed_out["content-type"], "text/plain");
    }
}
