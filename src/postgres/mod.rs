//! The PostgreSQL wire protocol: `psql`, PostgreSQL drivers and Grafana's PostgreSQL data
//! source query Vigil's tables through the same engine as the HTTP API.
//!
//! - [`handler`]: simple and extended query protocol over [`crate::query::QueryEngine`].
//! - [`types`]: Arrow types and values in PostgreSQL's text and binary formats.
//! - [`catalog`]: the `pg_catalog` tables clients read.
//!
//! Authentication follows `[postgres]` in the configuration: with no password set, any
//! user connects (PostgreSQL's `trust`, meant for loopback); with one, SCRAM-SHA-256, or
//! cleartext passwords only over TLS. Every connection is read-only, as on the HTTP path.

pub mod catalog;
mod handler;
pub(crate) mod types;

use std::collections::HashMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, LoginInfo, Password, ServerParameterProvider, StartupHandler,
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::{
    ClientInfo, ConnectionManager, METADATA_USER, PgWireServerHandlers, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::query::QueryEngine;
use handler::{Backend, user_error};

/// How clients prove who they are, once a password is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum AuthMethod {
    #[default]
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// Cleartext password, accepted only over TLS.
    #[serde(rename = "password")]
    Password,
}

/// What the Postgres listener needs; see `[postgres]` in [`crate::config`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub user: String,
    pub password: Option<String>,
    pub auth: AuthMethod,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error("cannot read TLS {what} {path}: {message}")]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
}

const SCRAM_ITERATIONS: usize = 4096;

/// The configured credentials, checked by pgwire's password mechanisms.
#[derive(Debug)]
struct Credentials {
    user: String,
    password: String,
    salt: Vec<u8>,
    salted: Vec<u8>,
    cleartext: bool,
}

impl Credentials {
    fn new(user: String, password: String, cleartext: bool) -> Credentials {
        let salt: [u8; 16] = rand_salt();
        let salted = gen_salted_password(&password, &salt, SCRAM_ITERATIONS);
        Credentials {
            user,
            password,
            salt: salt.to_vec(),
            salted,
            cleartext,
        }
    }
}

/// A per-process random salt; SCRAM only needs it unpredictable, not secret.
fn rand_salt() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut salt = [0u8; 16];
    for chunk in salt.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
    salt
}

#[async_trait]
impl AuthSource for Credentials {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or("");
        if user != self.user {
            // Word for word what a wrong password gets (pgwire names no user there):
            // the answer must not tell which users exist.
            debug!(user, "Postgres login for an unknown user");
            return Err(PgWireError::InvalidPassword(String::new()));
        }
        Ok(if self.cleartext {
            Password::new(None, self.password.as_bytes().to_vec())
        } else {
            Password::new(Some(self.salt.clone()), self.salted.clone())
        })
    }
}

/// Run-time parameters sent to every client after authentication.
#[derive(Debug)]
struct Parameters;

impl ServerParameterProvider for Parameters {
    fn server_parameters<C: ClientInfo>(&self, client: &C) -> Option<HashMap<String, String>> {
        let user = client.metadata().get(METADATA_USER).map(String::as_str);
        let mut params: HashMap<String, String> =
            handler::startup_parameters(user).into_iter().collect();
        if let Some(name) = client.metadata().get("application_name") {
            params.insert("application_name".into(), name.clone());
        }
        Some(params)
    }
}

enum Auth {
    Trust,
    Scram(SASLAuthStartupHandler<Parameters>),
    Cleartext(CleartextPasswordAuthStartupHandler<Credentials, Arc<Parameters>>),
}

/// Authenticates a new connection as configured.
struct Startup {
    auth: Auth,
    require_tls: bool,
    pids: RandomPidSecretKeyGenerator,
    /// Connections by process id and secret key, for cancel requests.
    connections: Arc<ConnectionManager>,
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.require_tls
            && !client.is_secure()
            && matches!(message, PgWireFrontendMessage::Startup(_))
        {
            return Err(user_error(
                "28000",
                "this server accepts passwords only over TLS: connect with sslmode=require".into(),
            ));
        }
        match &self.auth {
            Auth::Scram(h) => h.on_startup(client, message).await,
            Auth::Cleartext(h) => h.on_startup(client, message).await,
            Auth::Trust => {
                if let PgWireFrontendMessage::Startup(ref startup) = message {
                    protocol_negotiation(client, startup).await?;
                    save_startup_parameters_to_metadata(client, startup);
                    let (pid, key) = self.pids.generate(client);
                    client.set_pid_and_secret_key(pid, key.clone());
                    let (handle, guard) = self.connections.register(pid, key);
                    client.session_extensions().insert(handle);
                    client.session_extensions().insert(guard);
                    finish_authentication(client, &Parameters).await?;
                }
                Ok(())
            }
        }
    }
}

/// pgwire's handler set: startup, simple and extended queries, one shared backend.
struct Handlers {
    startup: Arc<Startup>,
    backend: Arc<Backend>,
    cancel: Arc<DefaultCancelHandler>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.backend)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.backend)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, PostgresError> {
    std::fs::read(path).map_err(|e| PostgresError::TlsFile {
        what,
        path: path.to_owned(),
        message: e.to_string(),
    })
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, PostgresError> {
    let cert_pem = read_file("certificate", cert)?;
    let key_pem = read_file("key", key)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PostgresError::TlsFile {
            what: "certificate",
            path: cert.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PostgresError::TlsFile {
            what: "certificate",
            path: cert.to_owned(),
            message: "no PEM certificate in the file".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| PostgresError::TlsFile {
        what: "key",
        path: key.to_owned(),
        message: e.to_string(),
    })?;
    // ring builds with the C compiler alone (aws-lc-rs needs CMake); its provider lacks
    // only the post-quantum key exchanges, which no PostgreSQL client negotiates yet.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PostgresError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| PostgresError::Tls(e.to_string()))?;
    // PostgreSQL 17 clients may start TLS directly and ask for this protocol name.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A bound Postgres listener with its handlers, ready to [`PostgresServer::run`].
pub struct PostgresServer {
    handlers: Arc<Handlers>,
    tls: Option<TlsAcceptor>,
}

impl Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresServer {
    pub fn new(engine: QueryEngine, options: &PostgresOptions) -> Result<Self, PostgresError> {
        let tls = match (&options.tls_cert, &options.tls_key) {
            (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
            _ => None,
        };
        let connections = Arc::new(ConnectionManager::new());
        let auth = match &options.password {
            None => Auth::Trust,
            Some(password) => match options.auth {
                AuthMethod::ScramSha256 => {
                    let credentials = Arc::new(Credentials::new(
                        options.user.clone(),
                        password.clone(),
                        false,
                    ));
                    let mut scram = ScramAuth::new(credentials);
                    scram.set_iterations(SCRAM_ITERATIONS);
                    // No channel binding (SCRAM-SHA-256-PLUS): pgwire would offer it on
                    // plain connections too, which clients rightly refuse.
                    Auth::Scram(
                        SASLAuthStartupHandler::new(Arc::new(Parameters))
                            .with_scram(scram)
                            .with_connection_manager(Arc::clone(&connections)),
                    )
                }
                AuthMethod::Password => Auth::Cleartext(
                    CleartextPasswordAuthStartupHandler::new(
                        Credentials::new(options.user.clone(), password.clone(), true),
                        Arc::new(Parameters),
                    )
                    .with_connection_manager(Arc::clone(&connections)),
                ),
            },
        };
        let require_tls = options.password.is_some() && options.auth == AuthMethod::Password;
        Ok(PostgresServer {
            handlers: Arc::new(Handlers {
                startup: Arc::new(Startup {
                    auth,
                    require_tls,
                    pids: RandomPidSecretKeyGenerator::default(),
                    connections: Arc::clone(&connections),
                }),
                backend: Arc::new(Backend::new(engine)),
                cancel: Arc::new(DefaultCancelHandler::new(connections)),
            }),
            tls,
        })
    }

    /// Accepts connections until `stop` turns true; open connections end with the process.
    pub async fn run(self, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        if let Ok(addr) = listener.local_addr() {
            info!(%addr, tls = self.tls.is_some(), "Postgres protocol listening");
        }
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.wait_for(|s| *s) => return,
            };
            let (socket, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    warn!(error = %e, "cannot accept a Postgres connection");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let handlers = Arc::clone(&self.handlers);
            let tls = self.tls.clone();
            tokio::spawn(async move {
                if let Err(e) = pgwire::tokio::process_socket(socket, tls, handlers).await {
                    debug!(%peer, error = %e, "Postgres connection ended with an error");
                }
            });
        }
    }
}
