//! Connecting to the database (Postgres, or SQLite when embedded), saying how the
//! connection travels, and migrating it.

use std::{path::PathBuf, time::Duration};

use alerting_migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};

use crate::config::{DatabaseConfig, redacted_url as redact};

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make the database file {path} private to its owner: {source}")]
    Private {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite:// (got {0:?})")]
    UnsupportedUrl(String),
    /// The error is not the `source`: its chain repeats itself, so the message gives its
    /// innermost cause once, and what to fix.
    #[error("cannot connect to the database at {target}: {}", explain(.error))]
    Connect { target: String, error: DbErr },
    #[error("cannot migrate the database: {0}")]
    Migrate(DbErr),
    #[error(
        "the database schema is {0} migration(s) behind this binary; run `alerting migrate` first"
    )]
    SchemaBehind(usize),
}

/// The cause at the bottom of a database error (sqlx's errors repeat each layer's
/// message in the next), and what to fix where it says plainly enough to tell.
pub(crate) fn explain(err: &DbErr) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let cause = cause.to_string();
    if cause.contains("certificate") {
        format!(
            "{cause}; the server's certificate is not trusted for this host: point \
             `sslrootcert` in DATABASE_URL (or PGSSLROOTCERT) at the CA that signed it, e.g. \
             the RDS bundle, and connect by the name the certificate carries"
        )
    } else {
        cause
    }
}

/// Which database a connection goes to, for the startup log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite(String),
    /// The URL without its password, and how the connection travels.
    Postgres {
        url: String,
        transport: Transport,
    },
}

/// How a Postgres connection travels, as the server reports it (`pg_stat_ssl`): what an
/// operator checks first when a managed database refuses plain connections, and what a
/// review checks before production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Not connected yet.
    Unchecked,
    Plain,
    /// The TLS version and cipher, e.g. "TLSv1.3 (TLS_AES_256_GCM_SHA384)".
    Tls(String),
}

impl Backend {
    pub fn is_embedded(&self) -> bool {
        matches!(self, Self::Sqlite(_))
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite {path}"),
            Self::Postgres { url, transport } => match transport {
                Transport::Unchecked => write!(f, "postgres {url}"),
                Transport::Plain => write!(f, "postgres {url} without TLS"),
                Transport::Tls(how) => write!(f, "postgres {url} over {how}"),
            },
        }
    }
}

/// Resolves the configured URL (SQLite under DATA_DIR when unset), creating the data
/// directory for SQLite, for its owner only.
pub fn resolve(config: &DatabaseConfig) -> Result<(String, Backend), DbSetupError> {
    let url = match &config.database_url {
        Some(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => {
            crate::private_files::private_dir(&config.data_dir).map_err(|source| {
                DbSetupError::DataDir {
                    path: config.data_dir.clone(),
                    source,
                }
            })?;
            let path = config.data_dir.join("alerting.db");
            format!("sqlite://{}?mode=rwc", path.display())
        }
    };
    let backend = if let Some(rest) = url.strip_prefix("sqlite://") {
        Backend::Sqlite(rest.split('?').next().unwrap_or(rest).to_owned())
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Backend::Postgres {
            url: redact(&url),
            transport: Transport::Unchecked,
        }
    } else {
        return Err(DbSetupError::UnsupportedUrl(redact(&url)));
    };
    Ok((url, backend))
}

/// Connects to the configured database.
pub async fn connect(
    config: &DatabaseConfig,
) -> Result<(DatabaseConnection, Backend), DbSetupError> {
    let (url, backend) = resolve(config)?;
    if let Backend::Sqlite(path) = &backend
        && !path.is_empty()
        && !path.starts_with(':')
    {
        // Before SQLite opens it: the database holds endpoint secrets.
        let path = std::path::Path::new(path);
        crate::private_files::private_sqlite(path, url.contains("mode=rwc")).map_err(|source| {
            DbSetupError::Private {
                path: path.to_owned(),
                source,
            }
        })?;
    }
    let failed = |error| DbSetupError::Connect {
        target: backend.to_string(),
        error,
    };
    let db = connect_url(&url, config.max_connections(backend.is_embedded()))
        .await
        .map_err(failed)?;
    let backend = match &backend {
        Backend::Postgres { url, .. } => Backend::Postgres {
            url: url.clone(),
            transport: transport(&db).await.map_err(failed)?,
        },
        Backend::Sqlite(_) => backend,
    };
    Ok((db, backend))
}

/// How this connection travels, from the server's own view of it.
async fn transport(db: &DatabaseConnection) -> Result<Transport, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await?;
    let Some(row) = row else {
        return Ok(Transport::Unchecked);
    };
    if !row.try_get::<bool>("", "ssl")? {
        return Ok(Transport::Plain);
    }
    let version = row
        .try_get::<Option<String>>("", "version")?
        .unwrap_or_default();
    let cipher = row
        .try_get::<Option<String>>("", "cipher")?
        .unwrap_or_default();
    Ok(Transport::Tls(format!("{version} ({cipher})")))
}

const STATEMENT_CACHE: usize = 16;

/// Connects to a database URL. SQLite runs in WAL mode, so readers never wait for the
/// writer, with `synchronous = NORMAL` on every connection: a commit survives a crash
/// of the process (not a power cut) without an fsync per transaction.
///
/// Each connection keeps few prepared statements: most of ours are multi-row batches
/// whose text changes with the batch size, and sqlx's default cache (100 per
/// connection) filled up with one-off statements of thousands of parameters each.
pub async fn connect_url(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(|postgres| postgres.statement_cache_capacity(STATEMENT_CACHE))
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .statement_cache_capacity(STATEMENT_CACHE)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
        });
    Database::connect(options).await
}

/// Applies every pending migration; returns how many were applied.
pub async fn migrate(db: &DatabaseConnection) -> Result<usize, DbSetupError> {
    let pending = Migrator::get_pending_migrations(db)
        .await
        .map_err(DbSetupError::Migrate)?
        .len();
    Migrator::up(db, None)
        .await
        .map_err(DbSetupError::Migrate)?;
    Ok(pending)
}

/// Refuses to serve from a schema older than this binary. Read-only: sea-orm-migration's
/// plain check first creates its table when missing, which the application's role may
/// not (see `app_role`).
pub async fn require_current_schema(db: &DatabaseConnection) -> Result<(), DbSetupError> {
    let pending = Migrator::get_pending_migrations_read_only(db)
        .await
        .map_err(DbSetupError::Migrate)?
        .len();
    if pending > 0 {
        return Err(DbSetupError::SchemaBehind(pending));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: Option<&str>, data_dir: &std::path::Path) -> DatabaseConfig {
        DatabaseConfig {
            database_url: url.map(str::to_owned),
            data_dir: data_dir.to_owned(),
            database_max_connections: Some(1),
        }
    }

    #[test]
    fn no_url_means_sqlite_in_the_data_dir() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("nested");
        let (url, backend) = resolve(&config(None, &data_dir)).expect("resolves");
        assert!(data_dir.is_dir());
        assert_eq!(
            url,
            format!("sqlite://{}/alerting.db?mode=rwc", data_dir.display())
        );
        assert!(backend.is_embedded());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_embedded_database_and_its_folder_are_for_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &std::path::Path| {
            std::fs::metadata(path)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
                .permissions()
                .mode()
                & 0o777
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let (db, _) = connect(&config(None, &data_dir)).await.expect("connects");
        migrate(&db).await.expect("migrated");
        assert_eq!(mode(&data_dir), 0o700);
        // The WAL and its index exist while a connection is open.
        for name in ["alerting.db", "alerting.db-wal", "alerting.db-shm"] {
            assert_eq!(mode(&data_dir.join(name)), 0o600, "{name}");
        }
        db.close().await.expect("closed");

        // A folder and a database made before this rule are tightened at the next start.
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let database = data_dir.join("alerting.db");
        std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let (db, _) = connect(&config(None, &data_dir)).await.expect("connects");
        assert_eq!(mode(&data_dir), 0o700);
        assert_eq!(mode(&database), 0o600);
        db.close().await.ok();
    }

    #[test]
    fn postgres_passwords_never_reach_the_logs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_, backend) = resolve(&config(
            Some("postgres://app:s3cret@db:5432/alerting"),
            dir.path(),
        ))
        .expect("resolves");
        assert_eq!(
            backend,
            Backend::Postgres {
                url: "postgres://app:***@db:5432/alerting".to_owned(),
                transport: Transport::Unchecked,
            }
        );
    }

    #[test]
    fn other_databases_are_refused_clearly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = resolve(&config(Some("mysql://root:pw@x/db"), dir.path())).expect_err("refused");
        assert!(
            err.to_string().contains("DATABASE_URL must start with"),
            "{err}"
        );
        assert!(!err.to_string().contains("pw"), "{err}");
    }
}
