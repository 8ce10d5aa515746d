//! [`StoreTable`]: a DataFusion table that is the store's buffer plus its Parquet files.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;

use super::prune::TimeRange;
use crate::store::{Table, TableSource};

/// One telemetry table as DataFusion sees it.
#[derive(Debug)]
pub struct StoreTable {
    table: Table,
    source: Arc<dyn TableSource>,
}

impl StoreTable {
    pub fn new(table: Table, source: Arc<dyn TableSource>) -> StoreTable {
        StoreTable { table, source }
    }
}

#[async_trait]
impl TableProvider for StoreTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters prune files and row groups; DataFusion still applies them to rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let snapshot = self.source.snapshot(self.table).map_err(|e| {
            DataFusionError::External(
                format!("cannot read table {}: {e}", self.table.name()).into(),
            )
        })?;
        let schema = self.schema();
        let range = TimeRange::from_filters(filters, self.table.time_column());

        let mut plans: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        let urls: Vec<ListingTableUrl> = snapshot
            .files
            .iter()
            .filter(|f| range.may_contain_hour(f.hour))
            .map(|f| file_url(&f.path))
            .collect::<Result<_>>()?;
        if !urls.is_empty() {
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet");
            let config = ListingTableConfig::new_with_multi_paths(urls)
                .with_listing_options(options)
                .with_schema(Arc::clone(&schema));
            let files = ListingTable::try_new(config)?;
            plans.push(files.scan(state, projection, filters, limit).await?);
        }
        if !snapshot.batches.is_empty() || plans.is_empty() {
            let memory = MemTable::try_new(Arc::clone(&schema), vec![snapshot.batches])?;
            plans.push(memory.scan(state, projection, filters, limit).await?);
        }
        UnionExec::try_new(plans)
    }
}

/// The URL of one data file, taken literally: a data directory named `runs[1]` or `a*b`
/// must not turn into a glob pattern.
fn file_url(path: &std::path::Path) -> Result<ListingTableUrl> {
    let absolute = std::path::absolute(path).map_err(|e| {
        DataFusionError::External(format!("cannot resolve {}: {e}", path.display()).into())
    })?;
    let url = url::Url::from_file_path(&absolute).map_err(|()| {
        DataFusionError::External(format!("cannot make a URL of {}", absolute.display()).into())
    })?;
    ListingTableUrl::try_new(url, None)
}
