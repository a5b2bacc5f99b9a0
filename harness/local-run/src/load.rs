//! `cargo xtask load [--quick]`: the local application under load, with every figure printed.
//!
//! 1. A burst of uploads straight into the bucket, from many clients at once, with overwrites,
//!    repeated uploads and deletes mixed in. It flows through the whole pipeline (S3 notification
//!    -> s3-put-handler -> objects table -> stream -> dynamodb-stream-consumer -> statistics) and
//!    the run waits until the catalog equals the bucket, object by object and hash by hash, and
//!    every folder's statistics equal a recount. Anything parked in a failure queue fails the run:
//!    under load as without it, nothing may be lost or counted twice.
//! 2. Concurrent requests to the HTTP function through its function URL, from one client and
//!    then from many, served by one instance as one Lambda instance would (`load/requests.rs`
//!    says why not more): throughput and latency percentiles, per route.
//! 3. Every function's log, thousands of lines by then, scanned for secrets and whole events.
//!
//! Bounded in count and in time: `--quick` (what CI runs) and the full size below.
//!
//! Phase 1 is in `load/pipeline.rs`, phase 2 in `load/requests.rs`; what they read back from the
//! bucket, the tables and the queues is in `load/state.rs`.

mod pipeline;
mod requests;
mod state;

use std::path::Path;

use aws_config::SdkConfig;

use super::resources::Queues;
use super::runtimes::Runtimes;
use super::{heading, Result};
use crate::logs;
use anyhow::anyhow;
use template_plan::Plan;

/// The function the HTTP load is aimed at.
pub const HTTP_FUNCTION: &str = "api-gateway-http";

/// How big a load is.
#[derive(Debug, Clone, Copy)]
struct Size {
    /// Distinct keys uploaded (a tenth of them twice more: overwritten or uploaded again).
    keys: usize,
    /// Folders they are spread over.
    folders: usize,
    /// Clients uploading at once.
    uploaders: usize,
    /// Rounds of requests to the HTTP function: (clients at once, requests). One client alone
    /// shows each route's own latency; many at once show throughput and queueing.
    rounds: [(usize, usize); 2],
}

const QUICK: Size = Size {
    keys: 1_000,
    folders: 10,
    uploaders: 16,
    rounds: [(1, 400), (16, 2_000)],
};

/// (The emulator is one Python process whose queue operations slow down as the queue grows:
/// beyond a few thousand keys the limit measured is the emulator's, not the functions'.)
const FULL: Size = Size {
    keys: 2_500,
    folders: 25,
    uploaders: 16,
    rounds: [(1, 1_000), (16, 10_000)],
};

/// The timeouts of the load's own clients (the uploaders, and the checker reading the bucket and
/// the tables): they are clients, not functions, and wait for a busy emulator longer than a
/// function's 8-second budget would.
fn patient() -> aws_sdk_s3::config::timeout::TimeoutConfig {
    aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .operation_timeout(std::time::Duration::from_secs(60))
        .operation_attempt_timeout(std::time::Duration::from_secs(30))
        .build()
}

pub struct Load<'a> {
    aws: &'a SdkConfig,
    plan: &'a Plan,
    runtimes: &'a Runtimes,
    queues: &'a Queues,
    root: &'a Path,
    size: Size,
}

impl<'a> Load<'a> {
    pub fn new(
        aws: &'a SdkConfig,
        plan: &'a Plan,
        runtimes: &'a Runtimes,
        queues: &'a Queues,
        root: &'a Path,
        quick: bool,
    ) -> Self {
        let size = if quick { QUICK } else { FULL };
        Load {
            aws,
            plan,
            runtimes,
            queues,
            root,
            size,
        }
    }

    pub async fn run(&self) -> Result<()> {
        let prefix = self.plan.upload_prefix();
        let keys = pipeline::burst(self.size, &prefix);
        self.burst(self.plan.uploads_bucket()?, &keys).await?;
        self.requests(&prefix).await?;
        self.logs_leak_nothing()?;
        heading("Done: the pipeline ended exact and the HTTP function answered every request as expected");
        Ok(())
    }

    /// Under load too, no function logged a secret or a whole event: thousands of lines, with
    /// every kind of outcome, read one by one.
    fn logs_leak_nothing(&self) -> Result<()> {
        heading("3. Every function's log under load: no secrets, no whole events");
        for function in &self.plan.functions {
            let log = format!("target/local/logs/{}.log", function.binary);
            let text = std::fs::read_to_string(self.root.join(&log)).map_err(|error| anyhow!("{log}: {error}"))?;
            if let Some((number, leaked)) = logs::first_leak(&text) {
                return Err(anyhow!("{log}:{number}: {} in the log", leaked.join(", ")));
            }
            println!(
                "    {:<26} {:>6} lines, 0 findings",
                function.binary,
                text.lines().count()
            );
        }
        Ok(())
    }
}
