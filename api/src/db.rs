//! The databases a request may use: the primary, and a read replica for queries
//! (`DATABASE_READ_URL`); each reached directly or through a transaction-mode connection pooler
//! (`DATABASE_POOLER=transaction`).

use std::pin::Pin;
use std::time::Duration;

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, IsolationLevel, QueryResult, Statement, TransactionError, TransactionOptions,
    TransactionTrait,
};

/// One pool, used as the service layer's connection.
///
/// Behind a transaction-mode pooler (PgBouncer's `pool_mode = transaction`) the server connection
/// may change after every transaction, and outside a transaction after every `Sync`. The driver
/// prepares each statement (`Parse`, `Describe`, `Sync`) before it binds and runs it (`Bind`,
/// `Execute`, `Sync`), under a name numbered per client connection (`sqlx_s_1`, …). Left as it
/// is, a statement is prepared on one server and bound on another, or bound to another client's
/// statement of the same name (measured: thousands of errors a minute, some of them binary data
/// read as another statement's parameters). So, in pooled mode:
/// - the driver's statement cache is off (the api's connect options), so no name is reused;
/// - every statement runs in a transaction, which keeps one server connection from `Parse` to
///   the end: a lone statement gets one of its own, and [`TransactionTrait::begin`] is used as is;
/// - every transaction starts with `DEALLOCATE ALL`, which drops the statements that earlier
///   transactions, ours or another client's, left on that server, so no name can collide; and
///   with `SET LOCAL` of the statement and lock timeouts, which a session cannot keep (in the
///   same message: no extra round trip).
///
/// Statements without parameters sent as text (`execute_unprepared`) are one message: they need
/// neither.
#[derive(Debug, Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// What starts every transaction, in pooled mode.
    prelude: Option<String>,
}

impl Db {
    /// A pool connected to the database directly.
    pub fn direct(conn: DatabaseConnection) -> Self {
        Self {
            conn,
            prelude: None,
        }
    }

    /// A pool of PostgreSQL connections through a transaction-mode pooler, each transaction
    /// bounded by `statement_timeout` and `lock_timeout`.
    pub fn behind_transaction_pooler(
        conn: DatabaseConnection,
        statement_timeout: Duration,
        lock_timeout: Duration,
    ) -> Self {
        let ms = |d: Duration| d.as_millis().max(1);
        let prelude = format!(
            "DEALLOCATE ALL; SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = {}",
            ms(statement_timeout),
            ms(lock_timeout)
        );
        Self {
            conn,
            prelude: Some(prelude),
        }
    }

    fn pooled(&self) -> bool {
        self.prelude.is_some()
    }

    /// The pool itself, for what only a pool does (ping, closing dead connections, metrics).
    pub fn pool(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// A transaction of its own for one statement, in pooled mode.
    async fn alone<T>(
        &self,
        run: impl AsyncFnOnce(&DatabaseTransaction) -> Result<T, DbErr>,
    ) -> Result<T, DbErr> {
        let txn = self.begin().await?;
        let out = run(&txn).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// In pooled mode, drops the prepared statements earlier transactions left on this server
    /// connection and sets the timeouts.
    async fn clean(&self, txn: DatabaseTransaction) -> Result<DatabaseTransaction, DbErr> {
        if let Some(prelude) = &self.prelude {
            txn.execute_unprepared(prelude).await?;
        }
        Ok(txn)
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        if !self.pooled() {
            return self.conn.execute_raw(stmt).await;
        }
        self.alone(async |txn| txn.execute_raw(stmt).await).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.conn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if !self.pooled() {
            return self.conn.query_one_raw(stmt).await;
        }
        self.alone(async |txn| txn.query_one_raw(stmt).await).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if !self.pooled() {
            return self.conn.query_all_raw(stmt).await;
        }
        self.alone(async |txn| txn.query_all_raw(stmt).await).await
    }

    fn support_returning(&self) -> bool {
        self.conn.support_returning()
    }
}

#[async_trait::async_trait]
impl TransactionTrait for Db {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.clean(self.conn.begin().await?).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        let txn = self
            .conn
            .begin_with_config(isolation_level, access_mode)
            .await?;
        self.clean(txn).await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        self.clean(self.conn.begin_with_options(options).await?)
            .await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        self.transaction_with_config(callback, None, None).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        match callback(&txn).await {
            Ok(out) => {
                txn.commit().await.map_err(TransactionError::Connection)?;
                Ok(out)
            }
            Err(e) => {
                txn.rollback().await.map_err(TransactionError::Connection)?;
                Err(TransactionError::Transaction(e))
            }
        }
    }
}

/// The primary, and the replica queries read from when there is one.
#[derive(Debug, Clone)]
pub struct Databases {
    pub primary: Db,
    pub replica: Option<Db>,
}

impl Databases {
    /// Where a read outside GraphQL (an export) runs: the replica when there is one.
    pub fn read(&self) -> &Db {
        self.for_operation(false)
    }

    /// Where an operation runs: a request that may write (a mutation, and the reads of its
    /// answer) on the primary, so it never reads a lagging copy of its own write; a query on the
    /// replica when there is one.
    pub fn for_operation(&self, may_write: bool) -> &Db {
        match (&self.replica, may_write) {
            (Some(replica), false) => replica,
            _ => &self.primary,
        }
    }
}
