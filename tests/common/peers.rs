//! Test peers on loopback: the real Prometheus Alertmanager, and a small HTTP receiver
//! standing in for Grafana and webhook endpoints.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Waits up to `timeout` for `check` to return `Some`, polling every 50 ms.
pub async fn wait_for<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener.local_addr().expect("local address").port()
}

/// The Alertmanager binary: `$ALERTMANAGER_BIN`, else `prometheus-alertmanager` (Debian's
/// name) or `alertmanager` on `PATH`. Missing is a failure, not a skip.
pub fn alertmanager_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ALERTMANAGER_BIN") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["prometheus-alertmanager", "alertmanager"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Prometheus Alertmanager is not installed, and these tests need the real one.\n\
         Install it with `sudo apt-get update && sudo apt-get install -y prometheus-alertmanager`\n\
         (Debian/Ubuntu), or point ALERTMANAGER_BIN at an alertmanager binary."
    );
}

/// A running Alertmanager on 127.0.0.1 with one route to a receiver that sends nothing,
/// its storage in a temporary directory and clustering off. Killed on drop.
pub struct Alertmanager {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    pub fn start(port: u16) -> Alertmanager {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n",
        )
        .expect("write alertmanager.yml");
        let binary = alertmanager_binary();
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("alertmanager.log")).expect("log file"),
            ))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut am = Alertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        am.wait_ready();
        am
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let ready = format!("{}/-/ready", self.url);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("alertmanager.log"))
                    .unwrap_or_default();
                panic!("alertmanager exited with {status} before it was ready:\n{log}");
            }
            if let Ok(response) = ureq::get(&ready).call()
                && response.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "alertmanager not ready at {ready} after 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /api/v2/alerts`: the alerts Alertmanager holds that have not ended.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let text = ureq::get(&format!("{}/api/v2/alerts", self.url))
            .call()
            .expect("GET /api/v2/alerts")
            .body_mut()
            .read_to_string()
            .expect("alerts body");
        serde_json::from_str(&text).expect("alerts JSON")
    }

    /// The listed alerts whose `alertname` label is `name`.
    pub fn alerts_named(&self, name: &str) -> Vec<serde_json::Value> {
        self.alerts()
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .collect()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

type Handler = dyn Fn(&Request, usize) -> (u16, String) + Send + Sync;

/// A loopback HTTP/1.1 server that records every request and answers with `handler(request,
/// index)`, one request per connection.
pub struct Receiver {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    pub fn start(
        handler: impl Fn(&Request, usize) -> (u16, String) + Send + Sync + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    if let Ok(stream) = stream {
                        serve(stream, &requests, &*handler);
                    }
                }
            })
        };
        Receiver {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, handler: &Handler) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();

    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }

    let request = Request {
        method,
        path,
        headers,
        body,
    };
    let index = {
        let mut all = requests.lock().expect("requests lock");
        all.push(request.clone());
        all.len() - 1
    };
    let (status, answer) = handler(&request, index);
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
    let mut stream = &stream;
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

/// Writes `token` to a file in `dir` and returns its path, for `token_file` keys.
pub fn secret_file(dir: &Path, name: &str, token: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{token}\n")).expect("write secret file");
    path
}
