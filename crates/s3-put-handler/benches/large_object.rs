//! Indexes one large generated object through the real handler and prints the process's peak
//! memory while it does, and the throughput. The object streams from a temporary file into the
//! local emulator and back through the handler; it is never held in memory whole.
//!
//! Run: `cargo bench -p s3-put-handler --bench large_object` (256 MiB), or add `-- 1024` for a
//! size in MiB. Linux only: it reads peak memory from /proc.

use std::io::Write;
use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::{Context, LambdaEvent};
use s3_put_handler::{function_handler, Config, Deps};
use serde_json::json;
use testkit::Emulator;

const MIB: u64 = 1024 * 1024;

fn main() {
    let size_mib: u64 = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(256);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(run(size_mib));
}

async fn run(size_mib: u64) {
    let emulator = Emulator::start();
    let config = Config {
        objects_table: "objects".to_owned(),
        upload_prefix: "uploads/".to_owned(),
        repair: None,
    };
    let deps = Deps::new(&emulator.sdk_config(), config);
    deps.s3
        .create_bucket()
        .bucket("bench")
        .send()
        .await
        .expect("creating the bucket");
    testkit::create_objects_table(&deps.dynamodb, "objects").await;

    let file = generate(size_mib);
    let key = format!("uploads/bench/{size_mib}-MiB.bin");
    let body = ByteStream::from_path(file.path())
        .await
        .expect("opening the generated file");
    // The upload is the benchmark's setup, not the function's work: a client without the
    // function's 8 s operation timeout, which a 1 GiB upload to the emulator outlasts.
    let uploader = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&emulator.sdk_config())
            .timeout_config(aws_sdk_s3::config::timeout::TimeoutConfig::disabled())
            .force_path_style(true)
            .build(),
    );
    let put = uploader
        .put_object()
        .bucket("bench")
        .key(&key)
        .body(body)
        .send()
        .await
        .expect("uploading");
    let etag = put.e_tag().unwrap_or_default().trim_matches('"').to_owned();
    let event = json!({ "Records": [{
        "eventTime": "2026-11-27T06:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "bench" },
        "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "s3": { "bucket": { "name": "bench" }, "object": { "key": key, "size": size_mib * MIB, "eTag": etag } }
    }]});

    let before = memory_kib("VmRSS");
    reset_peak_memory();
    let started = Instant::now();
    let summary = function_handler(&deps, LambdaEvent::new(event, Context::default()))
        .await
        .expect("indexing");
    let seconds = started.elapsed().as_secs_f64();
    let peak = memory_kib("VmHWM");

    assert_eq!(summary.indexed, 1, "the object was not indexed: {summary:?}");
    let item = deps
        .dynamodb
        .get_item()
        .table_name("objects")
        .key("folder", AttributeValue::S("uploads/bench/".to_owned()))
        .key("key", AttributeValue::S(key.clone()))
        .send()
        .await
        .expect("reading the item back")
        .item
        .expect("the item");
    let indexed_size = item
        .get("size")
        .and_then(|size| size.as_n().ok())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        indexed_size,
        (size_mib * MIB).to_string(),
        "the item's size is not the object's"
    );
    println!("object:          {size_mib} MiB ({indexed_size} bytes indexed)");
    println!(
        "indexing time:   {seconds:.2} s ({:.0} MiB/s, emulator included)",
        size_mib as f64 / seconds
    );
    println!("RSS before:      {:.1} MiB", before as f64 / 1024.0);
    println!("peak RSS during: {:.1} MiB", peak as f64 / 1024.0);
}

/// A temporary file of pseudo-random bytes (xorshift), written 1 MiB at a time.
fn generate(size_mib: u64) -> tempfile_path::TempFile {
    let file = tempfile_path::TempFile::new();
    let mut out = std::io::BufWriter::new(std::fs::File::create(file.path()).expect("creating the temporary file"));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut chunk = vec![0u8; MIB as usize];
    for _ in 0..size_mib {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        out.write_all(&chunk).expect("writing the temporary file");
    }
    out.flush().expect("writing the temporary file");
    file
}

/// Resets the kernel's "peak resident memory" mark for this process, so VmHWM measures from here.
fn reset_peak_memory() {
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS mark (Linux only)");
}

fn memory_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status (Linux only)");
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim_start_matches(':')
                .trim()
                .strip_suffix(" kB")?
                .parse()
                .ok()
        })
        .expect("a memory line in /proc/self/status")
}

/// A file path in the system's temporary folder, removed on drop.
mod tempfile_path {
    use std::path::{Path, PathBuf};

    pub struct TempFile(PathBuf);

    impl TempFile {
        pub fn new() -> TempFile {
            TempFile(std::env::temp_dir().join(format!("s3-put-handler-bench-{}.bin", std::process::id())))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
