//! Which route a request is for: the path (without API Gateway's stage) matched against the
//! routes `template.yaml` declares, each with its one method and the name the metrics use.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use percent_encoding::percent_decode_str;

use crate::Failure;

/// The routes this API answers: the same as the `HttpApi` events in `template.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The web page.
    Page,
    Health,
    CreateUpload,
    ListObjects,
    /// The key, still percent-encoded.
    GetObject(String),
    ListStats,
    /// The folder, still percent-encoded.
    GetStats(String),
}

impl Route {
    /// The route `path` names, if any.
    pub fn of(path: &str) -> Option<Route> {
        match path {
            "/" => Some(Route::Page),
            "/health" => Some(Route::Health),
            "/uploads" => Some(Route::CreateUpload),
            "/objects" => Some(Route::ListObjects),
            "/stats" => Some(Route::ListStats),
            _ => match path.strip_prefix('/')?.split_once('/')? {
                ("objects", key) if !key.is_empty() => Some(Route::GetObject(key.to_owned())),
                ("stats", folder) if !folder.is_empty() => Some(Route::GetStats(folder.to_owned())),
                _ => None,
            },
        }
    }

    /// The one method the route answers.
    pub fn method(&self) -> &'static str {
        match self {
            Route::CreateUpload => "POST",
            _ => "GET",
        }
    }

    /// The route as API Gateway's route table names it: the `route` dimension of the metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Page => "GET /",
            Route::Health => "GET /health",
            Route::CreateUpload => "POST /uploads",
            Route::ListObjects => "GET /objects",
            Route::GetObject(_) => "GET /objects/{key+}",
            Route::ListStats => "GET /stats",
            Route::GetStats(_) => "GET /stats/{folder+}",
        }
    }
}

/// The path the client asked for. API Gateway's REST APIs (and named stages of HTTP APIs) put the
/// stage first (`/prod/objects`); the routes don't include it.
pub(crate) fn path_without_stage(request: &Request) -> String {
    let path = request.uri().path();
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.stage.clone(),
        Some(RequestContext::ApiGatewayV2(context)) => context.stage.clone(),
        _ => None,
    };
    match stage.filter(|stage| stage != "$default") {
        Some(stage) => match path.strip_prefix(&format!("/{stage}")) {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => path.to_owned(),
        },
        None => path.to_owned(),
    }
}

/// A path segment percent-decoded, or a 400 if it is not UTF-8 once decoded.
pub(crate) fn decode_path(encoded: &str) -> Result<String, Failure> {
    percent_decode_str(encoded)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| Failure::bad_request("The path is not valid UTF-8 once percent-decoded."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_route_and_its_one_method() {
        assert_eq!(Route::of("/health"), Some(Route::Health));
        assert_eq!(Route::of("/"), Some(Route::Page));
        assert_eq!(
            Route::of("/objects/uploads/a%20b.txt"),
            Some(Route::GetObject("uploads/a%20b.txt".to_owned()))
        );
        assert_eq!(
            Route::of("/stats/uploads/"),
            Some(Route::GetStats("uploads/".to_owned()))
        );
        assert_eq!(Route::of("/uploads").map(|route| route.method()), Some("POST"));
        assert_eq!(
            Route::of("/objects/x").map(|route| route.name()),
            Some("GET /objects/{key+}")
        );
        for unknown in ["", "/objects/", "/stats/", "/nothing", "objects/x", "/health/x"] {
            assert_eq!(Route::of(unknown), None, "{unknown:?}");
        }
    }
}
