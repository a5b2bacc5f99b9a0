//! What every function in this workshop needs, and nothing else.
//!
//! - [`logging`]: JSON logs that follow Lambda's log level and format settings.
//! - [`error`]: how a function reports a failure to Lambda.
//! - [`aws`]: the one way every function builds its AWS clients.
//! - `emulator` (feature `emulator`, tests only): starts the local AWS emulator.

pub mod aws;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod error;
pub mod logging;
