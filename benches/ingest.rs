//! Ingest benchmark: a load generator drives a real `vigil serve` over loopback OTLP/gRPC
//! with the WAL fsync on, and prints spans/s, MB/s and the server's peak RSS.
//!
//! ```text
//! cargo bench --bench ingest                       # builds target/release/vigil first
//! VIGIL_BENCH_SPANS=4000000 VIGIL_BENCH_CONNECTIONS=16 cargo bench --bench ingest
//! VIGIL_BENCH_GRPC=127.0.0.1:4317 cargo bench --bench ingest   # load a server you started
//! ```
//!
//! Besides wall-clock throughput it prints the CPU time the server and the generator
//! used, so spans per server CPU-second (the per-core figure) is known even though both
//! share the machine.
//!
//! Requests are encoded once, up front, with the same opentelemetry-proto types the server
//! decodes, so the generator spends its CPU on sending, not encoding. It shares the machine
//! with the server: on a 2-core box the figures are for both together.

#[path = "common/mod.rs"]
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{env_usize, export, free_port, request, vigil_binary_unless};
use prost::Message;

fn peak_rss_kib(child: &Child) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU seconds of a process, from /proc (Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() {
    let total_spans = env_usize("VIGIL_BENCH_SPANS", 2_000_000);
    let batch = env_usize("VIGIL_BENCH_BATCH", 1000);
    let connections = env_usize("VIGIL_BENCH_CONNECTIONS", 8);
    let distinct = 64;

    let external = std::env::var("VIGIL_BENCH_GRPC").ok();
    let binary = vigil_binary_unless(external.is_some());
    let data_dir = tempfile::tempdir().expect("temp dir");
    let grpc_addr = external
        .clone()
        .unwrap_or_else(|| format!("127.0.0.1:{}", free_port()));
    let http_addr = format!("127.0.0.1:{}", free_port());
    let mut server: Option<Child> = external.is_none().then(|| {
        Command::new(&binary)
            .args(["serve", "--data-dir"])
            .arg(data_dir.path())
            .args(["--grpc-listen", &grpc_addr, "--http-listen", &http_addr])
            .env("VIGIL_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start vigil serve")
    });
    let cpu_before = server.as_ref().and_then(|s| cpu_seconds(s.id()));
    let own_before = cpu_seconds(std::process::id());

    let base_ns = 1_780_000_000_000_000_000u64;
    let bodies: Vec<Bytes> = (0..distinct)
        .map(|i| {
            Bytes::from(
                request(
                    i % 6,
                    "bench-bot",
                    batch,
                    base_ns + i as u64 * 1_000_000_000,
                    i as u64,
                )
                .encode_to_vec(),
            )
        })
        .collect();
    let requests = total_spans.div_ceil(batch);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (elapsed, bytes_sent, throttled) = runtime.block_on(async {
        let endpoint = format!("http://{grpc_addr}");
        let mut channel = None;
        for _ in 0..100 {
            match tonic::transport::Endpoint::from_shared(endpoint.clone())
                .expect("endpoint")
                .connect()
                .await
            {
                Ok(c) => {
                    channel = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let channel = channel.expect("vigil did not start listening");
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let throttled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let channel = channel.clone();
            let bodies = bodies.clone();
            let next = next.clone();
            let throttled = throttled.clone();
            let path = path.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = tonic::client::Grpc::new(channel);
                let mut sent = 0usize;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests {
                        break;
                    }
                    let body = bodies[i % bodies.len()].clone();
                    sent += body.len();
                    let retries = export(&mut client, body, &path).await;
                    throttled.fetch_add(retries, std::sync::atomic::Ordering::Relaxed);
                }
                sent
            }));
        }
        let mut bytes_sent = 0;
        for task in tasks {
            bytes_sent += task.await.expect("sender task");
        }
        (
            started.elapsed(),
            bytes_sent,
            throttled.load(std::sync::atomic::Ordering::Relaxed),
        )
    });

    let rss = server.as_ref().and_then(peak_rss_kib);
    let server_cpu = match (
        server.as_ref().and_then(|s| cpu_seconds(s.id())),
        cpu_before,
    ) {
        (Some(after), Some(before)) => Some(after - before),
        _ => None,
    };
    let own_cpu = match (cpu_seconds(std::process::id()), own_before) {
        (Some(after), Some(before)) => Some(after - before),
        _ => None,
    };
    let spans = requests * batch;
    let secs = elapsed.as_secs_f64();
    println!(
        "ingest benchmark: OTLP/gRPC, WAL fsync on, {connections} connections, {batch} spans/request"
    );
    println!("  spans sent         {spans}");
    println!("  elapsed            {secs:.2} s");
    println!("  spans/s            {:.0}", spans as f64 / secs);
    println!("  MB/s (protobuf)    {:.1}", bytes_sent as f64 / secs / 1e6);
    println!("  throttled retries  {throttled} (UNAVAILABLE while the buffer was full)");
    match rss {
        Some(kib) => println!("  server peak RSS    {:.0} MiB", kib as f64 / 1024.0),
        None => println!("  server peak RSS    unavailable (external server or no /proc)"),
    }
    if let Some(cpu) = server_cpu {
        println!(
            "  server CPU         {cpu:.2} s ({:.0} spans per server CPU-second)",
            spans as f64 / cpu
        );
    }
    if let Some(cpu) = own_cpu {
        println!("  generator CPU      {cpu:.2} s");
    }

    // Check the data is all there, then stop the server.
    let Some(mut server) = server.take() else {
        return;
    };
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status();
    let _ = server.wait();
    let output = Command::new(&binary)
        .args(["sql", "--format", "csv", "--data-dir"])
        .arg(data_dir.path())
        .arg("SELECT count(*) AS n FROM spans")
        .output()
        .expect("vigil sql");
    let text = String::from_utf8_lossy(&output.stdout);
    println!(
        "  rows stored        {}",
        text.lines().nth(1).unwrap_or("?")
    );
}
