//! The measuring: fresh processes for cold starts, one process for the warm invocations, the
//! put handler on one large object, and the `curl | sha256sum` floor beside it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use testkit::tls::TlsFront;
use testkit::Emulator;

use super::cpu_share::{Controller, Group};
use super::lambda_api::{self, RuntimeApi};
use super::launcher::{self, Launcher};
use super::{fixtures, report, Language, LargeObject, Measured, Result, Results};
use anyhow::anyhow;

/// How the processes of one measurement get their CPU.
#[derive(Debug, Clone, Copy)]
pub struct Cpu<'a> {
    /// Where each process gets a control group of its own, for its CPU time and its quota; none
    /// where the machine has no controller the benchmark may write to (then no CPU times).
    pub controller: Option<&'a Controller>,
    /// The memory size whose share of a vCPU the process gets; `None`: a whole CPU.
    pub memory_mb: Option<u32>,
    /// Whether init (process start to its first request for work) runs at that share too. Off,
    /// init runs at a whole CPU and the share starts with the first invocation.
    pub bind_init: bool,
}

impl Cpu<'_> {
    pub fn whole(controller: Option<&Controller>) -> Cpu<'_> {
        Cpu {
            controller,
            memory_mb: None,
            bind_init: false,
        }
    }
}

/// Cold starts, first invocations, warm invocations, CPU time and memory of one function in one
/// language: `cold_starts` fresh processes, the first of which also serves `invocations` warm ones.
pub async fn measure(
    launcher: &Launcher<'_>,
    cold_starts: usize,
    invocations: usize,
    cpu: Cpu<'_>,
    events: &mut dyn FnMut() -> Value,
) -> Result<Measured> {
    let mut measured = Measured::default();
    for run in 0..cold_starts {
        let mut api = RuntimeApi::start().await?;
        let group = cpu
            .controller
            .map(|controller| controller.group(launcher.function))
            .transpose()?;
        if let (Some(group), Some(memory_mb), true) = (&group, cpu.memory_mb, cpu.bind_init) {
            group.limit_to(memory_mb)?;
        }
        let mut child = launcher.spawn_held(&api)?;
        let mut started = Instant::now();
        let outcome = async {
            if let Some(group) = &group {
                group.admit(child.id())?;
            }
            started = Instant::now();
            launcher::release(&mut child)?;
            let ready = api.wait_until_ready(Duration::from_secs(300)).await?;
            measured
                .cold_start_ms
                .push(ms(ready.saturating_duration_since(started)));
            let at_ready = cpu_ms(group.as_ref())?;
            measured.init_cpu_ms.extend(at_ready);
            if let (Some(group), Some(memory_mb), false) = (&group, cpu.memory_mb, cpu.bind_init) {
                group.limit_to(memory_mb)?;
            }
            measured.peak_rss_after_init.push(lambda_api::memory_of(child.id())?.0);
            let (took, used) = invoke_timed(&mut api, launcher.function, events(), group.as_ref()).await?;
            measured.first_invocation_ms.push(took);
            measured.first_invocation_cpu_ms.extend(used);
            // One process of the set also serves the warm invocations.
            if run == 0 {
                for invocation in 1..=invocations {
                    api.wait_until_ready(Duration::from_secs(60)).await?;
                    let (took, used) = invoke_timed(&mut api, launcher.function, events(), group.as_ref()).await?;
                    measured.warm_ms.push(took);
                    measured.warm_cpu_ms.extend(used);
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
        // The group is removed (dropped) only once its process is gone.
        let _ = child.wait();
        drop(group);
        outcome.map_err(|error| anyhow!("{error:#} (log: {})", launcher.log.display()))?;
    }
    Ok(measured)
}

/// One checked invocation: its duration, and the CPU time the process used for it, in ms.
async fn invoke_timed(
    api: &mut RuntimeApi,
    function: &str,
    event: Value,
    group: Option<&Group>,
) -> Result<(f64, Option<f64>)> {
    let before = cpu_ms(group)?;
    let took = invoke_checked(api, function, event).await?;
    let after = cpu_ms(group)?;
    Ok((took, before.zip(after).map(|(before, after)| after - before)))
}

fn cpu_ms(group: Option<&Group>) -> Result<Option<f64>> {
    group.map(|group| group.cpu_time().map(ms)).transpose()
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

/// The put handler hashing one large object, in both languages, beside `curl | sha256sum`: at a
/// whole CPU, and at the share of a vCPU its configured memory (`memory_mb`) gets, where the
/// machine's CPU controller allows.
#[allow(clippy::too_many_arguments)]
pub async fn measure_large_object(
    results: &mut Results,
    emulator: &Emulator,
    https: &TlsFront,
    catalog: &fixtures::Catalog,
    binaries: &Path,
    root: &Path,
    work: &Path,
    controller: Option<&Controller>,
    memory_mb: u32,
) -> Result<()> {
    let scale = results.scale;
    let aws = emulator.sdk_config();
    println!("\n==> The put handler hashing a {} MiB object", scale.large_object_mib);
    let large = fixtures::upload_large_object(&aws, work, scale.large_object_mib).await?;
    results.large_object_pipe_seconds = pipe_to_sha256sum(&aws, &large).await?;
    println!("    emulator -> sha256sum: {:.2} s", results.large_object_pipe_seconds);
    let dynamodb = shared::aws::dynamodb_client(&aws);
    let shares = std::iter::once(None).chain(controller.map(|_| Some(memory_mb)));
    for share in shares {
        for language in [Language::Rust, Language::Python] {
            let function = "s3-put-handler";
            // A table of its own per run: the same object indexed twice into one table would be
            // a duplicate the second time, and skipped.
            let table = match share {
                None => fixtures::large_object_table(language),
                Some(mb) => {
                    let table = format!("{}-{mb}mb", fixtures::large_object_table(language));
                    testkit::create_objects_table(&dynamodb, &table).await;
                    table
                }
            };
            let mut environment = launcher::environment(emulator, https, catalog, function, language);
            environment.push(("OBJECTS_TABLE_NAME".to_owned(), table));
            let launcher = Launcher {
                function,
                language,
                binaries,
                root,
                python: emulator.python(),
                environment,
                log: work.join("logs").join(format!("large-object-{}.log", language.tag())),
                memory_mb: share.unwrap_or(report::MEMORY_MB),
            };
            let cpu = Cpu {
                controller,
                memory_mb: share,
                bind_init: false,
            };
            let run = hash_large_object(&launcher, cpu, fixtures::large_object_event(&large)).await?;
            println!(
                "    {:<6} at {}: {:.2} s, {} peak RSS {:.1} MiB",
                language.name(),
                share.map_or_else(|| "a whole CPU".to_owned(), |mb| format!("{mb} MB's share")),
                run.seconds,
                run.cpu_seconds
                    .map(|cpu| format!("{cpu:.2} s of CPU,"))
                    .unwrap_or_default(),
                report::mib(run.peak_rss)
            );
            results.large_object.push(run);
        }
    }
    Ok(())
}

async fn hash_large_object(launcher: &Launcher<'_>, cpu: Cpu<'_>, event: Value) -> Result<LargeObject> {
    let mut api = RuntimeApi::start().await?;
    let group = cpu
        .controller
        .map(|controller| controller.group("large-object"))
        .transpose()?;
    let mut child = launcher.spawn_held(&api)?;
    let outcome = async {
        if let Some(group) = &group {
            group.admit(child.id())?;
        }
        launcher::release(&mut child)?;
        api.wait_until_ready(Duration::from_secs(60)).await?;
        if let (Some(group), Some(memory_mb)) = (&group, cpu.memory_mb) {
            group.limit_to(memory_mb)?;
        }
        let before = cpu_ms(group.as_ref())?;
        let (outcome, took) = api.invoke(event).await?;
        let after = cpu_ms(group.as_ref())?;
        let summary: Value = serde_json::from_str(&outcome.body).unwrap_or_default();
        if outcome.failed || summary["indexed"] != 1 {
            return Err(anyhow!("the large object was not indexed: {}", outcome.body));
        }
        Ok(LargeObject {
            language: launcher.language,
            memory_mb: cpu.memory_mb,
            seconds: took.as_secs_f64(),
            cpu_seconds: before.zip(after).map(|(before, after)| (after - before) / 1000.0),
            peak_rss: lambda_api::memory_of(child.id())?.0,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    drop(group);
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
