//! The `pg_catalog` schema: the catalog tables PostgreSQL clients read on connect and in
//! their schema browsers, filled from Vigil's own tables.
//!
//! Tables: `pg_namespace`, `pg_class`, `pg_attribute`, `pg_type`, `pg_database`,
//! `pg_extension`, `pg_settings`, `pg_am`, `pg_roles`. Each has the columns clients use
//! (not every column PostgreSQL has); OIDs are `bigint`. The catalog is built once, when
//! the session starts: Vigil's tables and their columns are fixed.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int16Array, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::execution::context::SessionContext;

use super::types::pg_type;
use crate::query::settings;
use crate::store::Table;

const PG_CATALOG_OID: i64 = 11;
const PUBLIC_OID: i64 = 2200;
const INFORMATION_SCHEMA_OID: i64 = 13_000;
const DATABASE_OID: i64 = 16_384;
const OWNER_OID: i64 = 10;
/// OIDs of Vigil's tables: this plus the table's position in [`Table::ALL`].
const FIRST_TABLE_OID: i64 = 16_400;

/// Registers `pg_catalog` in the session's default catalog.
pub(crate) fn register(ctx: &SessionContext) -> Result<()> {
    let schema = MemorySchemaProvider::new();
    for (name, batch) in tables()? {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        schema.register_table(name.to_owned(), Arc::new(table))?;
    }
    let catalog = ctx
        .catalog(settings::DATABASE)
        .ok_or_else(|| datafusion::error::DataFusionError::Plan("no vigil catalog".into()))?;
    catalog.register_schema("pg_catalog", Arc::new(schema))?;
    Ok(())
}

/// Names of the tables in `pg_catalog`, for resolving unqualified references.
pub(crate) const TABLES: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_database",
    "pg_extension",
    "pg_settings",
    "pg_am",
    "pg_roles",
];

fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    Ok(RecordBatch::try_new(
        schema,
        columns.into_iter().map(|(_, a)| a).collect(),
    )?)
}

fn ints(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

fn texts<S: AsRef<str>>(values: &[S]) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(
        values.iter().map(|s| s.as_ref()),
    ))
}

fn same<T: Clone>(value: T, n: usize) -> Vec<T> {
    vec![value; n]
}

fn tables() -> Result<Vec<(&'static str, RecordBatch)>> {
    let namespaces = batch(vec![
        (
            "oid",
            ints(vec![PG_CATALOG_OID, PUBLIC_OID, INFORMATION_SCHEMA_OID]),
        ),
        (
            "nspname",
            texts(&["pg_catalog", settings::SCHEMA, "information_schema"]),
        ),
        ("nspowner", ints(same(OWNER_OID, 3))),
    ])?;

    let n = Table::ALL.len();
    let table_oids: Vec<i64> = (0..n as i64).map(|i| FIRST_TABLE_OID + i).collect();
    let class = batch(vec![
        ("oid", ints(table_oids.clone())),
        (
            "relname",
            texts(&Table::ALL.iter().map(|t| t.name()).collect::<Vec<_>>()),
        ),
        ("relnamespace", ints(same(PUBLIC_OID, n))),
        ("relkind", texts(&same("r", n))),
        ("relowner", ints(same(OWNER_OID, n))),
        ("relam", ints(same(2, n))),
        ("reltype", ints(same(0, n))),
        ("relpersistence", texts(&same("p", n))),
        ("relhasindex", Arc::new(BooleanArray::from(same(false, n)))),
        (
            "relispartition",
            Arc::new(BooleanArray::from(same(false, n))),
        ),
        ("relchecks", Arc::new(Int16Array::from(same(0, n)))),
        ("relhasrules", Arc::new(BooleanArray::from(same(false, n)))),
        (
            "relhastriggers",
            Arc::new(BooleanArray::from(same(false, n))),
        ),
        (
            "relrowsecurity",
            Arc::new(BooleanArray::from(same(false, n))),
        ),
        (
            "relforcerowsecurity",
            Arc::new(BooleanArray::from(same(false, n))),
        ),
        ("reltablespace", ints(same(0, n))),
        ("reloftype", ints(same(0, n))),
        ("reltoastrelid", ints(same(0, n))),
        ("relreplident", texts(&same("d", n))),
        (
            "relnatts",
            Arc::new(Int16Array::from(
                Table::ALL
                    .iter()
                    .map(|t| t.schema().fields().len() as i16)
                    .collect::<Vec<_>>(),
            )),
        ),
    ])?;

    let (mut attrelid, mut attname, mut atttypid, mut attnum) = (vec![], vec![], vec![], vec![]);
    for (table, oid) in Table::ALL.iter().zip(&table_oids) {
        for (i, field) in table.schema().fields().iter().enumerate() {
            attrelid.push(*oid);
            attname.push(field.name().clone());
            atttypid.push(pg_type(field.data_type()).oid() as i64);
            attnum.push(i as i16 + 1);
        }
    }
    let a = attrelid.len();
    let attribute = batch(vec![
        ("attrelid", ints(attrelid)),
        ("attname", texts(&attname)),
        ("atttypid", ints(atttypid)),
        ("attnum", Arc::new(Int16Array::from(attnum))),
        ("atttypmod", Arc::new(Int32Array::from(same(-1, a)))),
        ("attnotnull", Arc::new(BooleanArray::from(same(false, a)))),
        ("attisdropped", Arc::new(BooleanArray::from(same(false, a)))),
        ("atthasdef", Arc::new(BooleanArray::from(same(false, a)))),
    ])?;

    let t = settings::TYPES.len();
    let types = batch(vec![
        ("oid", ints(settings::TYPES.iter().map(|t| t.0).collect())),
        (
            "typname",
            texts(&settings::TYPES.iter().map(|t| t.1).collect::<Vec<_>>()),
        ),
        ("typnamespace", ints(same(PG_CATALOG_OID, t))),
        ("typowner", ints(same(OWNER_OID, t))),
        ("typtype", texts(&same("b", t))),
        (
            "typcategory",
            texts(
                &settings::TYPES
                    .iter()
                    .map(|t| type_category(t.1))
                    .collect::<Vec<_>>(),
            ),
        ),
        ("typbasetype", ints(same(0, t))),
        ("typtypmod", Arc::new(Int32Array::from(same(-1, t)))),
        ("typnotnull", Arc::new(BooleanArray::from(same(false, t)))),
    ])?;

    let database = batch(vec![
        ("oid", ints(vec![DATABASE_OID])),
        ("datname", texts(&[settings::DATABASE])),
        ("datdba", ints(vec![OWNER_OID])),
        ("encoding", Arc::new(Int32Array::from(vec![6]))),
        ("datcollate", texts(&["C"])),
        ("datctype", texts(&["C"])),
        ("datistemplate", Arc::new(BooleanArray::from(vec![false]))),
        ("datallowconn", Arc::new(BooleanArray::from(vec![true]))),
    ])?;

    // Every PostgreSQL database has PL/pgSQL; Grafana probes here for TimescaleDB.
    let extension = batch(vec![
        ("oid", ints(vec![13_500])),
        ("extname", texts(&["plpgsql"])),
        ("extowner", ints(vec![OWNER_OID])),
        ("extnamespace", ints(vec![PG_CATALOG_OID])),
        ("extrelocatable", Arc::new(BooleanArray::from(vec![false]))),
        ("extversion", texts(&["1.0"])),
    ])?;

    let defaults = settings::defaults();
    let s = defaults.len();
    let settings_table = batch(vec![
        ("name", texts(&defaults.keys().collect::<Vec<_>>())),
        ("setting", texts(&defaults.values().collect::<Vec<_>>())),
        (
            "unit",
            Arc::new(StringArray::from(vec![None::<&str>; s])) as ArrayRef,
        ),
        ("context", texts(&same("user", s))),
        ("vartype", texts(&same("string", s))),
        ("source", texts(&same("default", s))),
    ])?;

    let am = batch(vec![
        ("oid", ints(vec![2])),
        ("amname", texts(&["heap"])),
        ("amtype", texts(&["t"])),
    ])?;

    let roles = batch(vec![
        ("oid", ints(vec![OWNER_OID])),
        ("rolname", texts(&[settings::USER_NAME])),
        ("rolsuper", Arc::new(BooleanArray::from(vec![false]))),
        ("rolcanlogin", Arc::new(BooleanArray::from(vec![true]))),
    ])?;

    Ok(vec![
        ("pg_namespace", namespaces),
        ("pg_class", class),
        ("pg_attribute", attribute),
        ("pg_type", types),
        ("pg_database", database),
        ("pg_extension", extension),
        ("pg_settings", settings_table),
        ("pg_am", am),
        ("pg_roles", roles),
    ])
}

/// PostgreSQL's `typcategory` letter for a type name.
fn type_category(typname: &str) -> &'static str {
    match typname {
        n if n.starts_with('_') => "A",
        "bool" => "B",
        "int2" | "int4" | "int8" | "float4" | "float8" | "numeric" => "N",
        "text" => "S",
        "date" | "time" | "timestamp" | "timestamptz" => "D",
        "interval" => "T",
        _ => "U",
    }
}
