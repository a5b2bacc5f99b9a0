//! Any bytes as the HTTP function's raw invocation: after `UsableEventsLayer`'s check,
//! lambda_http's own conversion (headers, host, path, query, body) gives a request or a
//! deserialisation error (an invocation error), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let usable = api_gateway_http::usable_event(data).unwrap_or_else(|| data.to_vec());
    let Ok(text) = std::str::from_utf8(&usable) else { return };
    let _ = lambda_http::request::from_str(text);
});
