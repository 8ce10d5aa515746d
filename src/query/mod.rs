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
//! datafusion-functions-json.

pub mod format;
pub mod http;
mod limits;
pub mod provider;
pub mod prune;

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::error::DataFusionError;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};

use crate::store::{Table, TableSource};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    TooComplex(String),
    #[error("{0}")]
    Sql(#[from] DataFusionError),
}

/// The result of a query: its schema (known even when no row came back) and rows.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// A DataFusion session over one store.
#[derive(Clone)]
pub struct QueryEngine {
    ctx: SessionContext,
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine").finish_non_exhaustive()
    }
}

impl QueryEngine {
    pub fn new(source: Arc<dyn TableSource>) -> Result<QueryEngine, DataFusionError> {
        let config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema("vigil", "public")
            .set_str("datafusion.sql_parser.dialect", "PostgreSQL");
        let mut ctx = SessionContext::new_with_config(config);
        datafusion_functions_json::register_all(&mut ctx)?;
        for table in Table::ALL {
            ctx.register_table(
                table.name(),
                Arc::new(provider::StoreTable::new(table, Arc::clone(&source))),
            )?;
        }
        Ok(QueryEngine { ctx })
    }

    /// Runs one read-only SQL statement, on the query runtime (see [`query_runtime`]).
    pub async fn sql(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let engine = self.clone();
        let sql = sql.to_owned();
        query_runtime()
            .spawn(async move { engine.run(&sql).await })
            .await
            .map_err(|e| {
                QueryError::Sql(DataFusionError::External(
                    format!("query task failed: {e}").into(),
                ))
            })?
    }

    async fn run(&self, sql: &str) -> Result<QueryResult, QueryError> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let statement = state.sql_to_statement(sql, &dialect)?;
        limits::check_depth(&statement)?;
        let plan = state.statement_to_plan(statement).await?;
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        options.verify_plan(&plan).map_err(refusal)?;
        let frame = self.ctx.execute_logical_plan(plan).await?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await?;
        Ok(QueryResult { schema, batches })
    }
}

/// Queries run on their own runtime: its threads have large stacks (planning recurses
/// over the expression tree) and are scheduled by the OS apart from the receivers', so a
/// heavy query slows ingest no more than any other busy thread does.
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
