//! Helpers shared by the integration tests: a real server on ephemeral loopback ports,
//! HTTP requests, and SQL through the server's query API.
#![allow(dead_code)]

pub mod peers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil::config::Config;

/// A `vigil serve` running in this process on its own runtime thread.
pub struct TestServer {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    /// The Postgres port, unless `[postgres] enabled = false`.
    pub pg: Option<SocketAddr>,
    pub data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

pub fn config_for(data_dir: &Path) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_owned(),
        ..Config::default()
    };
    config.server.grpc_listen = "127.0.0.1:0".into();
    config.server.http_listen = "127.0.0.1:0".into();
    config.postgres.listen = "127.0.0.1:0".into();
    config
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut config = config_for(temp.path());
        tweak(&mut config);
        let mut server = Self::start_config(config);
        server._temp = Some(temp);
        server
    }

    pub fn start_config(config: Config) -> TestServer {
        let data_dir = config.data_dir.clone();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                // A server just stopped in this process may still hold the data
                // directory's lock for a moment: its WAL thread ends once the last
                // handle (a query thread finishing) is gone.
                let mut attempts = 0;
                let server = loop {
                    match vigil::server::Server::bind(config.clone()).await {
                        Err(vigil::server::ServeError::Store(
                            vigil::store::StoreError::Locked { .. },
                        )) if attempts < 100 => {
                            attempts += 1;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        other => break other.expect("bind server"),
                    }
                };
                addr_tx
                    .send((
                        server.grpc_addr().unwrap(),
                        server.http_addr().unwrap(),
                        server.pg_addr(),
                    ))
                    .unwrap();
                server
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("server run");
            });
        });
        let (grpc, http, pg) = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server started");
        TestServer {
            grpc,
            http,
            pg,
            data_dir,
            stop: Some(stop),
            thread: Some(thread),
            _temp: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Graceful stop: drains and flushes, like SIGTERM.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread");
        }
    }

    /// POSTs `body` as JSON to `path` on the HTTP port.
    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> HttpResponse {
        post(
            &self.url(path),
            "application/json",
            &[],
            &serde_json::to_vec(body).unwrap(),
        )
    }

    /// Runs SQL through `POST /api/v1/query` and returns the rows.
    pub fn sql(&self, sql: &str) -> Vec<serde_json::Value> {
        let response = self.post_json("/api/v1/query", &serde_json::json!({ "sql": sql }));
        assert_eq!(
            response.status,
            200,
            "query {sql:?} failed: {}",
            response.text()
        );
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        body["rows"].as_array().cloned().unwrap_or_default()
    }

    /// One value from the first row of a query.
    pub fn scalar(&self, sql: &str) -> serde_json::Value {
        let rows = self.sql(sql);
        let row = rows.first().unwrap_or_else(|| panic!("no rows for {sql}"));
        row.as_object().unwrap().values().next().cloned().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

pub fn post(url: &str, content_type: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.post(url).header("Content-Type", content_type);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send(body).expect("HTTP request");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = response
        .into_body()
        .with_config()
        .limit(256 << 20)
        .read_to_vec()
        .expect("read body");
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// The fixture at `tests/fixtures/otlp/<path>`.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/otlp")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// GETs `url` and parses the body as JSON, failing on a status other than 200.
pub fn get_json(url: &str) -> serde_json::Value {
    let mut response = ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let text = response.body_mut().read_to_string().expect("response body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
}

/// `vigil` as a child process, for tests that kill it or run the CLI.
pub fn vigil_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vigil")
}

/// Runs `vigil sql --format json` against a data directory and returns the rows.
pub fn cli_sql(data_dir: &Path, sql: &str) -> Vec<serde_json::Value> {
    let output = Command::new(vigil_bin())
        .args(["sql", "--format", "json", "--data-dir"])
        .arg(data_dir)
        .arg(sql)
        .output()
        .expect("run vigil sql");
    assert!(
        output.status.success(),
        "vigil sql failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .unwrap_or_else(|e| {
            panic!(
                "vigil sql output is not JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A `vigil serve` child process on free loopback ports.
pub struct ServerProcess {
    pub child: Child,
    pub grpc: String,
    pub http: String,
    pub pg: String,
}

impl ServerProcess {
    /// Starts `vigil serve` on ports the OS picks and learns them from its JSON log, so
    /// parallel tests never race for a port.
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> ServerProcess {
        let mut child = Command::new(vigil_bin())
            .args(["--log-format", "json", "serve", "--data-dir"])
            .arg(data_dir)
            .args([
                "--grpc-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--pg-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vigil serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel::<(String, String)>();
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let message = event["fields"]["message"].as_str().unwrap_or("");
                if let Some(addr) = event["fields"]["addr"].as_str() {
                    let kind = if message.starts_with("OTLP/gRPC") {
                        "grpc"
                    } else if message.starts_with("Postgres") {
                        "pg"
                    } else {
                        "http"
                    };
                    let _ = tx.send((kind.to_owned(), addr.to_owned()));
                }
            }
        });
        let mut grpc = None;
        let mut http = None;
        let mut pg = None;
        let deadline = Instant::now() + Duration::from_secs(60);
        while grpc.is_none() || http.is_none() || pg.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((kind, addr)) if kind == "grpc" => grpc = Some(addr),
                Ok((kind, addr)) if kind == "pg" => pg = Some(addr),
                Ok((_, addr)) => http = Some(addr),
                Err(_) => {
                    let _ = child.kill();
                    panic!("vigil serve did not report its listening addresses");
                }
            }
        }
        let server = ServerProcess {
            child,
            grpc: grpc.unwrap(),
            http: http.unwrap(),
            pg: pg.unwrap(),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        while Instant::now() < deadline {
            if agent
                .get(format!("http://{}/health", self.http))
                .call()
                .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("vigil serve did not become ready");
    }

    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// Sends SIGTERM and checks that the server exits cleanly.
    pub fn terminate(&mut self) {
        self.signal("-TERM");
    }

    /// Sends SIGINT (what Ctrl-C sends) and checks that the server exits cleanly.
    pub fn interrupt(&mut self) {
        self.signal("-INT");
    }

    fn signal(&mut self, which: &str) {
        let _ = Command::new("kill")
            .arg(which)
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("reap");
        assert!(status.success(), "vigil serve exited with {status}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Number of `.parquet` files below `dir`.
pub fn parquet_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                parquet_files(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "parquet"))
            }
        })
        .sum()
}

/// The Python with the test peers (psycopg, the OpenTelemetry SDK, DuckDB, pyarrow):
/// `VIGIL_TEST_PYTHON`, else the `.venv` that `scripts/test.sh` creates.
pub fn python() -> PathBuf {
    if let Ok(path) = std::env::var("VIGIL_TEST_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python test environment at {}: run scripts/test.sh, which creates it",
        venv.display()
    );
    venv
}

/// A script under tests/python.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(name)
}
