//! The integration tests of api-gateway-http, in one binary (`cargo test -p api-gateway-http`): one binary,
//! not one per file, because each would link the AWS SDK again.
//!
//! - `emulator`: against the local AWS emulator, every call over HTTP as in AWS;

mod emulator;
