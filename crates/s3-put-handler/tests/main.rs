//! The integration tests of s3-put-handler, in one binary (`cargo test -p s3-put-handler`): one binary,
//! not one per file, because each would link the AWS SDK again.
//!
//! - `emulator`: against the local AWS emulator, every call over HTTP as in AWS;
//! - `faults`: with its AWS calls through `testkit`'s fault proxy (throttling, errors, slow answers);
//! - `repair`: the scheduled repair run: lost and failed events, ghosts, and what it leaves alone.

mod emulator;
mod faults;
mod repair;
