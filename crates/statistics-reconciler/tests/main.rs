//! The integration tests of statistics-reconciler, in one binary (`cargo test -p statistics-reconciler`): one binary,
//! not one per file, because each would link the AWS SDK again.
//!
//! - `emulator`: against the local AWS emulator, every call over HTTP as in AWS;
//! - `faults`: with its AWS calls through `testkit`'s fault proxy (throttling, errors, slow answers).

mod emulator;
mod faults;
