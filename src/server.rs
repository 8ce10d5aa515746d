//! `vigil serve`: the store, the OTLP receivers, the query API (HTTP and the Postgres
//! protocol) and the flusher in one process, with graceful shutdown that flushes the
//! buffer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::otlp;
use crate::postgres::PostgresServer;
use crate::query::{self, QueryEngine};
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the query engine: {0}")]
    Query(#[from] datafusion::error::DataFusionError),
    #[error("OTLP/gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("cannot start the Postgres listener: {0}")]
    Postgres(#[from] crate::postgres::PostgresError),
    #[error("invalid SLO specs:\n{0}")]
    Slo(#[from] crate::slo::spec::SpecErrors),
    #[error("cannot start anomaly detection: {0}")]
    Models(#[from] crate::models::ModelError),
    #[error("cannot start alerting: {0}")]
    Alerts(#[from] crate::alert::StartError),
}

async fn bind(what: &'static str, addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            what,
            addr: addr.to_owned(),
            source,
        })
}

/// Resolves on SIGTERM or Ctrl-C. On Unix both signals are listened for from the call on
/// (it must be made inside a runtime), not from the first poll: a server that is already
/// answering while its run loop starts must not die of the default action of an early
/// signal.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            tokio::select! {
                _ = recv_or_pend(term, "SIGTERM") => {}
                _ = recv_or_pend(interrupt, "Ctrl-C (SIGINT)") => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}

/// Waits for the first delivery of a signal; never resolves when it could not be listened
/// for (the error is logged).
#[cfg(unix)]
async fn recv_or_pend(listener: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match listener {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(e) => {
            error!(error = %e, "cannot listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}

/// How long shutdown waits for open requests before flushing regardless.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// A server with its listeners bound, ready to [`Server::run`]. Binding first lets callers
/// (tests, scripts) learn the real addresses when they asked for port 0.
#[derive(Debug)]
pub struct Server {
    config: Config,
    store: Store,
    grpc_listener: TcpListener,
    http_listener: TcpListener,
    pg_listener: Option<TcpListener>,
}

impl Server {
    /// Opens the store (replaying the WAL) and binds both listeners.
    pub async fn bind(config: Config) -> Result<Server, ServeError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| {
            crate::store::StoreError::Open {
                path: config.data_dir.clone(),
                source,
            }
        })?;
        let store = Store::open(
            &config.data_dir,
            config.storage.store_config(),
            &otlp::rows_from_wal,
        )?;
        let grpc_listener = bind("OTLP/gRPC", &config.server.grpc_listen).await?;
        let http_listener = bind("HTTP", &config.server.http_listen).await?;
        let pg_listener = if config.postgres.enabled {
            Some(bind("Postgres", &config.postgres.listen).await?)
        } else {
            None
        };
        Ok(Server {
            config,
            store,
            grpc_listener,
            http_listener,
            pg_listener,
        })
    }

    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_listener.local_addr().ok()
    }

    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_listener.local_addr().ok()
    }

    pub fn pg_addr(&self) -> Option<SocketAddr> {
        self.pg_listener.as_ref()?.local_addr().ok()
    }

    /// Serves until `shutdown` resolves, then drains requests and flushes the buffer.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let Server {
            config,
            store,
            grpc_listener,
            http_listener,
            pg_listener,
        } = self;
        let engine = QueryEngine::new(Arc::new(store.clone()), config.query.limits())?;
        let postgres = match pg_listener {
            Some(listener) => {
                let options = config.postgres.options();
                if options.password.is_none()
                    && listener.local_addr().is_ok_and(|a| !a.ip().is_loopback())
                {
                    warn!(
                        "the Postgres port accepts any user without a password on a non-loopback address; set [postgres] password"
                    );
                }
                Some((PostgresServer::new(engine.clone(), &options)?, listener))
            }
            None => None,
        };
        let max_request = config.server.max_request_size.as_usize();
        info!(data_dir = %config.data_dir.display(), "store open");

        let (stop_tx, stop_rx) = watch::channel(false);
        let (flusher_stop, flusher_rx) = watch::channel(false);
        let flusher = tokio::spawn(store.clone().run_flusher(flusher_rx));

        let mut alert_config = config.alerts.clone();
        if alert_config.external_url.is_none()
            && let Ok(addr) = http_listener.local_addr()
        {
            alert_config.external_url = Some(format!("http://{addr}"));
        }
        let (alerts, dispatcher) =
            crate::alert::start(&alert_config, &config.data_dir.join("_alerts"))?;
        let alerts = Arc::new(std::sync::Mutex::new(alerts));
        let figures = crate::metrics::SharedFigures::default();

        let app = Router::new()
            .merge(otlp::http::routes(store.clone(), max_request))
            .merge(query::http::routes(engine.clone()))
            .merge(crate::alert::http::routes(alerts.clone(), store.clone()))
            .merge(crate::metrics::routes(store.clone(), figures.clone()))
            .route("/health", get(|| async { "ok\n" }));
        if let Ok(addr) = http_listener.local_addr() {
            info!(%addr, "HTTP listening (OTLP /v1/traces, /v1/metrics, /v1/logs; SQL /api/v1/query)");
        }
        let http = tokio::spawn(crate::http_server::serve(
            http_listener,
            app,
            stop_rx.clone(),
            SHUTDOWN_GRACE,
        ));
        let slo = if config.slo.enabled {
            let catalog =
                crate::slo::engine::load_catalog(config.slo.built_in_packs, &config.slo.dirs)?;
            for warning in &catalog.warnings {
                warn!(%warning, "SLO spec");
            }
            let slos = crate::slo::engine::SloEngine::new(engine.clone(), &catalog);
            let watcher = if config.anomalies.enabled {
                Some(crate::models::watch::Watcher::open(
                    &config.anomalies,
                    &config.data_dir,
                )?)
            } else {
                None
            };
            info!(objectives = slos.objectives(), "SLOs loaded");
            if config.predict.enabled {
                // Validated with the configuration, so the schedule parses.
                if let Ok(schedule) = config.predict.schedule.parse() {
                    let job = crate::predict::job::ScheduledJob {
                        slos: catalog.slos.clone(),
                        config: config.predict.clone(),
                        models: crate::predict::job::models_dir(&config.data_dir),
                        schedule,
                    };
                    tokio::spawn(crate::predict::job::serve(
                        job,
                        store.clone(),
                        engine.clone(),
                        Some(alerts.clone()),
                        stop_rx.clone(),
                    ));
                }
            }
            Some(tokio::spawn(crate::slo::job::run(
                slos,
                store.clone(),
                engine.clone(),
                crate::slo::job::Outputs {
                    alerts: Some(alerts.clone()),
                    figures: figures.clone(),
                    watcher,
                },
                crate::slo::job::Schedule {
                    interval: config.slo.interval.0,
                    history: config.slo.history.0,
                },
                stop_rx.clone(),
            )))
        } else {
            None
        };
        let postgres =
            postgres.map(|(server, listener)| tokio::spawn(server.run(listener, stop_rx.clone())));
        let mut grpc_stop = stop_rx.clone();
        let grpc = tokio::spawn(otlp::grpc::serve(
            grpc_listener,
            store.clone(),
            max_request,
            async move {
                let _ = grpc_stop.wait_for(|stop| *stop).await;
            },
        ));

        shutdown.await;
        info!("shutting down: draining requests, then flushing");
        let _ = stop_tx.send(true);
        let http_result = http.await;
        // A long gap fill or backfill-sized step must not hold up shutdown: what it did
        // not write is recomputed on the next start.
        if let Some(mut slo) = slo
            && tokio::time::timeout(SHUTDOWN_GRACE, &mut slo)
                .await
                .is_err()
        {
            warn!(
                grace_seconds = SHUTDOWN_GRACE.as_secs(),
                "SLO job still busy after the grace period; stopping it"
            );
            slo.abort();
        }
        // Deliveries still queued stay in the outbox and go out after the next start.
        dispatcher.stop().await;
        if let Some(postgres) = postgres {
            let _ = postgres.await;
        }
        // tonic waits for every open request; a client that never finishes one must not
        // keep the final flush from running.
        let grpc_result = match tokio::time::timeout(SHUTDOWN_GRACE, grpc).await {
            Ok(result) => result,
            Err(_) => {
                warn!(
                    grace_seconds = SHUTDOWN_GRACE.as_secs(),
                    "gRPC requests still open after the grace period; closing them"
                );
                Ok(Ok(()))
            }
        };
        // Receivers are drained: nothing more can arrive, so the final flush takes it all.
        let _ = flusher_stop.send(true);
        if let Err(e) = flusher.await {
            error!(error = %e, "flusher task failed");
        }
        info!("stopped");
        if let Err(e) = http_result {
            error!(error = %e, "HTTP task failed");
        }
        match grpc_result {
            Ok(Err(e)) => return Err(ServeError::Grpc(e)),
            Err(e) => error!(error = %e, "gRPC task failed"),
            Ok(Ok(())) => {}
        }
        Ok(())
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Binds and runs a server until `shutdown` resolves.
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    Server::bind(config).await?.run(shutdown).await
}
