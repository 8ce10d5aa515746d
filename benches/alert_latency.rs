//! Alert latency: from the OTLP request that tips an SLO over its page threshold to the
//! alert's POST reaching Alertmanager's API, with a 1 s SLO evaluation interval.
//!
//! Each round starts a fresh `vigil serve` (in process, loopback ports, its own data
//! directory) with one SLO and a loopback receiver standing in for Alertmanager's
//! `POST /api/v2/alerts`, sends one OTLP/HTTP logs request with half its events failed,
//! and times until the receiver sees the alert. `cargo bench --bench alert_latency`;
//! `ALERT_BENCH_ROUNDS` (default 5).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SLO: &str = "\
apiVersion: openslo/v1
kind: SLO
metadata:
  name: probe-availability
  annotations:
    vigil.dev/alert-windows: page 2% 1h 1m
    vigil.dev/min-events: '1'
spec:
  service: probe
  indicator:
    metadata: {name: probe-events}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Vigil, spec: {table: logs, filter: \"event_name = 'probe_failed'\"}}}
        total: {metricSource: {type: Vigil, spec: {table: logs, filter: \"event_name LIKE 'probe_%'\"}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
";

/// A loopback HTTP server that answers 200 to everything and reports when the first
/// `POST /api/v2/alerts` arrives.
fn alertmanager_stand_in() -> (String, mpsc::Receiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let arrived = Instant::now();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            if request_line.starts_with("POST /api/v2/alerts") {
                let _ = tx.send(arrived);
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, rx)
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn burst() -> String {
    let at = (now_secs() * 1_000_000_000).to_string();
    let record = |name: &str| {
        format!(
            r#"{{"timeUnixNano":"{at}","body":{{"stringValue":"{name}"}},"attributes":[{{"key":"event.name","value":{{"stringValue":"{name}"}}}}]}}"#
        )
    };
    let records: Vec<String> = (0..40)
        .map(|i| {
            record(if i % 2 == 0 {
                "probe_ok"
            } else {
                "probe_failed"
            })
        })
        .collect();
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"probe"}}}}]}},"scopeLogs":[{{"logRecords":[{}]}}]}}]}}"#,
        records.join(",")
    )
}

fn round(runtime: &tokio::runtime::Runtime) -> Result<Duration, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let specs = dir.path().join("slo");
    std::fs::create_dir_all(&specs).map_err(|e| e.to_string())?;
    std::fs::write(specs.join("probe.yaml"), SLO).map_err(|e| e.to_string())?;
    let (am_url, arrivals) = alertmanager_stand_in();
    let mut config = vigil::config::Config::parse(&format!(
        "data_dir = {data:?}\n\
         [server]\ngrpc_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\n\
         [postgres]\nenabled = false\n\
         [slo]\ninterval = \"1s\"\nbuilt_in_packs = false\n\
         [alerts]\nmin_firing = \"0s\"\n[[alerts.alertmanager]]\nurl = \"{am_url}\"\n",
        data = dir.path().join("data").display().to_string()
    ))?;
    config.slo.dirs = vec![specs];
    let server = runtime
        .block_on(vigil::server::Server::bind(config))
        .map_err(|e| e.to_string())?;
    let http = server.http_addr().ok_or("no HTTP address")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));
    // Keep the burst inside one minute: its one-minute confirmation window must still
    // hold it when the alert is evaluated.
    while now_secs() % 60 > 45 {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2)); // the SLO job's first step is done
    let body = burst();
    let sent = Instant::now();
    ureq::post(&format!("http://{http}/v1/logs"))
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .map_err(|e| format!("OTLP request failed: {e}"))?;
    let arrived = arrivals
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "no alert reached the receiver within 60 s".to_owned())?;
    let _ = stop.send(());
    let _ = runtime.block_on(running);
    Ok(arrived.saturating_duration_since(sent))
}

fn main() {
    let rounds: usize = std::env::var("ALERT_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let mut latencies = Vec::new();
    for n in 0..rounds {
        match round(&runtime) {
            Ok(latency) => {
                println!("round {}: {latency:?}", n + 1);
                latencies.push(latency);
            }
            Err(e) => {
                eprintln!("round {} failed: {e}", n + 1);
                std::process::exit(1);
            }
        }
    }
    latencies.sort();
    println!(
        "alert latency, OTLP request to Alertmanager POST (1 s SLO interval, {rounds} rounds): median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
}
