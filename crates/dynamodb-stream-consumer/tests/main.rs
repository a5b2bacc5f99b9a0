//! The integration tests of dynamodb-stream-consumer, in one binary (`cargo test -p dynamodb-stream-consumer`): one binary,
//! not one per file, because each would link the AWS SDK again.
//!
//! - `emulator`: against the local AWS emulator, every call over HTTP as in AWS;
//! - `faults`: with its AWS calls through `testkit`'s fault proxy (throttling, errors, slow answers).

mod emulator;
mod faults;
