//! HTTP errors as `application/problem+json` (RFC 9457), the one error shape of every HTTP API
//! in this workshop.
//!
//! A client's mistake gets a 4xx whose `detail` tells the caller what to fix. Anything else is a
//! 500 with a generic detail: the real error goes to the log, next to the request id the body
//! carries, and never to the client.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Serialize;

/// One problem, as the body of an error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `about:blank`: the status code says what kind of problem it is (RFC 9457, section 4.2.1).
    #[serde(rename = "type")]
    pub problem_type: &'static str,
    /// The status code's reason phrase, such as `Bad Request`.
    pub title: String,
    /// The status code, repeated in the body for clients that only keep the body.
    pub status: u16,
    /// What went wrong with this request, for a human.
    pub detail: String,
    /// The Lambda request id: quote it to find the request in the logs.
    pub request_id: String,
}

impl Problem {
    /// A problem with `status` and a `detail` for the caller.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            problem_type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            request_id: String::new(),
        }
    }

    /// The 500 every unexpected error becomes. Log the error itself before answering with this.
    pub fn internal() -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server failed to handle the request; it has been logged.",
        )
    }

    /// The response carrying this problem, for the request `request_id`.
    pub fn into_response(mut self, request_id: &str) -> Response<Body> {
        self.request_id = request_id.to_owned();
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // Serializing a struct of strings and a number cannot fail.
        let body = serde_json::to_string(&self).unwrap_or_default();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            "application/problem+json".parse().expect("a valid header value"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_response_has_the_rfc_9457_fields_and_content_type() {
        let response = Problem::new(StatusCode::NOT_FOUND, "No object uploads/a.txt.").into_response("req-1");
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type": "about:blank", "title": "Not Found", "status": 404,
                               "detail": "No object uploads/a.txt.", "request_id": "req-1"})
        );
    }

    #[test]
    fn the_internal_problem_says_nothing_about_the_cause() {
        let problem = Problem::internal();
        assert_eq!((problem.status, problem.title.as_str()), (500, "Internal Server Error"));
        assert!(!problem.detail.contains("Dynamo") && !problem.detail.contains("S3"));
    }
}
