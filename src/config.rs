//! `vigil.toml`: every key optional, defaults below; command-line flags override it.
//!
//! ```toml
//! data_dir = "./vigil-data"
//!
//! [server]
//! grpc_listen = "127.0.0.1:4317"
//! http_listen = "127.0.0.1:4318"
//! max_request_size = "32MiB"      # per request, compressed and again decompressed
//!
//! [storage]
//! flush_interval = "60s"           # flush buffered rows at least this often
//! flush_size = "128MiB"            # … or when this much Arrow data is buffered
//!                                  #     (at most half of max_buffer_size)
//! max_buffer_size = "1GiB"         # above this, receivers answer 503 / UNAVAILABLE
//! wal_fsync = true                 # fsync the WAL before acknowledging
//! row_group_rows = 131072
//!
//! [query]
//! memory_limit = "1GiB"            # per query: operators and collected results; sorts
//!                                  #   and aggregations spill to disk before failing
//! timeout = "120s"                 # per query, waiting for a slot included
//! max_concurrent = 4               # queries running at once; more wait for a slot
//!
//! [postgres]
//! enabled = true
//! listen = "127.0.0.1:5433"
//! user = "vigil"
//! # password = "…"                # unset: any user may connect (PostgreSQL "trust")
//! auth = "scram-sha-256"           # or "password": cleartext, accepted only over TLS
//! # tls_cert = "server.crt"        # PEM files; both or neither
//! # tls_key = "server.key"
//!
//! [slo]
//! enabled = true                   # evaluate SLOs in `vigil serve`, into table slo_status
//! built_in_packs = true            # the packs of pipelines/slo/, built into Vigil
//! dirs = []                        # more OpenSLO files or directories
//! interval = "60s"
//! history = "24h"                  # on start, fill slo_status gaps at most this far back
//!
//! [alerts]                         # every SLO burn becomes an alert (table alerts)
//! min_firing = "5m"                # once firing, an alert stays firing this long at least
//! resend_interval = "1m"           # firing alerts re-sent to Alertmanager (under its 5m)
//! pending_for = "0s"               # a condition must hold this long before it fires
//! # external_url = "http://vigil.example.com:4318"   # base of generatorURL links
//! retry_initial = "1s"             # delivery retries back off from this …
//! retry_max = "1m"                 # … up to this
//! timeout = "10s"                  # per delivery request
//! # [[alerts.alertmanager]]        # Prometheus Alertmanager API v2; repeatable
//! # url = "http://127.0.0.1:9093"
//! # token_env = "AM_TOKEN"         # or username + password_env / password_file
//! # [alerts.grafana]               # annotations on dashboards
//! # url = "http://127.0.0.1:3000"
//! # token_env = "GRAFANA_TOKEN"    # a service-account token; or token_file
//! # [[alerts.webhook]]             # Alertmanager webhook body; repeatable
//! # name = "ops-bot"
//! # url = "http://127.0.0.1:8080/hook"
//!
//! [anomalies]
//! enabled = true                   # score watched series every [slo] interval
//! detector = "ensemble"
//! threshold = 0.1199               # anomalies at or above this score (table anomalies)
//! major_score = 0.5                # SEV3 at or above this, SEV4 below; SEV2 if the SLO burns
//! warmup = "3d"                    # history a fresh detector learns from
//! # [[anomalies.series]]           # replaces the default SQL series
//! # name = "tokens_per_bot"
//! # query = "SELECT date_trunc('minute', time) AS minute, … AS key, sum(value) AS value …"
//!
//! [predict]                        # forecasts, page probabilities, predictive alerts
//! enabled = true
//! schedule = "0 3 * * *"           # cron, UTC: nightly at 03:00
//! history = "35d"                  # what the models learn from
//! budget_warning = "48h"           # alert when a budget is forecast to run out this soon
//! page_horizon = "48h"             # alert when a page within this is likely (1h, 6h, 48h)
//! # page_probability = 0.5         # how likely; unset: the rule below at 48h, else the
//!                                  # threshold each model learned
//! precursor_hours = 4.0            # 48h: alert when rate limiting touched this many of the
//!                                  # last 24 hours (weighted by relevance); 0: learned
//!
//! [log]
//! format = "text"                  # or "json"
//! level = "info"                   # a tracing filter, e.g. "info,vigil=debug"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::postgres::{AuthMethod, PostgresOptions};
use crate::query::QueryLimits;
use crate::store::StoreConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub query: QueryConfig,
    pub postgres: PostgresConfig,
    pub slo: SloConfig,
    pub alerts: crate::alert::AlertsConfig,
    pub anomalies: AnomaliesConfig,
    pub predict: PredictConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./vigil-data"),
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            query: QueryConfig::default(),
            postgres: PostgresConfig::default(),
            slo: SloConfig::default(),
            alerts: crate::alert::AlertsConfig::default(),
            anomalies: AnomaliesConfig::default(),
            predict: PredictConfig::default(),
            log: LogConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub grpc_listen: String,
    pub http_listen: String,
    pub max_request_size: ByteSize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            grpc_listen: "127.0.0.1:4317".into(),
            http_listen: "127.0.0.1:4318".into(),
            max_request_size: ByteSize(32 << 20),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub flush_interval: HumanDuration,
    pub flush_size: ByteSize,
    pub max_buffer_size: ByteSize,
    pub wal_fsync: bool,
    pub row_group_rows: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let store = StoreConfig::default();
        StorageConfig {
            flush_interval: HumanDuration(store.flush_interval),
            flush_size: ByteSize(store.flush_bytes as u64),
            max_buffer_size: ByteSize(store.max_buffer_bytes as u64),
            wal_fsync: store.wal_fsync,
            row_group_rows: store.row_group_rows,
        }
    }
}

impl StorageConfig {
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            flush_interval: self.flush_interval.0,
            flush_bytes: self.flush_size.as_usize(),
            max_buffer_bytes: self.max_buffer_size.as_usize(),
            wal_fsync: self.wal_fsync,
            row_group_rows: self.row_group_rows,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryConfig {
    pub memory_limit: ByteSize,
    pub timeout: HumanDuration,
    pub max_concurrent: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        let limits = QueryLimits::default();
        QueryConfig {
            memory_limit: ByteSize(limits.memory_limit as u64),
            timeout: HumanDuration(limits.timeout),
            max_concurrent: limits.max_concurrent,
        }
    }
}

impl QueryConfig {
    pub fn limits(&self) -> QueryLimits {
        QueryLimits {
            memory_limit: self.memory_limit.as_usize(),
            timeout: self.timeout.0,
            max_concurrent: self.max_concurrent,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    pub enabled: bool,
    pub listen: String,
    pub user: String,
    pub password: Option<String>,
    pub auth: AuthMethod,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            enabled: true,
            listen: "127.0.0.1:5433".into(),
            user: "vigil".into(),
            password: None,
            auth: AuthMethod::ScramSha256,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl PostgresConfig {
    pub fn options(&self) -> PostgresOptions {
        PostgresOptions {
            user: self.user.clone(),
            password: self.password.clone(),
            auth: self.auth,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(
                "postgres.tls_cert and postgres.tls_key go together: set both or neither".into(),
            );
        }
        if self.password.as_deref() == Some("") {
            return Err("postgres.password is empty: remove the key to let any user connect, or set a password".into());
        }
        if self.password.is_some() && self.auth == AuthMethod::Password && self.tls_cert.is_none() {
            return Err("postgres.auth = \"password\" sends passwords in cleartext: it needs TLS (postgres.tls_cert and postgres.tls_key), or use \"scram-sha-256\"".into());
        }
        if self.user.is_empty() {
            return Err("postgres.user must not be empty".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SloConfig {
    /// Evaluate SLOs inside `vigil serve`.
    pub enabled: bool,
    /// Load the packs built into Vigil (those in `pipelines/slo/`).
    pub built_in_packs: bool,
    /// More files or directories of OpenSLO YAML; an SLO here replaces a built-in one of
    /// the same name.
    pub dirs: Vec<PathBuf>,
    /// How often SLOs are evaluated.
    pub interval: HumanDuration,
    /// On start, how far back missing `slo_status` rows are computed (the gap since the
    /// newest stored row, or this much on a fresh data directory).
    pub history: HumanDuration,
}

impl Default for SloConfig {
    fn default() -> Self {
        SloConfig {
            enabled: true,
            built_in_packs: true,
            dirs: Vec::new(),
            interval: HumanDuration(Duration::from_secs(60)),
            history: HumanDuration(Duration::from_secs(86_400)),
        }
    }
}

/// `[predict]`: the scheduled prediction job (forecasts, page probabilities, predictive
/// alerts).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PredictConfig {
    /// Run the job inside `vigil serve` on `schedule` (needs `[slo] enabled`).
    pub enabled: bool,
    /// Cron schedule, five fields in UTC; nightly at 03:00 by default.
    pub schedule: String,
    /// History the models learn from.
    pub history: HumanDuration,
    /// Raise a predictive alert when an SLO's budget is forecast to run out within this.
    pub budget_warning: HumanDuration,
    /// Raise a predictive alert when the probability of a page within `page_horizon`
    /// reaches this; unset, the threshold the horizon's model learned on its training
    /// period.
    pub page_probability: Option<f64>,
    /// The page-probability horizon that alerts: one of the classifier's (1h, 6h, 48h).
    pub page_horizon: HumanDuration,
    /// At a day-scale `page_horizon` without `page_probability`: alert when an SLO's
    /// relevance-weighted rate-limited hours of the last day reach this (0: the threshold
    /// the model learned instead).
    pub precursor_hours: f64,
}

impl Default for PredictConfig {
    fn default() -> Self {
        PredictConfig {
            enabled: true,
            schedule: "0 3 * * *".to_owned(),
            history: HumanDuration(Duration::from_secs(35 * 86_400)),
            budget_warning: HumanDuration(Duration::from_secs(48 * 3_600)),
            page_probability: None,
            page_horizon: HumanDuration(Duration::from_secs(48 * 3_600)),
            precursor_hours: crate::predict::precursor::DEFAULT_LEVEL,
        }
    }
}

/// `[anomalies]`: live anomaly detection on the watched series.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomaliesConfig {
    /// Score the watched series every SLO interval (needs `[slo] enabled`).
    pub enabled: bool,
    /// The detector (see `vigil eval nab`); `ensemble` is the default.
    pub detector: String,
    /// Points scoring at least this are anomalies (the default is NAB's threshold for the
    /// ensemble).
    pub threshold: f64,
    /// Anomalies scoring at least this raise a SEV3 alert instead of SEV4 (SEV2 while the
    /// series' SLO is burning).
    pub major_score: f64,
    /// On a fresh start, how much history detectors learn from before scoring live.
    pub warmup: HumanDuration,
    /// SQL series watched besides every SLO's error ratio and events; replaces the
    /// defaults (tokens and cost per bot, p95 latency per service and per model, CI
    /// duration).
    pub series: Vec<crate::models::live::SqlSeries>,
}

impl Default for AnomaliesConfig {
    fn default() -> Self {
        AnomaliesConfig {
            enabled: true,
            detector: crate::models::DEFAULT_DETECTOR.to_owned(),
            threshold: crate::models::DEFAULT_ALERT_THRESHOLD,
            major_score: 0.5,
            warmup: HumanDuration(Duration::from_secs(3 * 86_400)),
            series: crate::models::live::default_sql_series(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

impl Config {
    /// Reads `path`; a missing file is an error (the user named it).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config =
            toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but cannot work; flags are applied before this runs too.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("server.max_request_size", self.server.max_request_size.0),
            ("storage.flush_size", self.storage.flush_size.0),
            ("storage.max_buffer_size", self.storage.max_buffer_size.0),
            ("storage.row_group_rows", self.storage.row_group_rows as u64),
            ("query.memory_limit", self.query.memory_limit.0),
            ("query.max_concurrent", self.query.max_concurrent as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(format!("{key} must be greater than 0"));
            }
        }
        if self.server.max_request_size.0 > MAX_REQUEST_SIZE {
            return Err(format!(
                "server.max_request_size must be at most {} MiB (a request is one WAL record)",
                MAX_REQUEST_SIZE >> 20
            ));
        }
        if self.storage.flush_interval.0.is_zero() {
            return Err("storage.flush_interval must be greater than 0".into());
        }
        if self.query.timeout.0.is_zero() {
            return Err("query.timeout must be greater than 0".into());
        }
        if self.slo.interval.0 < Duration::from_secs(1) {
            return Err("slo.interval must be at least 1s".into());
        }
        self.postgres.validate()?;
        self.alerts.validate().map_err(|e| e.to_string())?;
        if let Err(e) = crate::models::new_detector(&self.anomalies.detector) {
            return Err(format!("anomalies.detector: {e}"));
        }
        if !(0.0..=1.0).contains(&self.anomalies.threshold)
            || !(0.0..=1.0).contains(&self.anomalies.major_score)
        {
            return Err(
                "anomalies.threshold and anomalies.major_score are scores in [0, 1]".into(),
            );
        }
        if let Err(e) = self.predict.schedule.parse::<crate::schedule::Schedule>() {
            return Err(format!("predict.schedule: {e}"));
        }
        if self.predict.history.0 < Duration::from_secs(86_400)
            || self.predict.budget_warning.0.is_zero()
        {
            return Err(
                "predict.history must be at least 1d and predict.budget_warning longer than 0s"
                    .into(),
            );
        }
        if let Some(p) = self.predict.page_probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err("predict.page_probability is a probability in [0, 1]".into());
        }
        if !(0.0..=24.0).contains(&self.predict.precursor_hours) {
            return Err(
                "predict.precursor_hours is a number of hours in the last day, in [0, 24]".into(),
            );
        }
        let horizon = self.predict.page_horizon.0.as_secs();
        if !crate::predict::classify::DEFAULT_HORIZONS_SECS
            .iter()
            .any(|&h| u64::try_from(h) == Ok(horizon))
        {
            return Err(format!(
                "predict.page_horizon must be one of the classifier's horizons (1h, 6h, 48h), \
                 not {horizon}s"
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(format!(
                "log.level {:?} is not a valid filter (e.g. \"info\" or \"info,vigil=debug\"): {e}",
                self.log.level
            ));
        }
        for (key, addr) in [
            ("server.grpc_listen", &self.server.grpc_listen),
            ("server.http_listen", &self.server.http_listen),
            ("postgres.listen", &self.postgres.listen),
        ] {
            listen_address(addr).map_err(|e| format!("{key}: {e}"))?;
        }
        Ok(())
    }
}

/// Largest accepted `max_request_size`: a request is stored as one WAL record.
const MAX_REQUEST_SIZE: u64 = 512 << 20;

/// A listen address as `host:port`; the Collector's `:4317` form means all interfaces.
pub fn listen_address(addr: &str) -> Result<String, String> {
    let addr = addr.trim();
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    };
    match full.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(full),
        _ => Err(format!(
            "invalid listen address {addr:?}: expected host:port, e.g. 127.0.0.1:4317 or :4317"
        )),
    }
}

/// A byte count written as an integer or as `"64MiB"`, `"512KB"`, `"1GiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }

    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: f64 = number
            .parse()
            .map_err(|_| format!("invalid size {text:?}: expected e.g. \"64MiB\""))?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1000,
            "kib" | "k" => 1 << 10,
            "mb" => 1_000_000,
            "mib" | "m" => 1 << 20,
            "gb" => 1_000_000_000,
            "gib" | "g" => 1 << 30,
            other => {
                return Err(format!(
                    "invalid size unit {other:?} in {text:?}: use B, KiB, MiB, GiB, KB, MB or GB"
                ));
            }
        };
        Ok(ByteSize((number * scale as f64) as u64))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Text(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// A duration written with its unit: `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn parse(text: &str) -> Result<HumanDuration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let n: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: expected e.g. \"30s\""))?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "" => {
                return Err(format!(
                    "duration {text:?} needs a unit: ms, s, m, h or d (e.g. \"{n}s\")"
                ));
            }
            "m" | "h" | "d" => {
                let scale = match unit {
                    "m" => 60,
                    "h" => 3600,
                    _ => 86_400,
                };
                let secs = n
                    .checked_mul(scale)
                    .ok_or_else(|| format!("duration {text:?} is too long"))?;
                Duration::from_secs(secs)
            }
            other => {
                return Err(format!(
                    "invalid duration unit {other:?} in {text:?}: use ms, s, m, h or d"
                ));
            }
        };
        Ok(HumanDuration(d))
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Err(serde::de::Error::custom(format!(
                "duration {n} needs a unit: write it as a string such as \"{n}s\""
            ))),
            Raw::Text(s) => HumanDuration::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./vigil-data"));
        assert_eq!(c.server.grpc_listen, "127.0.0.1:4317");
        assert_eq!(c.server.http_listen, "127.0.0.1:4318");
        assert_eq!(c.storage.flush_interval.0, Duration::from_secs(60));
        assert!(c.storage.wal_fsync);
        assert_eq!(c.predict.page_probability, None);
        assert_eq!(c.predict.page_horizon.0, Duration::from_secs(48 * 3_600));
        let fixed =
            Config::parse("[predict]\npage_probability = 0.3\npage_horizon = \"6h\"\n").unwrap();
        assert_eq!(fixed.predict.page_probability, Some(0.3));
        assert_eq!(fixed.predict.page_horizon.0, Duration::from_secs(6 * 3_600));
        assert_eq!(c.predict.precursor_hours, 4.0);
        let learned = Config::parse("[predict]\nprecursor_hours = 0\n").unwrap();
        assert_eq!(learned.predict.precursor_hours, 0.0);
    }

    #[test]
    fn sizes_and_durations_parse_with_units() {
        let c = Config::parse(
            "[storage]\nflush_interval = \"500ms\"\nflush_size = \"64MiB\"\nmax_buffer_size = 1000\n",
        )
        .unwrap();
        assert_eq!(c.storage.flush_interval.0, Duration::from_millis(500));
        assert_eq!(c.storage.flush_size.0, 64 << 20);
        assert_eq!(c.storage.max_buffer_size.0, 1000);
        assert_eq!(ByteSize::parse("1.5GiB").unwrap().0, 3 << 29);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Config::parse("[server]\ngrpc_listn = \"x\"\n").unwrap_err();
        assert!(e.contains("grpc_listn"), "{e}");
        let e = Config::parse("[storage]\nflush_size = \"12 parsecs\"\n").unwrap_err();
        assert!(e.contains("parsecs"), "{e}");
        for (text, named) in [
            ("[storage]\nrow_group_rows = 0\n", "row_group_rows"),
            ("[server]\nmax_request_size = \"0B\"\n", "max_request_size"),
            ("[storage]\nflush_interval = \"0s\"\n", "flush_interval"),
            ("[storage]\nflush_interval = 60\n", "needs a unit"),
            ("[log]\nlevel = \"info,=\"\n", "log.level"),
            ("[server]\nhttp_listen = \"localhost\"\n", "http_listen"),
            ("[query]\nmax_concurrent = 0\n", "max_concurrent"),
            ("[query]\ntimeout = \"0s\"\n", "query.timeout"),
            ("[postgres]\ntls_cert = \"a.crt\"\n", "tls_key"),
            ("[postgres]\npassword = \"\"\n", "password"),
            (
                "[postgres]\npassword = \"x\"\nauth = \"password\"\n",
                "needs TLS",
            ),
            ("[postgres]\nauth = \"md5\"\n", "md5"),
            ("[predict]\npage_probability = 1.5\n", "page_probability"),
            ("[predict]\npage_horizon = \"12h\"\n", "not 43200s"),
            ("[predict]\nprecursor_hours = 25\n", "precursor_hours"),
            ("[predict]\nprecursor_hours = -1.0\n", "precursor_hours"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.contains(named), "{text}: {e}");
        }
    }

    #[test]
    fn collector_style_listen_addresses_mean_all_interfaces() {
        assert_eq!(listen_address(":4317").unwrap(), "0.0.0.0:4317");
        assert_eq!(listen_address("127.0.0.1:4318").unwrap(), "127.0.0.1:4318");
        assert_eq!(listen_address("[::1]:4318").unwrap(), "[::1]:4318");
        assert!(listen_address("127.0.0.1").is_err());
    }
}
