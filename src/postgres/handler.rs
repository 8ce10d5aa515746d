//! Queries over the Postgres protocol: the simple protocol (`Query`) and the extended one
//! (`Parse`, `Bind`, `Describe`, `Execute`), both planned and run by the same
//! [`QueryEngine`] as the HTTP API, under the same limits and read-only rules.
//!
//! Statements that only touch the session are answered here: `BEGIN`, `COMMIT`,
//! `ROLLBACK` (there is nothing to commit: Vigil is read-only), `SET`, `RESET`,
//! `DISCARD ALL` and `DEALLOCATE`. `SET` values are kept per connection and read back by
//! `current_setting` and `SHOW`; they do not change how Vigil computes or formats.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use arrow::datatypes::DataType;
use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Expr, Reset, Set, Statement, Value};
use futures::{Sink, Stream, stream};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    DescribePortalResponse, DescribeResponse, DescribeStatementResponse, FieldInfo, QueryResponse,
    Response, Tag,
};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionHandle, METADATA_USER, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use pgwire::messages::response::TransactionStatus;

use tracing::debug;

use super::types::{encode_batch, parameter, parameter_type, pg_type};
use crate::query::{QueryEngine, QueryError, QueryStream, Session, settings};

/// Most parameters one statement may take (Bind counts them in 16 bits).
const MAX_PARAMETERS: usize = 65_535;

/// Client metadata keys under which `SET` values are kept.
const SETTING_PREFIX: &str = "vigil.setting.";

/// A statement ready to run: a planned query, or a session command.
#[derive(Debug, Clone)]
pub(crate) enum Prepared {
    Query {
        plan: LogicalPlan,
        /// Types DataFusion inferred for `$1`, `$2`, …, in order.
        parameters: Vec<Option<DataType>>,
    },
    Command(Command),
}

#[derive(Debug, Clone)]
pub(crate) enum Command {
    Begin,
    Commit,
    Rollback,
    Set {
        name: String,
        value: String,
    },
    Reset {
        name: Option<String>,
        tag: &'static str,
    },
    Tag(&'static str),
}

/// The Postgres protocol handlers, one instance shared by all connections.
#[derive(Debug)]
pub(crate) struct Backend {
    engine: QueryEngine,
    parser: Arc<Planner>,
}

impl Backend {
    pub(crate) fn new(engine: QueryEngine) -> Backend {
        Backend {
            parser: Arc::new(Planner {
                engine: engine.clone(),
            }),
            engine,
        }
    }
}

/// The session a client has: its user and its parameters (defaults, then what it set).
fn session<C: ClientInfo>(client: &C) -> Session {
    let mut session = Session::default();
    let metadata = client.metadata();
    if let Some(user) = metadata.get(METADATA_USER) {
        session.user = user.clone();
    }
    if let Some(name) = metadata.get("application_name") {
        session
            .settings
            .insert("application_name".into(), name.clone());
    }
    // What the client SET overrides what it sent at startup.
    for (key, value) in metadata {
        if let Some(name) = key.strip_prefix(SETTING_PREFIX) {
            session.settings.insert(name.to_owned(), value.clone());
        }
    }
    session
}

pub(crate) fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_owned(),
        code.to_owned(),
        message,
    )))
}

/// The SQLSTATE that says what kind of failure a query error is.
fn sqlstate(error: &QueryError) -> &'static str {
    match error {
        QueryError::Refused(_) => "25006",     // read_only_sql_transaction
        QueryError::TooComplex(_) => "54001",  // statement_too_complex
        QueryError::MemoryLimit(_) => "53200", // out_of_memory
        QueryError::Timeout(_) => "57014",     // query_canceled
        QueryError::Busy(_) => "53000",        // insufficient_resources
        QueryError::Sql(e) => match e.find_root() {
            DataFusionError::SQL(..) => "42601",         // syntax_error
            DataFusionError::SchemaError(..) => "42703", // undefined_column
            DataFusionError::Plan(m) if m.contains("table") && m.contains("not found") => {
                "42P01" // undefined_table
            }
            DataFusionError::Plan(m) if m.contains("function") => "42883", // undefined_function
            DataFusionError::Plan(_) => "42000",
            DataFusionError::Execution(_) | DataFusionError::ArrowError(..) => "22000",
            DataFusionError::ResourcesExhausted(_) => "53200",
            _ => "XX000",
        },
    }
}

fn query_error(error: QueryError) -> PgWireError {
    user_error(sqlstate(&error), error.to_string())
}

/// Splits `sql` and sorts each statement into a command or a planned query.
async fn prepare_all(
    engine: &QueryEngine,
    sql: &str,
    session: &Session,
) -> Result<Vec<Prepared>, QueryError> {
    let mut prepared = Vec::new();
    for statement in engine.parse(sql)? {
        prepared.push(prepare(engine, statement, session).await?);
    }
    Ok(prepared)
}

async fn prepare(
    engine: &QueryEngine,
    statement: DfStatement,
    session: &Session,
) -> Result<Prepared, QueryError> {
    if let DfStatement::Statement(inner) = &statement
        && let Some(command) = command(inner)
    {
        return Ok(Prepared::Command(command));
    }
    let plan = engine.plan(statement, session).await?;
    let mut numbered: Vec<(usize, Option<DataType>)> = plan
        .get_parameter_types()?
        .into_iter()
        .filter_map(|(name, t)| Some((name.strip_prefix('$')?.parse().ok()?, t)))
        .collect();
    numbered.sort_by_key(|(n, _)| *n);
    let count = numbered.last().map(|(n, _)| *n).unwrap_or(0);
    // The protocol counts parameters in 16 bits; a larger $n can never be bound.
    if count > MAX_PARAMETERS {
        return Err(QueryError::TooComplex(format!(
            "there is no parameter ${count}: a statement takes at most {MAX_PARAMETERS} parameters"
        )));
    }
    let mut parameters = vec![None; count];
    for (n, t) in numbered {
        if n >= 1 {
            parameters[n - 1] = t;
        }
    }
    Ok(Prepared::Query { plan, parameters })
}

fn setting_value(expr: &Expr) -> String {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(ident) => ident.value.clone(),
        other => other.to_string(),
    }
}

/// Statements that only change the session.
fn command(statement: &Statement) -> Option<Command> {
    Some(match statement {
        Statement::StartTransaction { .. } => Command::Begin,
        Statement::Commit { .. } => Command::Commit,
        Statement::Rollback { .. } => Command::Rollback,
        Statement::Set(Set::SingleAssignment {
            variable, values, ..
        }) => Command::Set {
            name: variable.to_string().to_ascii_lowercase(),
            value: values
                .iter()
                .map(setting_value)
                .collect::<Vec<_>>()
                .join(", "),
        },
        Statement::Set(Set::SetTimeZone { value, .. }) => Command::Set {
            name: "timezone".into(),
            value: setting_value(value),
        },
        Statement::Reset(reset) => Command::Reset {
            name: match &reset.reset {
                Reset::ALL => None,
                Reset::ConfigurationParameter(name) => Some(name.to_string().to_ascii_lowercase()),
            },
            tag: "RESET",
        },
        Statement::Discard { .. } => Command::Reset {
            name: None,
            tag: "DISCARD ALL",
        },
        Statement::Deallocate { .. } => Command::Tag("DEALLOCATE"),
        _ => return None,
    })
}

/// Whether the client's transaction failed: PostgreSQL then ignores every statement but
/// the one that ends the transaction.
fn aborted<C: ClientInfo>(client: &C) -> bool {
    matches!(client.transaction_status(), TransactionStatus::Error)
}

fn in_failed_transaction() -> PgWireError {
    user_error(
        "25P02",
        "current transaction is aborted, commands ignored until end of transaction block".into(),
    )
}

/// Runs a session command against the client's metadata.
fn run_command<C: ClientInfo>(client: &mut C, command: &Command) -> PgWireResult<Response> {
    if aborted(client) {
        return match command {
            // COMMIT of a failed transaction rolls it back, and says so.
            Command::Commit | Command::Rollback => {
                Ok(Response::TransactionEnd(Tag::new("ROLLBACK")))
            }
            _ => Err(in_failed_transaction()),
        };
    }
    Ok(match command {
        Command::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Command::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
        Command::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
        Command::Set { name, value } => {
            if name.starts_with("datafusion.") {
                return Err(user_error(
                    "25006",
                    format!(
                        "cannot change {name}: query settings are fixed by the server configuration"
                    ),
                ));
            }
            client
                .metadata_mut()
                .insert(format!("{SETTING_PREFIX}{name}"), value.clone());
            Response::Execution(Tag::new("SET"))
        }
        Command::Reset { name, tag } => {
            let metadata = client.metadata_mut();
            match name {
                Some(name) => {
                    metadata.remove(&format!("{SETTING_PREFIX}{name}"));
                }
                None => metadata.retain(|k, _| !k.starts_with(SETTING_PREFIX)),
            }
            Response::Execution(Tag::new(tag))
        }
        Command::Tag(tag) => Response::Execution(Tag::new(tag)),
    })
}

fn fields(plan: &LogicalPlan, format: &Format) -> Vec<FieldInfo> {
    plan.schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            FieldInfo::new(
                f.name().clone(),
                None,
                None,
                pg_type(f.data_type()),
                format.format_for(i),
            )
        })
        .collect()
}

/// A running query's rows, and what ends it early: the client's cancel request.
struct Running {
    query: QueryStream,
    pending: std::vec::IntoIter<DataRow>,
    cancel: Option<futures::channel::oneshot::Receiver<()>>,
}

enum Rows {
    Start(QueryEngine, LogicalPlan, Option<Arc<ConnectionHandle>>),
    Running(Running),
    Done,
}

fn cancelled() -> PgWireError {
    user_error("57014", "canceling statement due to user request".into())
}

/// The rows of `plan` as protocol messages. The query starts when the first row is
/// asked for, so statements of one simple query run one after the other; a cancel
/// request from the client (psql's Ctrl-C) stops it, and so does the client leaving.
fn rows(
    engine: QueryEngine,
    plan: LogicalPlan,
    fields: Arc<Vec<FieldInfo>>,
    connection: Option<Arc<ConnectionHandle>>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    stream::unfold(Rows::Start(engine, plan, connection), move |mut state| {
        let fields = Arc::clone(&fields);
        async move {
            loop {
                state = match state {
                    Rows::Start(engine, plan, connection) => {
                        let cancel = match &connection {
                            Some(handle) => Some(handle.start_query().await),
                            None => None,
                        };
                        match engine.execute(plan).await {
                            Ok(query) => Rows::Running(Running {
                                query,
                                pending: Vec::new().into_iter(),
                                cancel,
                            }),
                            Err(e) => return Some((Err(query_error(e)), Rows::Done)),
                        }
                    }
                    Rows::Running(mut running) => {
                        if let Some(row) = running.pending.next() {
                            return Some((Ok(row), Rows::Running(running)));
                        }
                        let next = match running.cancel.as_mut() {
                            Some(cancel) => tokio::select! {
                                next = running.query.next() => next,
                                Ok(()) = cancel => return Some((Err(cancelled()), Rows::Done)),
                            },
                            None => running.query.next().await,
                        };
                        match next {
                            None => return None,
                            Some(Err(e)) => return Some((Err(query_error(e)), Rows::Done)),
                            Some(Ok(batch)) => match encode_batch(&batch, &fields) {
                                Ok(rows) => {
                                    running.pending = rows.into_iter();
                                    Rows::Running(running)
                                }
                                Err(e) => return Some((Err(e), Rows::Done)),
                            },
                        }
                    }
                    Rows::Done => return None,
                }
            }
        }
    })
}

fn query_response<C: ClientInfo>(
    client: &C,
    engine: &QueryEngine,
    plan: LogicalPlan,
    format: &Format,
) -> Response {
    let fields = Arc::new(fields(&plan, format));
    let connection = client
        .session_extensions()
        .get::<Arc<ConnectionHandle>>()
        .map(|c| Arc::clone(&*c));
    let rows = rows(engine.clone(), plan, Arc::clone(&fields), connection);
    Response::Query(QueryResponse::new(fields, rows))
}

#[async_trait]
impl SimpleQueryHandler for Backend {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        debug!(sql = query, "Postgres query");
        let mut session = session(client);
        let statements = self.engine.parse(query).map_err(query_error)?;
        if statements.is_empty() {
            // Only comments (Grafana's and pgx's "-- ping"): PostgreSQL's empty query.
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            // A failed statement ends the query string, as in PostgreSQL; what ran
            // before it keeps its results.
            match prepare(&self.engine, statement, &session).await {
                Ok(Prepared::Command(command)) => match run_command(client, &command) {
                    Ok(response) => {
                        // Later statements of the same string see what this one SET.
                        session = self::session(client);
                        responses.push(response);
                    }
                    Err(e) => {
                        responses.push(error_response(e));
                        break;
                    }
                },
                Ok(Prepared::Query { .. }) if aborted(client) => {
                    responses.push(error_response(in_failed_transaction()));
                    break;
                }
                Ok(Prepared::Query { plan, parameters }) => {
                    if !parameters.is_empty() {
                        responses.push(error_response(user_error(
                            "08P01",
                            "parameters ($1, …) need the extended query protocol".into(),
                        )));
                        break;
                    }
                    responses.push(query_response(
                        client,
                        &self.engine,
                        plan,
                        &Format::UnifiedText,
                    ));
                }
                Err(e) => {
                    responses.push(error_response(query_error(e)));
                    break;
                }
            }
        }
        Ok(responses)
    }
}

fn error_response(error: PgWireError) -> Response {
    match error {
        PgWireError::UserError(info) => Response::Error(info),
        other => Response::Error(Box::new(ErrorInfo::new(
            "ERROR".to_owned(),
            "XX000".to_owned(),
            other.to_string(),
        ))),
    }
}

/// Parses and plans statements for the extended protocol.
#[derive(Debug)]
pub(crate) struct Planner {
    engine: QueryEngine,
}

#[async_trait]
impl QueryParser for Planner {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        debug!(sql, "Postgres parse");
        let session = session(client);
        let mut prepared = prepare_all(&self.engine, sql, &session)
            .await
            .map_err(query_error)?;
        match prepared.len() {
            0 => Ok(None),
            1 => Ok(prepared.pop()),
            _ => Err(user_error(
                "42601",
                "cannot insert multiple commands into a prepared statement".into(),
            )),
        }
    }

    fn get_parameter_types(&self, statement: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(match statement {
            Prepared::Query { parameters, .. } => parameters
                .iter()
                .map(|t| parameter_type(None, t.as_ref()))
                .collect(),
            Prepared::Command(_) => Vec::new(),
        })
    }

    fn get_result_schema(
        &self,
        statement: &Prepared,
        format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match statement {
            Prepared::Query { plan, .. } => fields(plan, format.unwrap_or(&Format::UnifiedText)),
            Prepared::Command(_) => Vec::new(),
        })
    }
}

#[async_trait]
impl ExtendedQueryHandler for Backend {
    type Statement = Prepared;
    type QueryParser = Planner;

    fn query_parser(&self) -> Arc<Planner> {
        Arc::clone(&self.parser)
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Prepared>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &target.statement {
            Prepared::Command(_) => Ok(DescribeStatementResponse::no_data()),
            Prepared::Query { plan, parameters } => {
                let types = (0..parameters.len().max(target.parameter_types.len()))
                    .map(|i| {
                        parameter_type(
                            target.parameter_types.get(i).and_then(|t| t.as_ref()),
                            parameters.get(i).and_then(|t| t.as_ref()),
                        )
                    })
                    .collect();
                Ok(DescribeStatementResponse::new(
                    types,
                    fields(plan, &Format::UnifiedText),
                ))
            }
        }
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Prepared>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &portal.statement.statement {
            Prepared::Command(_) => Ok(DescribePortalResponse::no_data()),
            Prepared::Query { plan, .. } => Ok(DescribePortalResponse::new(fields(
                plan,
                &portal.result_column_format,
            ))),
        }
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match &portal.statement.statement {
            Prepared::Command(command) => run_command(client, command),
            Prepared::Query { .. } if aborted(client) => Err(in_failed_transaction()),
            Prepared::Query { plan, parameters } => {
                let plan = bind(plan, parameters, portal)?;
                Ok(query_response(
                    client,
                    &self.engine,
                    plan,
                    &portal.result_column_format,
                ))
            }
        }
    }
}

/// Substitutes the portal's parameter values into the plan.
fn bind(
    plan: &LogicalPlan,
    inferred: &[Option<DataType>],
    portal: &Portal<Prepared>,
) -> PgWireResult<LogicalPlan> {
    let count = portal.parameter_len();
    if count != inferred.len() {
        return Err(user_error(
            "08P01",
            format!(
                "bind message supplies {count} parameters, but the statement requires {}",
                inferred.len()
            ),
        ));
    }
    if count == 0 {
        return Ok(plan.clone());
    }
    let mut values = Vec::with_capacity(count);
    for (i, want) in inferred.iter().enumerate() {
        let declared = portal
            .statement
            .parameter_types
            .get(i)
            .and_then(|t| t.as_ref());
        let pg = parameter_type(declared, want.as_ref());
        let mut value = parameter(portal, i, &pg)?;
        // A parameter the query gives no type (`SELECT $1`) was described as text: it is
        // text, whatever the client sent.
        let want = want.clone().unwrap_or(DataType::Utf8);
        if value.data_type() != want {
            let want = &want;
            value = value.cast_to(want).map_err(|e| {
                user_error(
                    "22P02",
                    format!("parameter ${} cannot be read as {want}: {e}", i + 1),
                )
            })?;
        }
        values.push(value);
    }
    plan.clone()
        .with_param_values(ParamValues::List(
            values.into_iter().map(Into::into).collect(),
        ))
        .map_err(|e| query_error(QueryError::Sql(e)))
}

/// Parameters shown to a client at startup (`ParameterStatus`).
pub(crate) fn startup_parameters(user: Option<&str>) -> BTreeMap<String, String> {
    let defaults = settings::defaults();
    let mut params = BTreeMap::new();
    for (name, key) in [
        ("server_version", "server_version"),
        ("server_encoding", "server_encoding"),
        ("client_encoding", "client_encoding"),
        ("DateStyle", "datestyle"),
        ("IntervalStyle", "intervalstyle"),
        ("TimeZone", "timezone"),
        ("integer_datetimes", "integer_datetimes"),
        ("standard_conforming_strings", "standard_conforming_strings"),
        (
            "default_transaction_read_only",
            "default_transaction_read_only",
        ),
        ("is_superuser", "is_superuser"),
        ("search_path", "search_path"),
    ] {
        if let Some(value) = defaults.get(key) {
            params.insert(name.to_owned(), value.clone());
        }
    }
    params.insert("in_hot_standby".into(), "off".into());
    if let Some(user) = user {
        params.insert("session_authorization".into(), user.to_owned());
    }
    params
}
