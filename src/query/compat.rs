//! PostgreSQL semantics DataFusion's SQL lacks, applied to the parsed statement before
//! planning, so SQL written for PostgreSQL (by people, Grafana or psql) means the same
//! here. Each rule is general PostgreSQL behaviour, not a match on a client's text:
//!
//! - `user`, `current_user`, `session_user`, `current_role`, `current_catalog` and
//!   `current_schema` without parentheses are the session's values.
//! - `current_setting('name')` reads the session's run-time parameter (what `SET`
//!   changed, else the default); `SHOW name` for a PostgreSQL parameter returns it too.
//! - Functions qualified with `pg_catalog.` are the unqualified functions.
//! - `OPERATOR(pg_catalog.~)` is the operator `~` (and so for the other comparisons).
//! - Casts to catalog types (`::oid`, `::regclass`, `::pg_catalog.text`) become casts to
//!   `bigint` or `text`.
//! - `COLLATE` is dropped: text compares in byte order, PostgreSQL's "C" collation.
//! - `pg_catalog` is searched first, so `pg_class` means `pg_catalog.pg_class`.
//! - A scalar function in `FROM` is a one-row table whose column is named by the alias
//!   (`FROM string_to_array(x, ',') s`), and a one-column set-returning function with an
//!   alias names its column by the alias (`FROM generate_series(1, 3) AS i`).
//! - `ORDER BY` may hold subqueries (`ORDER BY CASE WHEN x IN (SELECT …) …`): the query
//!   computes them as hidden columns and sorts by those.
//! - `x IN (SELECT …)` may appear in the select list, not only in `WHERE`: there it tests
//!   membership in the subquery's values gathered into an array (a `NULL` among them
//!   gives `false` rather than PostgreSQL's `NULL`).

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName,
    ObjectNamePart, OrderByKind, Query, Select, SelectItem, SetExpr, Statement,
    TableAliasColumnDef, TableFactor, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::settings;

/// A client's session: who it is and its run-time parameters.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub settings: BTreeMap<String, String>,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            user: settings::USER_NAME.to_owned(),
            settings: settings::defaults().clone(),
        }
    }
}

impl Session {
    pub fn setting(&self, name: &str) -> Option<&str> {
        self.settings
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Set-returning functions DataFusion has whose single column PostgreSQL names after
/// the alias.
const ONE_COLUMN_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range"];

/// Rewrites `statement` in place; see the module documentation for the rules.
pub(crate) fn rewrite(statement: &mut Statement, session: &Session) {
    if let Some(replacement) = show_setting(statement, session) {
        *statement = replacement;
        return;
    }
    let _ = statement.visit(&mut Rewriter { session });
}

/// `SHOW name` for a PostgreSQL parameter, as `SELECT 'value' AS name`.
fn show_setting(statement: &Statement, session: &Session) -> Option<Statement> {
    let Statement::ShowVariable { variable } = statement else {
        return None;
    };
    let name = variable
        .iter()
        .map(|i| i.value.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    let value = session.setting(&name)?;
    let sql = format!(
        "SELECT {} AS {}",
        quote_literal(value),
        super::functions::quote_ident(&name)
    );
    Parser::parse_sql(&PostgreSqlDialect {}, &sql)
        .ok()?
        .into_iter()
        .next()
}

fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn literal(value: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(value.to_owned()))
}

fn single_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn plain_operator(name: &str) -> Option<BinaryOperator> {
    Some(match name {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "=" => BinaryOperator::Eq,
        "<>" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        _ => return None,
    })
}

struct Rewriter<'a> {
    session: &'a Session,
}

impl Rewriter<'_> {
    /// The value of a parameterless session function such as `current_user`.
    fn session_value(&self, name: &str) -> Option<String> {
        Some(match name {
            "user" | "current_user" | "session_user" | "current_role" => self.session.user.clone(),
            "current_catalog" => settings::DATABASE.to_owned(),
            "current_schema" => settings::SCHEMA.to_owned(),
            _ => return None,
        })
    }
}

/// Whether an expression contains a subquery.
fn has_subquery(expr: &Expr) -> bool {
    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
            ControlFlow::Break(())
        }
    }
    expr.visit(&mut Find).is_break()
}

/// `SELECT a, b FROM t ORDER BY <expression with a subquery>, 1` becomes
/// `SELECT c0 AS a, c1 AS b FROM (SELECT a AS c0, b AS c1, <expression> AS o0 FROM t) ORDER BY
/// o0, 1`: DataFusion evaluates subqueries in projections but not in sorts.
fn hoist_order_subqueries(query: &mut Query) {
    let Some(order_by) = &query.order_by else {
        return;
    };
    let OrderByKind::Expressions(items) = &order_by.kind else {
        return;
    };
    if !items.iter().any(|item| has_subquery(&item.expr)) {
        return;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return;
    };
    if select.distinct.is_some() {
        return;
    }
    let mut inner = select.as_ref().clone();
    let mut outputs = Vec::new();
    let mut names = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        let (expr, name) = match item {
            SelectItem::UnnamedExpr(expr) => (expr, expr.to_string()),
            SelectItem::ExprWithAlias { expr, alias } => (expr, alias.value.clone()),
            // A wildcard's columns are not known before planning: leave the query alone.
            _ => return,
        };
        let hidden = format!("__vigil_c{i}");
        inner.projection[i] = SelectItem::ExprWithAlias {
            expr: expr.clone(),
            alias: datafusion::sql::sqlparser::ast::Ident::new(&hidden),
        };
        outputs.push(format!(
            "{hidden} AS {}",
            datafusion::sql::sqlparser::ast::Ident::with_quote('"', &name)
        ));
        names.push(name);
    }
    let mut order = Vec::new();
    for (j, item) in items.iter().enumerate() {
        let keeps = match &item.expr {
            Expr::Value(_) => true,
            Expr::Identifier(ident) => names.contains(&ident.value),
            _ => false,
        };
        let key = if keeps {
            item.expr.to_string()
        } else {
            let hidden = format!("__vigil_o{j}");
            inner.projection.push(SelectItem::ExprWithAlias {
                expr: item.expr.clone(),
                alias: datafusion::sql::sqlparser::ast::Ident::new(&hidden),
            });
            hidden
        };
        order.push(format!("{key} {}", item.options));
    }
    let mut sql = format!(
        "SELECT {} FROM ({inner}) AS __vigil_sorted ORDER BY {}",
        outputs.join(", "),
        order.join(", ")
    );
    if let Some(limit) = &query.limit_clause {
        sql.push_str(&format!(" {limit}"));
    }
    let Ok(Some(Statement::Query(mut rewritten))) = Parser::parse_sql(&PostgreSqlDialect {}, &sql)
        .map(|statements| statements.into_iter().next())
    else {
        return;
    };
    rewritten.with = query.with.take();
    *query = *rewritten;
}

/// Rewrites `x IN (SELECT …)` in select lists, which DataFusion plans only in filters.
struct InSubqueryInProjection;

impl VisitorMut for InSubqueryInProjection {
    type Break = ();

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                let _ = expr.visit(&mut InSubqueryAsArray);
            }
        }
        ControlFlow::Continue(())
    }
}

struct InSubqueryAsArray;

impl VisitorMut for InSubqueryAsArray {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::InSubquery {
            expr: needle,
            subquery,
            negated,
        } = expr
        else {
            return ControlFlow::Continue(());
        };
        let sql = format!(
            "{}array_has((SELECT array_agg(__vigil_v) FROM ({subquery}) AS __vigil_in (__vigil_v)), {needle})",
            if *negated { "NOT " } else { "" }
        );
        if let Ok(replacement) = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_expr())
        {
            *expr = replacement;
        }
        ControlFlow::Continue(())
    }
}

impl VisitorMut for Rewriter<'_> {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        hoist_order_subqueries(query);
        let _ = query.visit(&mut InSubqueryInProjection);
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // `a OPERATOR(pg_catalog.~) b` (psql writes operators so) is `a ~ b`.
        if let Expr::BinaryOp { op, .. } = expr
            && let BinaryOperator::PGCustomBinaryOperator(path) = op
            && let Some(plain) = path.last().and_then(|name| plain_operator(name))
        {
            *op = plain;
            return ControlFlow::Continue(());
        }
        // Casts to catalog types: `x::oid` is a number, `x::regtype` and the like are
        // shown as text, and `pg_catalog.text` is `text`.
        if let Expr::Cast { data_type, .. } = expr
            && let DataType::Custom(name, modifiers) = data_type
            && modifiers.is_empty()
            && let Some(last) = name.0.last().and_then(|p| p.as_ident())
        {
            let plain = match last.value.to_ascii_lowercase().as_str() {
                "oid" | "regclass" | "regproc" | "regnamespace" => Some(DataType::BigInt(None)),
                "regtype" | "regrole" | "name" | "text" => Some(DataType::Text),
                "int2" => Some(DataType::SmallInt(None)),
                "int4" => Some(DataType::Int(None)),
                "int8" => Some(DataType::BigInt(None)),
                "bool" => Some(DataType::Boolean),
                _ => None,
            };
            if let Some(plain) = plain {
                *data_type = plain;
            }
            return ControlFlow::Continue(());
        }
        // Vigil compares text one way only (byte order), the default collation.
        if let Expr::Collate { expr: inner, .. } = expr {
            *expr = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
            return ControlFlow::Continue(());
        }
        if let Expr::Identifier(ident) = expr
            && ident.quote_style.is_none()
            && let Some(value) = self.session_value(&ident.value.to_ascii_lowercase())
        {
            *expr = literal(&value);
            return ControlFlow::Continue(());
        }
        let Expr::Function(function) = expr else {
            return ControlFlow::Continue(());
        };
        // pg_catalog.f(...) is f(...).
        if let [ObjectNamePart::Identifier(schema), _] = function.name.0.as_slice()
            && schema.value.eq_ignore_ascii_case("pg_catalog")
        {
            function.name.0.remove(0);
        }
        let Some(name) = single_name(&function.name) else {
            return ControlFlow::Continue(());
        };
        match &function.args {
            FunctionArguments::None => {
                if let Some(value) = self.session_value(&name) {
                    *expr = literal(&value);
                }
            }
            FunctionArguments::List(list) if name == "current_setting" => {
                if let [
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(v))),
                    ..,
                ] = list.args.as_slice()
                    && let Value::SingleQuotedString(setting) = &v.value
                    && let Some(value) = self.session.setting(setting)
                {
                    *expr = literal(value);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table {
            name,
            alias,
            args: Some(args),
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let Some(function) = single_name(name) else {
            return ControlFlow::Continue(());
        };
        if ONE_COLUMN_TABLE_FUNCTIONS.contains(&function.as_str()) {
            if let Some(alias) = alias
                && alias.columns.is_empty()
            {
                alias
                    .columns
                    .push(TableAliasColumnDef::from_name(alias.name.value.clone()));
            }
            return ControlFlow::Continue(());
        }
        if function == "unnest" {
            return ControlFlow::Continue(());
        }
        // Any other function in FROM is a scalar function: one row, one column.
        let column = alias
            .as_ref()
            .map(|a| a.name.to_string())
            .unwrap_or_else(|| function.clone());
        let call_args = args
            .args
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("(SELECT {name}({call_args}) AS {column}) AS {column}");
        let parsed = Parser::new(&PostgreSqlDialect {})
            .try_with_sql(&sql)
            .and_then(|mut p| p.parse_table_factor());
        if let Ok(replacement) = parsed {
            *factor = replacement;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        if let Some(name) = single_name(relation)
            && crate::postgres::catalog::TABLES.contains(&name.as_str())
        {
            relation.0.insert(
                0,
                ObjectNamePart::Identifier(datafusion::sql::sqlparser::ast::Ident::new(
                    "pg_catalog",
                )),
            );
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        let mut session = Session {
            user: "grafana".into(),
            ..Session::default()
        };
        session
            .settings
            .insert("search_path".into(), "\"$user\", public".into());
        rewrite(&mut statements[0], &session);
        statements[0].to_string()
    }

    #[test]
    fn session_functions_become_the_session_values() {
        assert_eq!(
            rewritten("SELECT user, current_user, current_schema"),
            "SELECT 'grafana', 'grafana', 'public'"
        );
        assert_eq!(
            rewritten("SELECT current_setting('search_path')"),
            "SELECT '\"$user\", public'"
        );
        assert_eq!(rewritten("SELECT pg_catalog.version()"), "SELECT version()");
    }

    #[test]
    fn catalog_tables_resolve_without_schema() {
        assert_eq!(
            rewritten("SELECT relname FROM pg_class c JOIN spans s ON true"),
            "SELECT relname FROM pg_catalog.pg_class c JOIN spans s ON true"
        );
    }

    #[test]
    fn functions_in_from_follow_postgres_naming() {
        assert_eq!(
            rewritten("SELECT s[i] FROM generate_series(1, 2) AS i, string_to_array('a,b', ',') s"),
            "SELECT s[i] FROM generate_series(1, 2) AS i (i), (SELECT string_to_array('a,b', ',') AS s) AS s"
        );
    }

    #[test]
    fn subqueries_in_order_by_become_hidden_columns() {
        assert_eq!(
            rewritten(
                "SELECT a AS x, b FROM t ORDER BY CASE WHEN a IN (SELECT 1) THEN 0 ELSE 1 END, 1 DESC LIMIT 3"
            ),
            "SELECT __vigil_c0 AS \"x\", __vigil_c1 AS \"b\" FROM (SELECT a AS __vigil_c0, b AS __vigil_c1, \
             CASE WHEN array_has((SELECT array_agg(__vigil_v) FROM (SELECT 1) AS __vigil_in (__vigil_v)), a) \
             THEN 0 ELSE 1 END AS __vigil_o0 FROM t) AS __vigil_sorted \
             ORDER BY __vigil_o0, 1 DESC LIMIT 3"
        );
        assert_eq!(
            rewritten("SELECT a FROM t ORDER BY 1"),
            "SELECT a FROM t ORDER BY 1"
        );
    }

    #[test]
    fn show_reads_postgres_parameters() {
        assert_eq!(
            rewritten("SHOW server_version"),
            "SELECT '15.0' AS server_version"
        );
        assert!(rewritten("SHOW datafusion.execution.batch_size").starts_with("SHOW"));
    }
}
