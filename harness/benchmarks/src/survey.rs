//! The statistics reconciler at scale: the real binary, under the loopback Runtime API as Lambda
//! runs it, over an objects table of 10,000 and of 100,000 objects (1,000 and 10,000 in the quick
//! run) spread over the same folders. It prints each run's duration and the process's peak RSS
//! (what Lambda reports as "Max Memory Used"): the survey keeps one entry per folder, so its
//! memory should stay flat while the objects grow tenfold.

use std::path::Path;
use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use serde_json::{json, Value};
use testkit::Emulator;
use tokio::task::JoinSet;

use super::lambda_api::{self, RuntimeApi};
use super::launcher::{self, Launcher};
use super::{report, Language, Result, Results};
use anyhow::anyhow;
use testkit::tls::TlsFront;

/// The function this measures (it has no Python twin, so the per-function tables leave it out).
pub const FUNCTION: &str = "statistics-reconciler";

/// The folders every size is spread over: the same for both, so that only the objects grow.
pub const FOLDERS: usize = 100;

/// One run of the reconciler over a table of `objects` objects.
#[derive(Debug, Clone, Copy)]
pub struct SurveyRun {
    pub objects: usize,
    pub folders_repaired: u64,
    pub seconds: f64,
    pub peak_rss: u64,
}

/// The two sizes of objects table the reconciler is measured at.
pub fn sizes(quick: bool) -> [usize; 2] {
    if quick {
        [1_000, 10_000]
    } else {
        [10_000, 100_000]
    }
}

/// Fills a fresh pair of tables for each size, then runs the reconciler over each once.
pub async fn measure(
    results: &mut Results,
    emulator: &Emulator,
    https: &TlsFront,
    binaries: &Path,
    root: &Path,
    work: &Path,
) -> Result<()> {
    let sizes = sizes(results.scale.quick);
    println!(
        "\n==> The statistics reconciler over {} and {} objects in {FOLDERS} folders",
        sizes[0], sizes[1]
    );
    let dynamodb = shared::aws::dynamodb_client(&emulator.sdk_config());
    for objects in sizes {
        let (objects_table, statistics_table) = (
            format!("survey-objects-{objects}"),
            format!("survey-statistics-{objects}"),
        );
        testkit::create_objects_table(&dynamodb, &objects_table).await;
        // The statistics table starts empty: every folder differs from its recount, so every
        // folder is repaired and the run does all of its work.
        testkit::create_statistics_table(&dynamodb, &statistics_table).await;
        fill(&dynamodb, &objects_table, objects).await?;
        let mut environment = launcher::over_tls(emulator, https);
        environment.extend([
            ("OBJECTS_TABLE_NAME".to_owned(), objects_table),
            ("STATISTICS_TABLE_NAME".to_owned(), statistics_table),
            // The objects were indexed long ago: with no quiet period every folder is quiet.
            ("QUIET_PERIOD_SECONDS".to_owned(), "0".to_owned()),
        ]);
        let launcher = Launcher {
            function: FUNCTION,
            language: Language::Rust,
            binaries,
            root,
            python: emulator.python(),
            environment,
            log: work.join("logs").join(format!("{FUNCTION}-{objects}.log")),
            memory_mb: report::MEMORY_MB,
        };
        let run = run_once(&launcher, objects).await?;
        println!(
            "    {:>7} objects: {:.2} s, peak RSS {:.1} MiB, {} folders repaired",
            run.objects,
            run.seconds,
            report::mib(run.peak_rss),
            run.folders_repaired
        );
        results.survey.push(run);
    }
    Ok(())
}

/// Writes `objects` object items into `table`, 25 to a BatchWriteItem (its limit), eight
/// batches at a time.
async fn fill(dynamodb: &aws_sdk_dynamodb::Client, table: &str, objects: usize) -> Result<()> {
    let items: Vec<_> = (0..objects)
        .map(|index| {
            let key = format!("uploads/survey/folder-{:03}/object-{index:06}.txt", index % FOLDERS);
            serde_dynamo::to_item(testkit::object_item("survey", &key, 1_000 + index as u64))
                .map_err(|error| anyhow!("an object item: {error}"))
        })
        .collect::<Result<_>>()?;
    let mut batches = items.chunks(25).map(<[_]>::to_vec);
    let mut writing = JoinSet::new();
    loop {
        while writing.len() < 8 {
            let Some(batch) = batches.next() else { break };
            writing.spawn(write_batch(dynamodb.clone(), table.to_owned(), batch));
        }
        match writing.join_next().await {
            Some(written) => written.map_err(|error| anyhow!("a batch write task: {error}"))??,
            None => return Ok(()),
        }
    }
}

/// One BatchWriteItem, repeated with what the table left unprocessed until nothing is left.
async fn write_batch(
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    items: Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>,
) -> Result<()> {
    let mut requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|error| anyhow!("{error}"))?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_>>()?;
    while !requests.is_empty() {
        let written = dynamodb
            .batch_write_item()
            .request_items(&table, requests)
            .send()
            .await
            .map_err(|error| anyhow!("BatchWriteItem into {table}: {error:?}"))?;
        requests = written
            .unprocessed_items
            .and_then(|mut unprocessed| unprocessed.remove(&table))
            .unwrap_or_default();
    }
    Ok(())
}

/// A fresh process, one scheduled invocation, its duration and the process's peak memory.
async fn run_once(launcher: &Launcher<'_>, objects: usize) -> Result<SurveyRun> {
    let mut api = RuntimeApi::start().await?;
    let mut child = launcher.spawn(&api)?;
    let outcome = async {
        api.wait_until_ready(Duration::from_secs(60)).await?;
        let (outcome, took) = api.invoke(scheduled_event()).await?;
        let summary: Value = serde_json::from_str(&outcome.body).unwrap_or_default();
        let repaired = summary["folders_repaired"].as_u64().unwrap_or_default();
        if outcome.failed || repaired != FOLDERS as u64 {
            return Err(anyhow!(
                "the reconciler should have repaired all {FOLDERS} folders: {}",
                outcome.body
            ));
        }
        Ok(SurveyRun {
            objects,
            folders_repaired: repaired,
            seconds: took.as_secs_f64(),
            peak_rss: lambda_api::memory_of(child.id())?.0,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    outcome.map_err(|error| anyhow!("{error:#} (log: {})", launcher.log.display()))
}

/// What EventBridge Scheduler sends every hour (the function does not read it).
fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": template_plan::ACCOUNT_ID,
        "time": "1970-01-01T00:00:00Z",
        "region": template_plan::REGION,
        "resources": [],
        "detail": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_run_measures_ten_and_a_hundred_thousand_objects_and_the_quick_run_fewer() {
        assert_eq!(sizes(false), [10_000, 100_000]);
        let quick = sizes(true);
        assert!(quick[0] < 10_000 && quick[1] <= 10_000, "{quick:?}");
        // Both sizes hold more objects than folders: otherwise memory per folder and per
        // object could not be told apart.
        assert!(quick.iter().all(|objects| *objects >= 10 * FOLDERS));
    }
}
