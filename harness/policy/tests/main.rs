//! The repository's policy tests, one binary (each module is one policy):
//!
//! - `template`: every function is a crate of the root workspace, built in its own folder, watched
//!   by its alarms; the deployed API needs signatures; nothing is granted on every resource.
//! - `registry`: every list in the template that names the functions names all of them.
//! - `repository`: git tracks no build artifacts.
//! - `least_privilege`: each function is granted exactly the AWS actions its code calls.
//! - `managed_policies`: every policy a function's role gets after the SAM transform, the
//!   AWS-managed ones SAM attaches included, is known, and each grant on every resource says why.
//! - `public_door`: the public demo URL is braked, confined to a folder that expires, watched,
//!   and trusted by the bucket for this stack only; upload URLs are short-lived.
//! - `docs_agree`: what the deploy pages name and count is what the template creates.
//! - `feature_sets`: each function is compiled with one feature set, whoever builds it, and both
//!   workspaces build the crates they share with one set.
//! - `emulator`: the local AWS emulator applies the writes to one item one at a time, as
//!   DynamoDB does.
//! - `catalog_follows_the_bucket`: the put handler and the stream consumer together keep the
//!   objects table equal to the bucket and the statistics equal to a recount, whatever S3 and the
//!   stream deliver (a property test against the local AWS emulator).

// Helpers here unwrap too: in a test, a panic is a failure with a line number.
#![allow(clippy::unwrap_used)]

mod catalog_follows_the_bucket;
mod docs_agree;
mod emulator;
mod feature_sets;
mod least_privilege;
mod managed_policies;
mod public_door;
mod registry;
mod repository;
mod template;
