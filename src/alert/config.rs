//! The `[alerts]` section of `vigil.toml`. Every key is optional; defaults below.
//!
//! ```toml
//! [alerts]
//! min_firing = "5m"            # a firing alert stays firing at least this long (no flapping)
//! resend_interval = "1m"       # re-send firing alerts to Alertmanager this often; must stay
//!                              #   below Alertmanager's resolve_timeout (5m by default)
//! pending_for = "0s"           # default `for` of signals that do not set their own
//! external_url = "http://vigil.example.com:4318"   # Vigil's base URL, for generatorURL
//! retry_initial = "1s"         # first wait after a failed delivery; doubles …
//! retry_max = "1m"             # … up to this
//! timeout = "10s"              # per HTTP request to a sink
//!
//! [[alerts.alertmanager]]      # one table per Alertmanager (each gets every alert)
//! url = "http://127.0.0.1:9093"
//! # name = "am-eu"             # default: the URL
//! # username = "vigil"         # basic auth, with password_env or password_file
//! # password_env = "VIGIL_AM_PASSWORD"
//! # token_env = "VIGIL_AM_TOKEN"   # or bearer auth: token_env or token_file
//!
//! [alerts.grafana]
//! url = "http://127.0.0.1:3000"
//! token_env = "VIGIL_GRAFANA_TOKEN"  # service account token; or token_file = "/run/secrets/…"
//! # dashboard_uid = "vigil-slo"      # default: organization-wide annotations
//!
//! [[alerts.webhook]]
//! name = "ops-bot"
//! url = "http://127.0.0.1:8080/hooks/vigil"
//! # token_env = "VIGIL_OPS_BOT_TOKEN"  # optional bearer token; or token_file
//! ```
//!
//! Secrets are read only from environment variables or files, never from the config file
//! itself, and are held as [`Secret`], which never prints its content.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::alertmanager::AlertmanagerSink;
use super::engine::EngineSettings;
use super::grafana::GrafanaSink;
use super::sinks::{Auth, HttpClient, RetryPolicy, Sink};
use super::webhook::WebhookSink;
use crate::config::HumanDuration;

/// Alertmanager's default `resolve_timeout`; re-sends must come more often than this.
const ALERTMANAGER_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("alerts.{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("alerts.{key}: environment variable {var} is not set or empty")]
    MissingEnv { key: String, var: String },
    #[error("alerts.{key}: cannot read secret file {path}: {source}")]
    SecretFile {
        key: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    pub min_firing: HumanDuration,
    pub resend_interval: HumanDuration,
    pub pending_for: HumanDuration,
    pub external_url: Option<String>,
    pub retry_initial: HumanDuration,
    pub retry_max: HumanDuration,
    pub timeout: HumanDuration,
    pub alertmanager: Vec<AlertmanagerConfig>,
    pub grafana: Option<GrafanaConfig>,
    pub webhook: Vec<WebhookConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        let settings = EngineSettings::default();
        let retry = RetryPolicy::default();
        AlertsConfig {
            min_firing: HumanDuration(settings.min_firing),
            resend_interval: HumanDuration(settings.resend_interval),
            pending_for: HumanDuration(settings.pending_for),
            external_url: None,
            retry_initial: HumanDuration(retry.initial),
            retry_max: HumanDuration(retry.max),
            timeout: HumanDuration(Duration::from_secs(10)),
            alertmanager: Vec::new(),
            grafana: None,
            webhook: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    pub url: String,
    pub name: Option<String>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrafanaConfig {
    pub url: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub dashboard_uid: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
}

impl AlertsConfig {
    /// Checks everything that does not need the secrets themselves.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let resend = self.resend_interval.0;
        if resend.is_zero() || resend >= ALERTMANAGER_RESOLVE_TIMEOUT {
            return Err(invalid(
                "resend_interval",
                format!(
                    "{resend:?} must be above zero and below Alertmanager's default resolve_timeout (5m), or Alertmanager resolves firing alerts between re-sends"
                ),
            ));
        }
        if self.retry_initial.0.is_zero() || self.retry_max.0 < self.retry_initial.0 {
            return Err(invalid(
                "retry_max",
                "retry_initial must be above zero and retry_max at least retry_initial",
            ));
        }
        if self.timeout.0.is_zero() {
            return Err(invalid("timeout", "must be above zero"));
        }
        if let Some(url) = &self.external_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "external_url",
                format!("{url:?} must start with http:// or https://"),
            ));
        }

        let mut names = BTreeSet::new();
        for (i, am) in self.alertmanager.iter().enumerate() {
            let key = format!("alertmanager[{i}]");
            check_sink_url(&key, &am.url)?;
            let basic =
                am.username.is_some() || am.password_env.is_some() || am.password_file.is_some();
            let bearer = am.token_env.is_some() || am.token_file.is_some();
            if basic && bearer {
                return Err(invalid(
                    key,
                    "use either basic auth (username, password_*) or a token, not both",
                ));
            }
            if basic {
                if am.username.is_none() {
                    return Err(invalid(key, "password_env/password_file needs a username"));
                }
                one_source(&key, "password", &am.password_env, &am.password_file)?;
            }
            if bearer {
                one_source(&key, "token", &am.token_env, &am.token_file)?;
            }
            unique(&mut names, &key, am.name.as_deref().unwrap_or(&am.url))?;
        }
        if let Some(grafana) = &self.grafana {
            check_sink_url("grafana", &grafana.url)?;
            if grafana.token_env.is_none() && grafana.token_file.is_none() {
                return Err(invalid(
                    "grafana",
                    "needs a service account token: token_env or token_file",
                ));
            }
            one_source("grafana", "token", &grafana.token_env, &grafana.token_file)?;
            unique(&mut names, "grafana", "grafana")?;
        }
        for (i, hook) in self.webhook.iter().enumerate() {
            let key = format!("webhook[{i}]");
            check_sink_url(&key, &hook.url)?;
            if hook.name.trim().is_empty() {
                return Err(invalid(key, "name must not be empty"));
            }
            if hook.token_env.is_some() || hook.token_file.is_some() {
                one_source(&key, "token", &hook.token_env, &hook.token_file)?;
            }
            unique(&mut names, &key, &hook.name)?;
        }
        Ok(())
    }

    pub fn engine_settings(&self) -> EngineSettings {
        EngineSettings {
            min_firing: self.min_firing.0,
            resend_interval: self.resend_interval.0,
            pending_for: self.pending_for.0,
            external_url: self
                .external_url
                .as_ref()
                .map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial: self.retry_initial.0,
            max: self.retry_max.0,
        }
    }

    /// Validates, reads the secrets and builds the sinks. `state_dir` is where sinks keep
    /// what they must remember across restarts (Grafana's annotation ids): the engine's
    /// directory.
    pub fn sinks(&self, state_dir: &Path) -> Result<Vec<Sink>, ConfigError> {
        self.validate()?;
        let http = HttpClient::new(self.timeout.0);
        let mut sinks = Vec::new();

        for (i, am) in self.alertmanager.iter().enumerate() {
            let key = format!("alertmanager[{i}]");
            let auth = match &am.username {
                Some(username) => Auth::Basic {
                    username: username.clone(),
                    password: Secret::load(&key, "password", &am.password_env, &am.password_file)?,
                },
                None if am.token_env.is_some() || am.token_file.is_some() => {
                    Auth::Bearer(Secret::load(&key, "token", &am.token_env, &am.token_file)?)
                }
                None => Auth::None,
            };
            let name = am.name.clone().unwrap_or_else(|| am.url.clone());
            sinks.push(Sink::alertmanager(AlertmanagerSink::new(
                name,
                &am.url,
                auth,
                http.clone(),
                self.resend_interval.0,
            )));
        }

        if let Some(grafana) = &self.grafana {
            let token = Secret::load("grafana", "token", &grafana.token_env, &grafana.token_file)?;
            sinks.push(Sink::grafana(GrafanaSink::new(
                "grafana".to_string(),
                &grafana.url,
                Auth::Bearer(token),
                grafana.dashboard_uid.clone(),
                http.clone(),
                state_dir,
            )));
        }

        let external_url = self.engine_settings().external_url.unwrap_or_default();
        for (i, hook) in self.webhook.iter().enumerate() {
            let key = format!("webhook[{i}]");
            let auth = if hook.token_env.is_some() || hook.token_file.is_some() {
                Auth::Bearer(Secret::load(
                    &key,
                    "token",
                    &hook.token_env,
                    &hook.token_file,
                )?)
            } else {
                Auth::None
            };
            sinks.push(Sink::webhook(WebhookSink::new(
                hook.name.clone(),
                &hook.url,
                auth,
                external_url.clone(),
                http.clone(),
            )));
        }
        Ok(sinks)
    }
}

fn check_sink_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("https://") {
        // TODO: HTTPS sinks need ureq's `rustls` feature, which the product does not
        // enable yet; until then Grafana Cloud or a TLS-only Alertmanager needs a local proxy.
        return Err(invalid(
            key,
            format!(
                "{url:?}: https is not supported yet; use http:// (a local TLS proxy for remote receivers)"
            ),
        ));
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(invalid(key, format!("{url:?} must start with http://")));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(invalid(key, format!("{url:?} has no host")));
    }
    if authority.contains('@') {
        return Err(invalid(
            key,
            "credentials in the URL would end up in logs; use username/password_env or token_env",
        ));
    }
    Ok(())
}

fn one_source(
    key: &str,
    what: &str,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<(), ConfigError> {
    match (env, file) {
        (Some(_), Some(_)) => Err(invalid(
            key,
            format!("set {what}_env or {what}_file, not both"),
        )),
        (None, None) => Err(invalid(key, format!("needs {what}_env or {what}_file"))),
        _ => Ok(()),
    }
}

fn unique(names: &mut BTreeSet<String>, key: &str, name: &str) -> Result<(), ConfigError> {
    if !names.insert(name.to_string()) {
        return Err(invalid(
            key,
            format!("another sink is already named {name:?}"),
        ));
    }
    Ok(())
}

/// A credential. `Debug` shows `Secret(redacted)`; the value leaves only as an HTTP header.
#[derive(Clone)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret from the environment variable or the file (whose surrounding
    /// whitespace, such as a final newline, is dropped).
    fn load(
        key: &str,
        what: &str,
        env: &Option<String>,
        file: &Option<PathBuf>,
    ) -> Result<Secret, ConfigError> {
        let value = match (env, file) {
            (Some(var), _) => std::env::var(var).unwrap_or_default(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|source| ConfigError::SecretFile {
                    key: key.to_string(),
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_string(),
            (None, None) => return Err(invalid(key, format!("needs {what}_env or {what}_file"))),
        };
        if value.is_empty() {
            return Err(match env {
                Some(var) => ConfigError::MissingEnv {
                    key: key.to_string(),
                    var: var.clone(),
                },
                None => invalid(key, format!("{what}_file is empty")),
            });
        }
        Ok(Secret(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        alerts: AlertsConfig,
    }

    fn parse(text: &str) -> Result<AlertsConfig, String> {
        toml::from_str::<File>(text)
            .map(|f| f.alerts)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn full_section_parses_with_durations_and_sinks() {
        let config = parse(
            r#"
            [alerts]
            min_firing = "10m"
            resend_interval = "30s"
            pending_for = "2m"
            external_url = "http://vigil.example.com:4318/"

            [[alerts.alertmanager]]
            url = "http://127.0.0.1:9093"

            [[alerts.alertmanager]]
            url = "http://127.0.0.1:9094"
            name = "second"
            username = "vigil"
            password_env = "VIGIL_TEST_AM_PASSWORD"

            [alerts.grafana]
            url = "http://127.0.0.1:3000"
            token_file = "/run/secrets/grafana"

            [[alerts.webhook]]
            name = "ops-bot"
            url = "http://127.0.0.1:8080/hook"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        let settings = config.engine_settings();
        assert_eq!(settings.min_firing, Duration::from_secs(600));
        assert_eq!(settings.resend_interval, Duration::from_secs(30));
        assert_eq!(settings.pending_for, Duration::from_secs(120));
        assert_eq!(
            settings.external_url.as_deref(),
            Some("http://vigil.example.com:4318")
        );
        assert_eq!(config.alertmanager.len(), 2);
        assert_eq!(config.webhook[0].name, "ops-bot");
    }

    #[test]
    fn empty_section_takes_the_defaults() {
        let config = parse("[alerts]\n").unwrap();
        config.validate().unwrap();
        assert_eq!(config.resend_interval.0, Duration::from_secs(60));
        assert_eq!(config.min_firing.0, Duration::from_secs(300));
        assert_eq!(config.retry_max.0, Duration::from_secs(60));
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_refused() {
        assert!(
            parse("[alerts]\nresend = \"1m\"\n")
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            parse("[alerts]\nmin_firing = \"5\"\n")
                .unwrap_err()
                .contains("needs a unit")
        );
        assert!(
            parse("[alerts]\nmin_firing = \"5w\"\n")
                .unwrap_err()
                .contains("invalid duration unit")
        );
    }

    #[test]
    fn resend_interval_must_stay_below_alertmanager_resolve_timeout() {
        let config = parse("[alerts]\nresend_interval = \"5m\"\n").unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("resolve_timeout"), "{err}");
    }

    #[test]
    fn grafana_needs_exactly_one_token_source() {
        let none = parse("[alerts.grafana]\nurl = \"http://g:3000\"\n").unwrap();
        assert!(
            none.validate()
                .unwrap_err()
                .to_string()
                .contains("token_env or token_file")
        );
        let both = parse(
            "[alerts.grafana]\nurl = \"http://g:3000\"\ntoken_env = \"A\"\ntoken_file = \"/b\"\n",
        )
        .unwrap();
        assert!(
            both.validate()
                .unwrap_err()
                .to_string()
                .contains("not both")
        );
    }

    #[test]
    fn credentials_in_urls_and_duplicate_names_are_refused() {
        let creds = parse("[[alerts.alertmanager]]\nurl = \"http://u:p@am:9093\"\n").unwrap();
        let err = creds.validate().unwrap_err().to_string();
        assert!(err.contains("credentials") && !err.contains("u:p"), "{err}");
        let dup = parse(
            "[[alerts.webhook]]\nname = \"a\"\nurl = \"http://x/1\"\n[[alerts.webhook]]\nname = \"a\"\nurl = \"http://x/2\"\n",
        )
        .unwrap();
        assert!(
            dup.validate()
                .unwrap_err()
                .to_string()
                .contains("already named")
        );
    }

    #[test]
    fn secrets_come_from_files_and_never_show_in_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let token_path = dir.path().join("token");
        std::fs::write(&token_path, "glsa_very_secret_token\n").unwrap();
        let config = parse(&format!(
            "[alerts.grafana]\nurl = \"http://127.0.0.1:3000\"\ntoken_file = {:?}\n",
            token_path.display().to_string()
        ))
        .unwrap();
        let sinks = config.sinks(dir.path()).unwrap();
        assert_eq!(sinks.len(), 1);
        let printed = format!("{config:?} {sinks:?}");
        assert!(!printed.contains("glsa_very_secret_token"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn missing_secret_env_var_is_named_in_the_error() {
        let config = parse(
            "[[alerts.webhook]]\nname = \"bot\"\nurl = \"http://127.0.0.1:1/h\"\ntoken_env = \"VIGIL_TEST_SURELY_UNSET_VAR\"\n",
        )
        .unwrap();
        let err = config.sinks(Path::new(".")).unwrap_err().to_string();
        assert!(err.contains("VIGIL_TEST_SURELY_UNSET_VAR"), "{err}");
    }

    #[test]
    fn https_sinks_are_refused_with_the_reason() {
        let config = parse("[[alerts.alertmanager]]\nurl = \"https://am:9093\"\n").unwrap();
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("https is not supported")
        );
    }
}
