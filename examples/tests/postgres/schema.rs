//! What the fault tests on PostgreSQL share (`notes_pg_faults.rs`, `notes_pg_outages.rs`): each
//! test runs its app in a schema of its own, whose name is also its connections'
//! `application_name`, so that tests may run at once on one database and look only at their
//! own backends in `pg_stat_activity`.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Executor};

use crate::postgres::URL_VAR;

/// `url` with the app's connections in `schema`, and named after it.
pub(crate) fn app_url(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options[search_path]={schema}&application_name={schema}")
}

/// A pool of the test's own (`connections` at most), in `schema`, which it makes afresh (a
/// test's constant: it is written into SQL).
pub(crate) async fn schema_pool(url: &str, schema: &'static str, connections: u32) -> PgPool {
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(AssertSqlSafe(format!("SET search_path = {schema}")))
                    .await
                    .map(drop)
            })
        })
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("{URL_VAR} is set but PostgreSQL cannot be reached: {e}"));
    // Made of the tests' constants only.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
    )))
    .execute(&pool)
    .await
    .expect("make the test's schema");
    pool
}
