//! How a function reports a failure to Lambda.
//!
//! Lambda shows two strings for a failed invocation: `errorType` and `errorMessage`. The runtime's
//! default uses the Rust type name and the top-level message only, and an AWS SDK error's top level
//! says little ("service error"); its cause says what went wrong. [`report`] fixes both.

use std::error::Error;
use std::fmt::Write;

use lambda_runtime::Diagnostic;

/// Logs `error` with all its causes and turns it into the [`Diagnostic`] Lambda reports.
///
/// `error_type` is a stable name you choose (`"ListBucketsFailed"`): alarms, retries and
/// on-failure destinations can match on it, and it does not change when code is refactored.
/// Use it from your error type's `From` impl:
///
/// ```text
/// impl From<MyError> for Diagnostic {
///     fn from(error: MyError) -> Diagnostic {
///         shared::error::report("MyErrorType", &error)
///     }
/// }
/// ```
pub fn report(error_type: &str, error: &dyn Error) -> Diagnostic {
    let error_message = chain(error);
    tracing::error!(error_type, error = %error_message, "invocation failed");
    Diagnostic {
        error_type: error_type.to_owned(),
        error_message,
    }
}

/// An error and its causes on one line: `outer: cause: root cause`.
pub fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their cause in their own message; say each thing once.
        if !text.ends_with(&cause_text) {
            let _ = write!(text, ": {cause_text}");
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|cause| cause as &(dyn Error + 'static))
        }
    }

    #[test]
    fn message_names_every_cause_in_order() {
        let error = Layer(
            "listing buckets failed",
            Some(Box::new(Layer(
                "dispatch failure",
                Some(Box::new(Layer("connection refused", None))),
            ))),
        );
        let diagnostic = report("ListBucketsFailed", &error);
        assert_eq!(diagnostic.error_type, "ListBucketsFailed");
        assert_eq!(
            diagnostic.error_message,
            "listing buckets failed: dispatch failure: connection refused"
        );
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let error = Layer("read failed: timeout", Some(Box::new(Layer("timeout", None))));
        assert_eq!(chain(&error), "read failed: timeout");
    }
}
