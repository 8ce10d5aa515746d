//! Limits on what a query may ask of the server before it is planned.

use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{Expr, Query, Visit, Visitor};
use std::ops::ControlFlow;

use super::QueryError;

/// Deepest expression or subquery nesting accepted. Planning recurses over the tree, and
/// no analyst query comes near this.
pub(crate) const MAX_DEPTH: usize = 256;

#[derive(Default)]
struct Depth {
    current: usize,
    deepest: usize,
}

impl Depth {
    fn enter(&mut self) -> ControlFlow<()> {
        self.current += 1;
        self.deepest = self.deepest.max(self.current);
        if self.current > MAX_DEPTH {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.enter()
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.current -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.enter()
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.current -= 1;
        ControlFlow::Continue(())
    }
}

/// Refuses statements nested deeper than [`MAX_DEPTH`] (for example `1 + 1 + … + 1` with
/// thousands of terms) with a clear error instead of exhausting the stack.
pub(crate) fn check_depth(statement: &Statement) -> Result<(), QueryError> {
    let mut depth = Depth::default();
    let stopped = match statement {
        Statement::Statement(inner) => inner.visit(&mut depth).is_break(),
        Statement::Explain(explain) => return check_depth(&explain.statement),
        _ => false,
    };
    if stopped {
        return Err(QueryError::TooComplex(format!(
            "query nests expressions or subqueries more than {MAX_DEPTH} deep; simplify it (e.g. use IN (...) instead of long OR chains)"
        )));
    }
    Ok(())
}
