//! SQL over the store: one DataFusion session whose tables are buffer ∪ Parquet.
//!
//! Every table ([`crate::store::Table`]) is a [`provider::StoreTable`] that, at each scan,
//! takes a snapshot of the store (buffered batches and committed Parquet files) and plans
//! a union of an in-memory scan and a Parquet scan, so a row is queryable the moment it
//! is acknowledged and never seen twice.
//!
//! Analyst SQL is read-only ([`QueryEngine::sql`]): DDL, DML, `COPY` and statements such
//! as `SET` are refused at planning, and no table function or URL table can reach files
//! outside the store. JSON functions (`->>`, `json_get_str`, …) come from
//! datafusion-functions-json; telemetry and PostgreSQL catalog functions from
//! [`functions`]; PostgreSQL semantics clients rely on from `compat`.
//!
//! Every query runs under [`QueryLimits`] ([`QueryEngine::execute`]): a slot among
//! `max_concurrent`, its own memory pool, a deadline, and threads of its own; its batches
//! reach the reader through a bounded channel, and dropping the reader stops it.

pub mod columns;
mod compat;
pub mod format;
pub(crate) mod functions;
pub mod http;
mod limits;
pub mod provider;
pub mod prune;
pub(crate) mod settings;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::execution::disk_manager::DiskManagerBuilder;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParser, Statement};
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};

pub use compat::Session;

use crate::store::{Table, TableSource};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    TooComplex(String),
    #[error("{0}")]
    MemoryLimit(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Sql(#[from] DataFusionError),
}

/// What one query may use; see `[query]` in the configuration.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Memory a query's operators (sorts, joins, aggregations) and its collected result
    /// may hold; sorts and aggregations spill to disk before failing.
    pub memory_limit: usize,
    /// Longest a query may run, waiting for a slot included.
    pub timeout: Duration,
    /// Queries running at once; more wait for a slot.
    pub max_concurrent: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            memory_limit: 1 << 30,
            timeout: Duration::from_secs(120),
            max_concurrent: 4,
        }
    }
}

/// How long a failed query waits for its reader to take the error.
const ERROR_GRACE: Duration = Duration::from_secs(10);

/// The result of a query: its schema (known even when no row came back) and rows.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// A query being executed: its schema now, its batches as they are produced. Dropping
/// it cancels the query.
#[derive(Debug)]
pub struct QueryStream {
    pub schema: SchemaRef,
    batches: mpsc::Receiver<Result<RecordBatch, QueryError>>,
    /// Set by the producer once every batch is sent: an end without it is a failure.
    complete: Arc<std::sync::atomic::AtomicBool>,
    ended: bool,
    /// The reader gives up at the deadline even if the query is stuck inside one step.
    deadline: Instant,
    timeout_message: String,
}

impl QueryStream {
    pub async fn next(&mut self) -> Option<Result<RecordBatch, QueryError>> {
        if self.ended {
            return None;
        }
        let next = tokio::time::timeout_at(self.deadline.into(), self.batches.recv()).await;
        let Ok(next) = next else {
            self.ended = true;
            return Some(Err(QueryError::Timeout(self.timeout_message.clone())));
        };
        match next {
            Some(item) => Some(item),
            None => {
                self.ended = true;
                if self.complete.load(std::sync::atomic::Ordering::Acquire) {
                    None
                } else {
                    Some(Err(QueryError::Timeout(
                        "query stopped before it finished (its client read too slowly past the timeout)".into(),
                    )))
                }
            }
        }
    }
}

/// A DataFusion session over one store, with the limits every query runs under.
#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
    limits: Arc<QueryLimits>,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl QueryEngine {
    pub fn new(
        source: Arc<dyn TableSource>,
        limits: QueryLimits,
    ) -> Result<QueryEngine, DataFusionError> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(settings::DATABASE, settings::SCHEMA)
            .set_str("datafusion.sql_parser.dialect", "PostgreSQL")
            // now() and friends are timestamps with time zone, as in PostgreSQL.
            .set_str("datafusion.execution.time_zone", "UTC");
        let mut ctx = SessionContext::new_with_config(config);
        datafusion_functions_json::register_all(&mut ctx)?;
        functions::register(&ctx);
        for table in Table::ALL {
            ctx.register_table(
                table.name(),
                Arc::new(provider::StoreTable::new(table, Arc::clone(&source))),
            )?;
        }
        crate::postgres::catalog::register(&ctx)?;
        let slots = Arc::new(Semaphore::new(limits.max_concurrent.max(1)));
        Ok(QueryEngine {
            ctx,
            limits: Arc::new(limits),
            slots,
        })
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Splits `sql` into statements (PostgreSQL dialect). An empty list means the text
    /// held only comments and whitespace.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>, QueryError> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let dialect =
            datafusion::sql::sqlparser::dialect::dialect_from_str(dialect).ok_or_else(|| {
                QueryError::Sql(DataFusionError::Plan(format!(
                    "unknown SQL dialect {dialect}"
                )))
            })?;
        Ok(DFParser::parse_sql_with_dialect(sql, dialect.as_ref())?.into())
    }

    /// Plans one statement for `session`, refusing anything that would write.
    pub async fn plan(
        &self,
        mut statement: Statement,
        session: &Session,
    ) -> Result<LogicalPlan, QueryError> {
        limits::check_depth(&statement)?;
        if let Statement::Statement(inner) = &mut statement {
            compat::rewrite(inner, session);
        }
        let engine = self.clone();
        // Planning recurses over the expression tree: it runs on the query runtime's big
        // stacks too.
        spawn_query(async move {
            let plan = engine.ctx.state().statement_to_plan(statement).await?;
            let options = SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false);
            options.verify_plan(&plan).map_err(refusal)?;
            Ok(plan)
        })
        .await
    }

    /// Starts `plan` under the limits: it waits for a free slot, then runs on the query
    /// runtime with its own memory pool, until it ends, times out, or the returned stream
    /// is dropped.
    pub async fn execute(&self, plan: LogicalPlan) -> Result<QueryStream, QueryError> {
        let deadline = Instant::now() + self.limits.timeout;
        let permit = tokio::time::timeout_at(
            deadline.into(),
            Arc::clone(&self.slots).acquire_owned(),
        )
        .await
        .map_err(|_| {
            QueryError::Busy(format!(
                "all {} query slots stayed busy for the whole {}s timeout ([query] max_concurrent, timeout)",
                self.limits.max_concurrent,
                self.limits.timeout.as_secs()
            ))
        })?
        .map_err(|_| QueryError::Busy("the query engine is shutting down".into()))?;

        let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let (tx, rx) = mpsc::channel(4);
        let ctx = self.query_context()?;
        let limits = Arc::clone(&self.limits);
        let complete = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = Arc::clone(&complete);
        let timeout_message = format!(
            "query cancelled after the {}s timeout ([query] timeout)",
            limits.timeout.as_secs()
        );
        let producer_timeout = timeout_message.clone();
        let work = async move {
            let run = async {
                let frame = ctx.execute_logical_plan(plan).await?;
                let mut stream = frame.execute_stream().await?;
                while let Some(batch) = stream.next().await {
                    let batch = batch?;
                    if tx.send(Ok(batch)).await.is_err() {
                        break;
                    }
                }
                Ok::<(), DataFusionError>(())
            };
            let outcome = tokio::select! {
                outcome = tokio::time::timeout_at(deadline.into(), run) => outcome,
                // The reader went away (client gone, cancel, timeout): stop working for it.
                _ = tx.closed() => return,
            };
            let error = match outcome {
                Ok(Ok(())) => {
                    done.store(true, std::sync::atomic::Ordering::Release);
                    return;
                }
                Ok(Err(e)) => describe_error(e, &limits),
                Err(_) => QueryError::Timeout(producer_timeout),
            };
            // The reader may be slow to take it; the slot is not held for it forever.
            let _ = tokio::time::timeout(ERROR_GRACE, tx.send(Err(error))).await;
        };
        run_on_own_threads(work, permit)?;
        Ok(QueryStream {
            schema,
            batches: rx,
            complete,
            ended: false,
            deadline,
            timeout_message,
        })
    }

    /// A session for one query: the shared catalog and functions, its own memory pool.
    fn query_context(&self) -> Result<SessionContext, QueryError> {
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(self.limits.memory_limit),
            std::num::NonZeroUsize::new(3).unwrap_or(std::num::NonZeroUsize::MIN),
        );
        // Parquet footers and file statistics stay cached across queries: every query
        // would otherwise read the metadata of every file it touches again.
        let shared = &self.ctx.runtime_env().cache_manager;
        let caches = datafusion::execution::cache::cache_manager::CacheManagerConfig::default()
            .with_file_metadata_cache(Some(shared.get_file_metadata_cache()))
            .with_file_statistics_cache(shared.get_file_statistic_cache());
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(caches)
            .with_memory_pool(Arc::new(pool))
            .with_disk_manager_builder(DiskManagerBuilder::default())
            .build_arc()?;
        let state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_runtime_env(runtime)
            .build();
        Ok(SessionContext::new_with_state(state))
    }

    /// Runs one read-only SQL statement and collects its rows; the rows count against
    /// the memory limit.
    pub async fn sql(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let started = Instant::now();
        let result = self.collect(sql).await;
        match &result {
            Ok(_) => crate::metrics::QUERIES.record(started.elapsed()),
            Err(_) => crate::metrics::QUERY_ERRORS.add(1),
        }
        result
    }

    async fn collect(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let mut statements = self.parse(sql)?;
        if statements.len() != 1 {
            return Err(QueryError::Sql(DataFusionError::Plan(format!(
                "expected exactly one SQL statement, found {}",
                statements.len()
            ))));
        }
        let plan = self.plan(statements.remove(0), &Session::default()).await?;
        let mut stream = self.execute(plan).await?;
        let mut batches = Vec::new();
        let mut held = 0usize;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            held += batch.get_array_memory_size();
            if held > self.limits.memory_limit {
                return Err(QueryError::MemoryLimit(format!(
                    "the result is larger than the {} per-query memory limit ([query] memory_limit); add a LIMIT or aggregate, or read it over the Postgres port, which streams",
                    human_bytes(self.limits.memory_limit)
                )));
            }
            batches.push(batch);
        }
        Ok(QueryResult {
            schema: stream.schema,
            batches,
        })
    }
}

fn human_bytes(n: usize) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

/// Names the limit a failed query ran into, when it was one.
fn describe_error(error: DataFusionError, limits: &QueryLimits) -> QueryError {
    match error.find_root() {
        DataFusionError::ResourcesExhausted(detail) => QueryError::MemoryLimit(format!(
            "query needs more memory than the {} per-query limit ([query] memory_limit): {detail}",
            human_bytes(limits.memory_limit)
        )),
        _ => QueryError::Sql(error),
    }
}

/// Runs one query's execution on threads of its own: a runtime per query, so the OS
/// shares the cores between running queries (and with ingest) however long one of them
/// computes without yielding. The slot (`permit`) is held until the work ends and the
/// query's threads are gone.
///
/// No thread here is let go of (detached) while it may be exiting. glibc's
/// `pthread_detach` marks a thread detached and then reads the thread's descriptor, which
/// lies on the thread's stack; a thread that exits in between frees that stack, and one
/// as large as these (above glibc's stack cache) is unmapped, so the read faults. Shutting
/// the runtime down in the background detached its workers just as they exited, and a
/// slo_status backfill of a simulated fleet, thousands of queries, died of it once. So the
/// driver drops the runtime, which joins its threads, and it starts its work only after
/// its own handle was let go of.
fn run_on_own_threads(
    work: impl std::future::Future<Output = ()> + Send + 'static,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<(), QueryError> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("vigil-query")
        .thread_stack_size(64 << 20)
        .enable_all()
        .build()
        .map_err(|e| QueryError::Busy(format!("cannot start threads for the query: {e}")))?;
    let (detached, wait_for_detach) = std::sync::mpsc::channel::<()>();
    let driver = std::thread::Builder::new()
        .name("vigil-query-driver".into())
        .stack_size(64 << 20)
        .spawn(move || {
            // An error means the spawner is gone, and with it the handle: go on.
            let _ = wait_for_detach.recv();
            let _permit = permit;
            runtime.block_on(work);
            // Tasks the query spawned and left behind are dropped, not run to their end;
            // blocking calls under way finish first. The threads are joined.
            drop(runtime);
        })
        .map_err(|e| QueryError::Busy(format!("cannot start a thread for the query: {e}")))?;
    drop(driver);
    let _ = detached.send(());
    Ok(())
}

/// Runs `work` on the query runtime and waits for it.
async fn spawn_query<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, QueryError>> + Send + 'static,
) -> Result<T, QueryError> {
    query_runtime().spawn(work).await.map_err(|e| {
        QueryError::Sql(DataFusionError::External(
            format!("query task failed: {e}").into(),
        ))
    })?
}

/// Planning runs on its own runtime, whose threads have large stacks (planning recurses
/// over the expression tree); execution gets threads per query ([`run_on_own_threads`]).
fn query_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("vigil-query")
            .thread_stack_size(64 << 20)
            .enable_all()
            .build()
            // Without threads no query can run at all; there is nothing to fall back to.
            .unwrap_or_else(|e| panic!("cannot start the query runtime: {e}"))
    })
}

/// Rewords DataFusion's refusals of writes so the analyst learns why.
fn refusal(error: DataFusionError) -> QueryError {
    let text = error.to_string();
    let refused = [
        "DDL not supported",
        "DML not supported",
        "Statement not supported",
    ];
    if refused.iter().any(|r| text.contains(r)) {
        let what = text
            .split("not supported: ")
            .nth(1)
            .unwrap_or("this statement")
            .trim();
        QueryError::Refused(format!(
            "Vigil SQL is read-only: {what} is not allowed (only SELECT, WITH, EXPLAIN, SHOW and DESCRIBE run)"
        ))
    } else {
        QueryError::Sql(error)
    }
}
