//! A fresh, empty database per test: a SQLite file in a temporary directory, or a new
//! Postgres database on the server TEST_DATABASE_URL names, dropped afterwards.

use sea_orm::ConnectionTrait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The Postgres server the tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A test's database, deleted when dropped.
pub enum TestDatabase {
    /// The directory of the SQLite file, held only to be deleted with it.
    Sqlite(tempfile::TempDir),
    Postgres {
        name: String,
    },
}

impl TestDatabase {
    /// A fresh, empty database and its URL.
    pub async fn create(backend: Backend) -> (Self, String) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db?mode=rwc", dir.path().display());
                (Self::Sqlite(dir), url)
            }
            Backend::Postgres => {
                let name = format!("alerting_test_{}", uuid::Uuid::new_v4().simple());
                let admin_url = postgres_admin_url();
                let admin = alerting::db::connect_url(&admin_url, 1)
                    .await
                    .unwrap_or_else(|err| {
                        panic!("tests need Postgres at {admin_url} (set TEST_DATABASE_URL): {err}")
                    });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                (Self::Postgres { name }, url.to_string())
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Self::Postgres { name } = self else {
            return;
        };
        let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        // Drop cannot await; a separate thread with its own runtime can.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = alerting::db::connect_url(&postgres_admin_url(), 1).await?;
                admin.execute_unprepared(&statement).await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {name}: {dropped:?}");
        }
    }
}
