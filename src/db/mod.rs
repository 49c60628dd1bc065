//! Database layer: schema, backend-neutral types, connection dispatch and migrations.
//!
//! Queries are written once against the shared `diesel::table!` schema and run on
//! either backend: [`Conn`] borrows a connection of one backend, and the
//! [`dispatch!`](crate::dispatch) and [`transaction!`](crate::transaction) macros
//! expand a query body once per backend.

pub mod migrations;
pub mod schema;
pub mod sql_types;
pub mod types;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool as DeadPool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use futures_util::FutureExt;

pub use types::{Decimal, Id, Json, RawJson, Timestamp};

/// The async SQLite connection: diesel's synchronous connection on a blocking thread.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Errors of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("could not obtain a database connection: {0}")]
    Pool(String),
    #[error("database migration failed: {0}")]
    Migration(String),
}

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// A borrowed connection of either backend.
pub enum Conn<'a> {
    Pg(&'a mut AsyncPgConnection),
    Sqlite(&'a mut SqliteConn),
}

/// Runs `$body` with `$c` bound to the concrete connection of `$conn`'s backend.
/// The body is compiled once per backend, so it must be valid diesel for both.
#[macro_export]
macro_rules! dispatch {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Pg(pg) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = pg;
                $body
            }
            $crate::db::Conn::Sqlite(lite) => {
                let $c: &mut $crate::db::SqliteConn = lite;
                $body
            }
        }
    };
}

/// Loads the rows of `$query`: one expression, valid diesel for both backends, that
/// owns what it binds.
///
/// On SQLite the statement runs, and its rows are decoded, in the connection's own
/// thread: the async wrapper's `load` hands rows over by copying each of their values
/// into an allocation of its own (`sqlite3_value_dup`), a sixth of the instructions of
/// a nested read. The query moves to that thread, hence owned binds.
#[macro_export]
macro_rules! load {
    ($conn:expr, $query:expr) => {
        match $conn {
            $crate::db::Conn::Pg(pg) => {
                let pg: &mut ::diesel_async::AsyncPgConnection = pg;
                ::diesel_async::RunQueryDsl::load($query, pg).await
            }
            $crate::db::Conn::Sqlite(lite) => {
                let lite: &mut $crate::db::SqliteConn = lite;
                let query = $query;
                lite.spawn_blocking(move |c| ::diesel::RunQueryDsl::load(query, c))
                    .await
            }
        }
    };
}

/// Runs `$body` in a transaction, with `$tx` a `&mut Conn` inside it; commits when the
/// body returns `Ok`, rolls back on `Err`. On SQLite the transaction starts `IMMEDIATE`
/// so it takes the write lock up front and waits (busy timeout) instead of failing
/// mid-transaction on a lock upgrade.
#[macro_export]
macro_rules! transaction {
    ($conn:expr, |$tx:ident| -> $ret:ty $body:block) => {
        match $conn {
            $crate::db::Conn::Pg(pg) => {
                let pg: &mut ::diesel_async::AsyncPgConnection = pg;
                ::diesel_async::AsyncConnection::transaction(pg, async |c| -> $ret {
                    let $tx = &mut $crate::db::Conn::Pg(c);
                    $body
                })
                .await
            }
            $crate::db::Conn::Sqlite(lite) => {
                let lite: &mut $crate::db::SqliteConn = lite;
                lite.immediate_transaction(async |c| -> $ret {
                    let $tx = &mut $crate::db::Conn::Sqlite(c);
                    $body
                })
                .await
            }
        }
    };
}

/// Like [`transaction!`], for a change made on behalf of organization `$org`. On
/// PostgreSQL the transaction runs as the `gateway_tenant` role with
/// `app.organization_id` set, so row-level security hides and protects every other
/// organization's rows even from a query that forgot its tenant filter.
#[macro_export]
macro_rules! tenant_transaction {
    ($conn:expr, $org:expr, |$tx:ident| -> $ret:ty $body:block) => {{
        let scope = $crate::db::tenant_scope_sql($org);
        $crate::transaction!($conn, |$tx| -> $ret {
            if let $crate::db::Conn::Pg(c) = $tx {
                ::diesel_async::SimpleAsyncConnection::batch_execute(&mut **c, &scope).await?;
            }
            $body
        })
    }};
}

/// Inserts `$rows` into `$table`: one multi-row INSERT on PostgreSQL; row by row on
/// SQLite, for which diesel has no multi-row INSERT (inside the caller's transaction,
/// so still atomic). Returns the number of rows inserted.
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::db::Conn::Pg(c) => diesel::insert_into($table).values($rows).execute(*c).await,
            $crate::db::Conn::Sqlite(c) => {
                let mut inserted = 0;
                for row in $rows {
                    inserted += diesel::insert_into($table).values(row).execute(*c).await?;
                }
                Ok(inserted)
            }
        }
    };
}

/// The first row of `$query` as `$model`, locked on PostgreSQL; SQLite's IMMEDIATE
/// transactions already exclude other writers. The lock is `FOR NO KEY UPDATE`: it
/// serializes writers of the row but, unlike `FOR UPDATE`, not the key-share locks that
/// inserts referencing the row take, so two transactions that each lock one row and
/// insert a reference to the other's cannot deadlock.
#[macro_export]
macro_rules! first_for_update {
    ($conn:expr, $query:expr, $model:ty) => {
        match $conn {
            $crate::db::Conn::Pg(c) => $query
                .for_no_key_update()
                .select(<$model>::as_select())
                .first(*c)
                .await
                .optional(),
            $crate::db::Conn::Sqlite(c) => $query
                .select(<$model>::as_select())
                .first(*c)
                .await
                .optional(),
        }
    };
}

/// The statements that scope a PostgreSQL transaction to one organization. The id is
/// a parsed UUID, so formatting it into the text is safe.
pub fn tenant_scope_sql(org: Id) -> String {
    format!(
        "SET LOCAL ROLE gateway_tenant; SELECT set_config('app.organization_id', '{org}', true)"
    )
}

/// Counts the SQL statements every pooled connection executes; read by tests that
/// assert statement budgets and by operators through the metrics.
#[derive(Debug, Default, Clone)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

struct CountStatements(StatementCounter);

impl Instrumentation for CountStatements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { .. } = event {
            self.0.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: usize,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
}

/// A pool's connections at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub max: usize,
    pub open: usize,
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// A connection pool of either backend.
#[derive(Clone)]
pub enum Pool {
    Pg(DeadPool<AsyncPgConnection>),
    Sqlite(DeadPool<SqliteConn>),
}

/// A connection checked out of the [`Pool`].
#[expect(
    clippy::large_enum_variant,
    reason = "one lives per request, on the stack of its future"
)]
pub enum PooledConn {
    Pg(Object<AsyncPgConnection>),
    Sqlite(Object<SqliteConn>),
}

impl PooledConn {
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Pg(obj) => Conn::Pg(obj),
            PooledConn::Sqlite(obj) => Conn::Sqlite(obj),
        }
    }
}

/// Sets up the SQLite library for this process before its first connection opens.
///
/// The bundled library is built serialized and keeps allocation statistics: every
/// call takes its connection's mutex, and every allocation one process-wide mutex,
/// contended by all reading threads (a fifth of a nested read's time went to locks).
/// A pooled connection is used by one thread at a time, which multi-thread mode asks
/// for, and nothing reads the statistics.
///
/// Its memory comes from the process's allocator (mimalloc) instead of the C
/// library's `malloc`: every value of every row read is copied into its own
/// allocation, and with glibc's allocator those allocations cost a fifth of the
/// instructions of a nested read on SQLite; glibc also kept an arena of freed memory
/// for each thread that had read.
pub fn prepare_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let allocator = libsqlite3_sys::sqlite3_mem_methods {
            xMalloc: Some(sqlite_malloc),
            xFree: Some(sqlite_free),
            xRealloc: Some(sqlite_realloc),
            xSize: Some(sqlite_size),
            xRoundup: Some(sqlite_roundup),
            xInit: Some(sqlite_allocator_init),
            xShutdown: Some(sqlite_allocator_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: `sqlite3_config` takes these options with the documented arguments
        // (none, one int, a pointer to methods it copies); it only refuses
        // (SQLITE_MISUSE, changing nothing) once the library is initialised, in which
        // case the defaults stay.
        unsafe {
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD);
            libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0);
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_MALLOC,
                &raw const allocator,
            );
        }
    });
}

fn c_size(size: std::ffi::c_int) -> usize {
    usize::try_from(size).unwrap_or(0)
}

fn c_int_size(size: usize) -> std::ffi::c_int {
    std::ffi::c_int::try_from(size).unwrap_or(std::ffi::c_int::MAX)
}

unsafe extern "C" fn sqlite_malloc(size: std::ffi::c_int) -> *mut std::ffi::c_void {
    // SAFETY: any size may be asked of mimalloc; null reports failure, as SQLite expects.
    unsafe { libmimalloc_sys::mi_malloc(c_size(size)) }
}

unsafe extern "C" fn sqlite_free(pointer: *mut std::ffi::c_void) {
    // SAFETY: SQLite frees only what `sqlite_malloc` or `sqlite_realloc` returned.
    unsafe { libmimalloc_sys::mi_free(pointer) }
}

unsafe extern "C" fn sqlite_realloc(
    pointer: *mut std::ffi::c_void,
    size: std::ffi::c_int,
) -> *mut std::ffi::c_void {
    // SAFETY: as for `sqlite_free`; on failure the old block stays valid, as SQLite expects.
    unsafe { libmimalloc_sys::mi_realloc(pointer, c_size(size)) }
}

unsafe extern "C" fn sqlite_size(pointer: *mut std::ffi::c_void) -> std::ffi::c_int {
    // SAFETY: as for `sqlite_free`.
    c_int_size(unsafe { libmimalloc_sys::mi_usable_size(pointer) })
}

unsafe extern "C" fn sqlite_roundup(size: std::ffi::c_int) -> std::ffi::c_int {
    // SAFETY: a pure function of the size.
    c_int_size(unsafe { libmimalloc_sys::mi_good_size(c_size(size)) })
}

unsafe extern "C" fn sqlite_allocator_init(_: *mut std::ffi::c_void) -> std::ffi::c_int {
    libsqlite3_sys::SQLITE_OK
}

unsafe extern "C" fn sqlite_allocator_shutdown(_: *mut std::ffi::c_void) {}

// Applied to every connection: WAL so readers do not block the writer, enforced
// foreign keys, and a busy timeout so writers queue instead of failing.
// The busy timeout comes first: asking for WAL reads the file's header, which fails at
// once ("database is locked") while another process writes, unless a timeout is set.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

/// A deadpool of `C` whose connections run `session_sql` once and count statements.
fn build_pool<C>(
    url: &str,
    options: &PoolOptions,
    counter: StatementCounter,
    session_sql: String,
) -> Result<DeadPool<C>, DbError>
where
    C: AsyncConnection + SimpleAsyncConnection + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    let mut config = ManagerConfig::<C>::default();
    // A checkout must not cost a round trip; broken connections surface as query
    // errors and are then discarded by the pool.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let counter = counter.clone();
        let session_sql = session_sql.clone();
        async move {
            let mut conn = C::establish(url).await?;
            conn.batch_execute(&session_sql)
                .await
                .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
            conn.set_instrumentation(CountStatements(counter));
            Ok(conn)
        }
        .boxed()
    });
    let timeouts = deadpool::managed::Timeouts {
        wait: Some(options.acquire_timeout),
        create: Some(options.acquire_timeout),
        recycle: Some(options.acquire_timeout),
    };
    DeadPool::builder(AsyncDieselConnectionManager::new_with_config(url, config))
        .max_size(options.max_size)
        .timeouts(timeouts)
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|e| DbError::Pool(e.to_string()))
}

impl Pool {
    /// Builds a pool for `url` (`postgres://...`, or a SQLite file path).
    pub fn new(
        url: &str,
        options: &PoolOptions,
        counter: StatementCounter,
    ) -> Result<Pool, DbError> {
        match Backend::of_url(url) {
            Backend::Postgres => {
                let session_sql = format!(
                    "SET application_name = 'gateway'; SET statement_timeout = {}",
                    options.statement_timeout.as_millis()
                );
                build_pool(url, options, counter, session_sql).map(Pool::Pg)
            }
            Backend::Sqlite => {
                prepare_sqlite();
                build_pool(url, options, counter, SQLITE_PRAGMAS.to_string()).map(Pool::Sqlite)
            }
        }
    }

    pub async fn get(&self) -> Result<PooledConn, DbError> {
        match self {
            Pool::Pg(pool) => pool.get().await.map(PooledConn::Pg),
            Pool::Sqlite(pool) => pool.get().await.map(PooledConn::Sqlite),
        }
        .map_err(|e| DbError::Pool(e.to_string()))
    }

    /// Connections open, idle, and awaited right now.
    pub fn status(&self) -> PoolStatus {
        let status = match self {
            Pool::Pg(pool) => pool.status(),
            Pool::Sqlite(pool) => pool.status(),
        };
        PoolStatus {
            max: status.max_size,
            open: status.size,
            idle: status.available,
            waiting: status.waiting,
        }
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), DbError> {
        let mut pooled = self.get().await?;
        let mut conn = pooled.conn();
        dispatch!(&mut conn, |c| c.batch_execute("SELECT 1").await)?;
        Ok(())
    }
}
