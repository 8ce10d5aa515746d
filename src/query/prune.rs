//! Partition pruning: which hour directories a query's time filter can touch.
//!
//! Only conjuncts of the form `<time column> <op> <timestamp literal>` (and `BETWEEN`)
//! narrow the range; anything else leaves it open, which is always safe. Rows with a NULL
//! time never satisfy such a comparison, so a bounded range also skips the NULL partition.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// Inclusive bounds in nanoseconds since the epoch; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub low: Option<i64>,
    pub high: Option<i64>,
}

impl TimeRange {
    pub fn from_filters(filters: &[Expr], column: &str) -> TimeRange {
        let mut range = TimeRange::default();
        for filter in filters {
            range.narrow(filter, column);
        }
        range
    }

    fn narrow(&mut self, expr: &Expr, column: &str) {
        match expr {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::And,
                right,
            }) => {
                self.narrow(left, column);
                self.narrow(right, column);
            }
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                if let (Some(()), Some(v)) = (is_column(left, column), nanos(right)) {
                    self.apply(*op, v);
                } else if let (Some(v), Some(()), Some(op)) =
                    (nanos(left), is_column(right, column), flip(*op))
                {
                    self.apply(op, v);
                }
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) if is_column(expr, column).is_some() => {
                if let Some(v) = nanos(low) {
                    self.apply(Operator::GtEq, v);
                }
                if let Some(v) = nanos(high) {
                    self.apply(Operator::LtEq, v);
                }
            }
            _ => {}
        }
    }

    fn apply(&mut self, op: Operator, v: i64) {
        match op {
            Operator::Gt | Operator::GtEq => self.low = Some(self.low.map_or(v, |l| l.max(v))),
            Operator::Lt | Operator::LtEq => self.high = Some(self.high.map_or(v, |h| h.min(v))),
            Operator::Eq => {
                self.low = Some(self.low.map_or(v, |l| l.max(v)));
                self.high = Some(self.high.map_or(v, |h| h.min(v)));
            }
            _ => {}
        }
    }

    /// Whether rows of the partition for `hour` (hours since the epoch, `None` for the
    /// NULL partition) can satisfy the range.
    pub fn may_contain_hour(&self, hour: Option<i64>) -> bool {
        let Some(hour) = hour else {
            return self.low.is_none() && self.high.is_none();
        };
        let start = hour.saturating_mul(NANOS_PER_HOUR);
        let end = start.saturating_add(NANOS_PER_HOUR - 1);
        self.low.is_none_or(|low| end >= low) && self.high.is_none_or(|high| start <= high)
    }
}

fn is_column(expr: &Expr, column: &str) -> Option<()> {
    match expr {
        Expr::Column(c) if c.name == column => Some(()),
        _ => None,
    }
}

fn flip(op: Operator) -> Option<Operator> {
    Some(match op {
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        Operator::Eq => Operator::Eq,
        _ => return None,
    })
}

fn nanos(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = expr else {
        return None;
    };
    match value {
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampMicrosecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn ts(nanos: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(
            Some(nanos),
            Some("UTC".into()),
        ))
    }

    const HOUR: i64 = NANOS_PER_HOUR;

    #[test]
    fn comparisons_bound_the_range_from_either_side() {
        let r = TimeRange::from_filters(
            &[
                col("time").gt_eq(ts(10 * HOUR)),
                ts(12 * HOUR).gt(col("time")),
            ],
            "time",
        );
        assert_eq!(
            r,
            TimeRange {
                low: Some(10 * HOUR),
                high: Some(12 * HOUR)
            }
        );
        assert!(!r.may_contain_hour(Some(9)));
        assert!(r.may_contain_hour(Some(10)));
        assert!(r.may_contain_hour(Some(12)));
        assert!(!r.may_contain_hour(Some(13)));
        assert!(!r.may_contain_hour(None));
    }

    #[test]
    fn other_columns_and_disjunctions_leave_the_range_open() {
        let r = TimeRange::from_filters(
            &[
                col("end_time").gt(ts(HOUR)),
                col("time").gt(ts(HOUR)).or(col("time").lt(ts(0))),
            ],
            "time",
        );
        assert_eq!(r, TimeRange::default());
        assert!(r.may_contain_hour(None));
        assert!(r.may_contain_hour(Some(-5)));
    }

    #[test]
    fn between_bounds_both_ends() {
        let r = TimeRange::from_filters(&[col("time").between(ts(2 * HOUR), ts(3 * HOUR))], "time");
        assert!(!r.may_contain_hour(Some(1)));
        assert!(r.may_contain_hour(Some(3)));
        assert!(!r.may_contain_hour(Some(4)));
    }
}
