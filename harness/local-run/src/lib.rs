//! The local run: `cargo xtask local [--keep]` and `cargo xtask load [--quick]`. This file puts
//! the parts together, each in its own file: the resources the template declares (`resources`),
//! the functions running under their runtime emulators (`runtimes`), the triggers between them
//! (`triggers`), and what exercises them: the workshop story (`story`) or a load (`load`).

mod browser;
mod delivery;
mod load;
pub mod logs;
mod resources;
mod runtimes;
mod story;
mod triggers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use testkit::Emulator;

use resources::create_resources;
use runtimes::{FunctionRuntime, Runtimes};
use story::Story;
use support::{heading, run_command, tool};
use template_plan as template;
use triggers::{async_plan, deliver_s3_notifications, deliver_schedule, deliver_stream_batches, rate, stream_plan};

/// How long a step may wait for the asynchronous triggers to catch up.
const PATIENCE: Duration = Duration::from_secs(60);

use anyhow::{anyhow, Result};

/// What the running application is put through.
pub enum Mode {
    /// The workshop story, step by step; `keep` leaves everything running afterwards.
    Story { keep: bool },
    /// A burst of uploads through the whole pipeline, then concurrent requests to the HTTP API;
    /// `quick` is the bounded size CI runs.
    Load { quick: bool },
    /// The web page in headless Chromium; the last screenshot is saved to `screenshot`.
    Browser { screenshot: PathBuf },
}

pub async fn run(mode: Mode) -> Result<()> {
    let root = support::repo_root();
    let template_text =
        std::fs::read_to_string(root.join("template.yaml")).map_err(|error| anyhow!("template.yaml: {error}"))?;
    let plan = template::plan(&template_text)?;
    // What a second terminal (or a script) sources while `--keep` runs: written only once
    // everything answers, and removed first, so that a previous run's never passes for this one.
    let addresses = root.join(KEEP_ENV_FILE);
    let _ = std::fs::remove_file(&addresses);
    let logs = root.join("target/local/logs");
    std::fs::create_dir_all(&logs).map_err(|error| anyhow!("{}: {error}", logs.display()))?;

    heading("Building the functions (the first build compiles the AWS SDK: a few minutes)");
    for function in &plan.functions {
        // `-p`: each function alone, with only the features it asks for. `cargo lambda watch -p`
        // below runs the very same build, so it finds it up to date and starts at once. (Built
        // from the workspace root without `-p`, cargo would merge the features of every member
        // into each function and compile it a second, different way.) No `--quiet`: the first
        // build takes minutes and cargo's progress shows it is moving.
        run_command(tool("cargo").args(["build", "-p", &function.binary]).current_dir(&root))?;
    }

    let delivery = delivery::Delivery::from_env()?;

    heading("Starting the local AWS emulator and creating what template.yaml declares");
    let started = Instant::now();
    let emulator = Emulator::start();
    let aws = emulator.sdk_config();
    println!("emulator: {}", emulator.endpoint());
    let queues = create_resources(&aws, &plan).await?;
    println!("ready in {} ms", started.elapsed().as_millis());

    heading("Starting each function under its own cargo lambda watch");
    println!("delivering as AWS does: {}", delivery.describe());
    let mut runtimes = Runtimes::default();
    for function in &plan.functions {
        // Each function sees only its own environment, as in AWS.
        let mut environment: BTreeMap<String, String> =
            emulator.env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        environment.extend(function.environment.clone());
        // Several instances where AWS runs events side by side: the asynchronously invoked
        // functions. The stream's mapping sends one batch at a time per shard, a schedule one
        // event; the HTTP function keeps one instance, which `load/requests.rs` explains.
        let instances = if is_notified(&plan, function) {
            delivery.concurrency
        } else {
            1
        };
        let runtime = FunctionRuntime::start(&root, &logs, function, &environment, instances)?;
        println!(
            "{:<26} http://127.0.0.1:{}  (logs: target/local/logs/{}.log, {instances} instance{})",
            function.binary,
            runtime.target.port,
            function.binary,
            if instances == 1 { "" } else { "s at most" }
        );
        runtimes.0.insert(function.binary.clone(), runtime);
    }

    // Every trigger the template gives a function, by kind: nothing here names a function.
    let mut triggers = Vec::new();
    for function in &plan.functions {
        let target = runtimes.target(&function.binary)?;
        if is_notified(&plan, function) {
            let plan = async_plan(function);
            triggers.push(tokio::spawn(deliver_s3_notifications(
                aws.clone(),
                target.clone(),
                plan,
                queues.clone(),
                delivery.clone(),
            )));
        }
        if function.stream.is_some() {
            let plan = stream_plan(function)?;
            triggers.push(tokio::spawn(deliver_stream_batches(
                aws.clone(),
                target.clone(),
                plan,
                queues.clone(),
                delivery.clone(),
            )));
        }
        for schedule in &function.schedules {
            let every = rate(schedule)?;
            triggers.push(tokio::spawn(deliver_schedule(target.clone(), every)));
        }
    }

    let story = Story {
        aws: &aws,
        plan: &plan,
        runtimes: &runtimes,
        root: &root,
    };
    let keep = matches!(mode, Mode::Story { keep: true });
    let outcome = match &mode {
        Mode::Story { .. } => story.tell().await,
        Mode::Load { quick } => {
            load::Load::new(&aws, &plan, &runtimes, &queues, &root, *quick)
                .run()
                .await
        }
        Mode::Browser { screenshot } => browser::run(&story.api("/"), &plan.upload_prefix(), &root, screenshot).await,
    };
    if outcome.is_ok() && keep {
        let mut exports = emulator.process_env();
        exports.push(("API".to_owned(), story.api("")));
        exports.push(("BUCKET".to_owned(), plan.uploads_bucket()?.to_owned()));
        exports.push(("OBJECTS_TABLE".to_owned(), plan.objects_table()?.to_owned()));
        exports.push(("STATISTICS_TABLE".to_owned(), plan.statistics_table()?.to_owned()));
        let text: String = exports
            .iter()
            .map(|(name, value)| format!("export {name}={value}\n"))
            .collect();
        std::fs::write(
            &addresses,
            format!(
                "# The running local application (./scripts/local.sh --keep); AWS_DEFAULT_REGION is for boto3.\n{text}"
            ),
        )
        .map_err(|error| anyhow!("{}: {error}", addresses.display()))?;
        println!(
            "\nStill running; Ctrl-C stops everything. The web page: {}",
            story.api("/")
        );
        println!("In another terminal (from the repository's root):");
        println!(
            "  source {KEEP_ENV_FILE}   # {}",
            exports
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("  curl -s $API/stats");
        println!("  curl -s -X POST $API/uploads -H 'content-type: application/json' -d '{{\"key\": \"notes/today.txt\", \"content_type\": \"text/plain\", \"size\": 5}}'");
        println!("  # then PUT 5 bytes to the \"url\" it answers, with the \"headers\" it lists");
        std::future::pending::<()>().await;
    }
    for trigger in triggers {
        trigger.abort();
    }
    outcome
}

/// Whether a bucket notifies `function` (S3 invokes it asynchronously).
fn is_notified(plan: &template::Plan, function: &template::Function) -> bool {
    plan.buckets
        .iter()
        .flat_map(|bucket| &bucket.notifications)
        .any(|(_, _, binary)| *binary == function.binary)
}

/// Where `--keep` writes the running application's addresses, as `export` lines.
pub const KEEP_ENV_FILE: &str = "target/local/env.sh";
