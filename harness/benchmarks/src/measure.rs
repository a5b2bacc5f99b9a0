//! The measuring: fresh processes for cold starts, one process for the warm invocations, the
//! put handler on one large object, and the `curl | sha256sum` floor beside it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::Emulator;

use super::lambda_api::{self, RuntimeApi};
use super::launcher::{self, Launcher};
use super::{fixtures, report, Language, LargeObject, Measured, Result, Results, Scale};
use anyhow::anyhow;

/// Cold starts, first invocations, warm invocations and memory of one function in one language.
pub async fn measure(launcher: &Launcher<'_>, scale: Scale, events: &mut dyn FnMut() -> Value) -> Result<Measured> {
    let mut measured = Measured::default();
    for run in 0..scale.cold_starts {
        let mut api = RuntimeApi::start().await?;
        let started = Instant::now();
        let mut child = launcher.spawn(&api)?;
        let outcome = async {
            let ready = api.wait_until_ready(Duration::from_secs(60)).await?;
            measured
                .cold_start_ms
                .push(ms(ready.saturating_duration_since(started)));
            measured.peak_rss_after_init.push(lambda_api::memory_of(child.id())?.0);
            measured
                .first_invocation_ms
                .push(invoke_checked(&mut api, launcher.function, events()).await?);
            // One process of the set also serves the warm invocations.
            if run == 0 {
                for invocation in 1..=scale.invocations {
                    api.wait_until_ready(Duration::from_secs(60)).await?;
                    measured
                        .warm_ms
                        .push(invoke_checked(&mut api, launcher.function, events()).await?);
                    if invocation == 100 {
                        measured.peak_rss_after_100 = lambda_api::memory_of(child.id())?.0;
                    }
                }
                measured.peak_rss_after_all = lambda_api::memory_of(child.id())?.0;
            }
            Ok::<(), anyhow::Error>(())
        }
        .await;
        let _ = child.kill();
        let _ = child.wait();
        outcome.map_err(|error| anyhow!("{error:#} (log: {})", launcher.log.display()))?;
    }
    Ok(measured)
}

/// One invocation that must succeed and answer what the function should; its duration in ms.
async fn invoke_checked(api: &mut RuntimeApi, function: &str, event: Value) -> Result<f64> {
    let (outcome, took) = api.invoke(event).await?;
    if outcome.failed {
        return Err(anyhow!("the invocation failed: {}", outcome.body));
    }
    fixtures::check(function, &outcome.body)?;
    Ok(ms(took))
}

/// The put handler hashing one large object, in both languages, beside `curl | sha256sum`.
pub async fn measure_large_object(
    results: &mut Results,
    emulator: &Emulator,
    catalog: &fixtures::Catalog,
    binaries: &Path,
    root: &Path,
    work: &Path,
) -> Result<()> {
    let scale = results.scale;
    let aws = emulator.sdk_config();
    println!("\n==> The put handler hashing a {} MiB object", scale.large_object_mib);
    let large = fixtures::upload_large_object(&aws, work, scale.large_object_mib).await?;
    results.large_object_pipe_seconds = pipe_to_sha256sum(&aws, &large).await?;
    println!("    emulator -> sha256sum: {:.2} s", results.large_object_pipe_seconds);
    for language in [Language::Rust, Language::Python] {
        let function = "s3-put-handler";
        let mut environment = launcher::environment(emulator, catalog, function, language);
        environment.push(("OBJECTS_TABLE_NAME".to_owned(), fixtures::large_object_table(language)));
        let launcher = Launcher {
            function,
            language,
            binaries,
            root,
            python: emulator.python(),
            environment,
            log: work.join("logs").join(format!("large-object-{}.log", language.tag())),
        };
        let run = hash_large_object(&launcher, fixtures::large_object_event(&large)).await?;
        println!(
            "    {:<6} {:.2} s, peak RSS {:.1} MiB",
            language.name(),
            run.seconds,
            report::mib(run.peak_rss)
        );
        results.large_object.push(run);
    }
    Ok(())
}

async fn hash_large_object(launcher: &Launcher<'_>, event: Value) -> Result<LargeObject> {
    let mut api = RuntimeApi::start().await?;
    let mut child = launcher.spawn(&api)?;
    let outcome = async {
        api.wait_until_ready(Duration::from_secs(60)).await?;
        let (outcome, took) = api.invoke(event).await?;
        let summary: Value = serde_json::from_str(&outcome.body).unwrap_or_default();
        if outcome.failed || summary["indexed"] != 1 {
            return Err(anyhow!("the large object was not indexed: {}", outcome.body));
        }
        Ok(LargeObject {
            language: launcher.language,
            seconds: took.as_secs_f64(),
            peak_rss: lambda_api::memory_of(child.id())?.0,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

/// The floor for hashing: the same object read from the emulator straight into `sha256sum`, with
/// `curl` on a presigned URL.
async fn pipe_to_sha256sum(aws: &aws_config::SdkConfig, object: &fixtures::LargeObjectRef) -> Result<f64> {
    let presigning = aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(3600))
        .map_err(|error| anyhow!("{error}"))?;
    let url = shared::aws::s3_client(aws)
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .presigned(presigning)
        .await
        .map_err(|error| anyhow!("presigning a GET: {error:?}"))?
        .uri()
        .to_owned();
    let started = Instant::now();
    let output = Command::new("bash")
        .args(["-c", "set -o pipefail; curl -sf \"$1\" | sha256sum", "pipe", &url])
        .output()
        .map_err(|error| anyhow!("curl | sha256sum: {error}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let digest = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !digest.starts_with(&object.sha256) {
        return Err(anyhow!("curl | sha256sum gave {digest:?}, expected {}", object.sha256));
    }
    Ok(seconds)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
