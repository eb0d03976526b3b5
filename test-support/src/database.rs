//! A fresh, empty database per test: a SQLite file in a temporary directory, or a new
//! Postgres database on the server TEST_DATABASE_URL names, dropped afterwards; and on
//! Postgres the application's own role, which the services connect as in production.

use alerting::app_role::AppRole;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::OnceCell;

/// The application's role of the tests (`alerting::app_role`): made once per test
/// process, granted on each test's database by the code `alerting migrate` runs.
const APP_ROLE: &str = "alerting_test_app";
const APP_ROLE_PASSWORD: &str = "alerting-test-app-password";
static APP_ROLE_MADE: OnceCell<()> = OnceCell::const_new();

/// Makes `role` a member of `alerting_password_checked`, whose members' passwords the
/// test server checks even over loopback (scripts/dev-services puts them first in
/// pg_hba.conf; everyone else is trusted there). `admin` is a superuser's connection.
pub async fn check_password_of(admin: &DatabaseConnection, role: &str) {
    admin
        .execute_unprepared(&format!(
            "DO $$ BEGIN CREATE ROLE alerting_password_checked NOLOGIN; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
             GRANT alerting_password_checked TO \"{role}\""
        ))
        .await
        .expect("make the role's password checked");
}

/// The URL of `owner_url`'s database as the application's role, which may read and
/// write its rows and nothing more. `owner` is connected to it as the schema's owner,
/// after the migrations.
pub async fn app_role_url(owner: &DatabaseConnection, owner_url: &str) -> String {
    let mut url = url::Url::parse(owner_url).expect("a database URL");
    url.set_username(APP_ROLE).expect("a URL with a host");
    url.set_password(Some(APP_ROLE_PASSWORD))
        .expect("a URL with a host");
    let role = AppRole::from_url(url.as_str()).expect("the test role's URL");
    APP_ROLE_MADE
        .get_or_init(|| async {
            role.ensure(owner)
                .await
                .expect("make the application's role");
            check_password_of(owner, APP_ROLE).await;
        })
        .await;
    role.grant(owner)
        .await
        .expect("grant the application's role");
    url.to_string()
}

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
        /// Roles of this test, dropped after the database.
        roles: Vec<String>,
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
                (
                    Self::Postgres {
                        name,
                        roles: Vec::new(),
                    },
                    url.to_string(),
                )
            }
        }
    }

    /// A fresh Postgres database owned by a new role made as RDS makes its master user
    /// (LOGIN, CREATEROLE, CREATEDB, no superuser), and that role's URL to it. Both are
    /// dropped with the database.
    pub async fn create_owned() -> (Self, String) {
        let (mut database, _) = Self::create(Backend::Postgres).await;
        let Self::Postgres { name, roles } = &mut database else {
            unreachable!("a Postgres database")
        };
        let owner = format!("{name}_owner");
        let admin = alerting::db::connect_url(&postgres_admin_url(), 1)
            .await
            .expect("admin");
        for statement in [
            format!("CREATE ROLE \"{owner}\" LOGIN CREATEROLE CREATEDB"),
            format!("ALTER DATABASE \"{name}\" OWNER TO \"{owner}\""),
        ] {
            admin
                .execute_unprepared(&statement)
                .await
                .expect("make the owner");
        }
        admin.close().await.ok();
        roles.push(owner.clone());
        let mut url = url::Url::parse(&postgres_admin_url()).expect("TEST_DATABASE_URL is a URL");
        url.set_path(name);
        url.set_username(&owner).expect("a URL with a host");
        url.set_password(None).expect("a URL with a host");
        (database, url.to_string())
    }

    /// Drops `role` too, after the database (whose grants it holds).
    pub fn drop_role_too(&mut self, role: &str) {
        if let Self::Postgres { roles, .. } = self {
            roles.insert(0, role.to_owned());
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Self::Postgres { name, roles } = self else {
            return;
        };
        // One by one: DROP DATABASE cannot share a statement list (an implicit transaction).
        let statements: Vec<String> =
            std::iter::once(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .chain(
                    roles
                        .iter()
                        .map(|role| format!("DROP ROLE IF EXISTS \"{role}\"")),
                )
                .collect();
        // Drop cannot await; a separate thread with its own runtime can.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = alerting::db::connect_url(&postgres_admin_url(), 1).await?;
                for statement in &statements {
                    admin.execute_unprepared(statement).await?;
                }
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {name}: {dropped:?}");
        }
    }
}
