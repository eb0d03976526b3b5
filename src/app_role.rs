//! The application's own Postgres role. `alerting migrate` runs as the user that owns
//! the schema; given DATABASE_APP_URL it also makes the role that URL names (or sets
//! its password again) and grants it what the services do and nothing more: reading
//! and writing the rows of every table, reading the migration history. It owns
//! nothing, so it cannot create, alter or drop a table, and it cannot write the
//! migration history, so a service can never mark a migration applied. The services
//! then connect with DATABASE_APP_URL, and the owner's password stays with the
//! migrate task.
//!
//! The password reaches the server only as a SCRAM-SHA-256 verifier computed here, as
//! `psql`'s `\password` does: neither the wire nor a server log that records DDL ever
//! holds it in clear. It runs as RDS's master user does, with CREATEROLE but no
//! superuser, so it sets no role attribute: it refuses a role that has any (superuser,
//! CREATEROLE, CREATEDB, replication, bypassing row security) instead of taking it
//! over. Each step is one transaction behind an advisory lock, so two migrate tasks
//! at once wait for each other and nothing is ever half granted.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use sha2::{Digest, Sha256};

/// The migration history table of sea-orm-migration: readable, not writable.
const MIGRATION_TABLE: &str = "seaql_migrations";
/// Postgres's own default for SCRAM-SHA-256 (`scram_iterations`).
const SCRAM_ITERATIONS: u32 = 4096;
/// The advisory lock two migrate tasks take in turn ("alerting" in ASCII).
const LOCK: i64 = 0x616c_6572_7469_6e67;

#[derive(Debug, thiserror::Error)]
pub enum AppRoleError {
    #[error("DATABASE_APP_URL is not a URL: {0}")]
    Url(#[from] url::ParseError),
    #[error(
        "DATABASE_APP_URL must name a Postgres user and its password (postgres://USER:PASSWORD@host/db)"
    )]
    MissingCredentials,
    #[error(
        "DATABASE_APP_URL's user {0:?} is not a plain role name: lower-case letters, digits and _, at most 63"
    )]
    RoleName(String),
    #[error(
        "DATABASE_APP_URL names {0:?}, the user DATABASE_URL connects as: the application's role must be another one"
    )]
    SameAsOwner(String),
    #[error("DATABASE_APP_URL needs DATABASE_URL to be Postgres: SQLite has no roles")]
    NotPostgres,
    #[error(
        "DATABASE_APP_URL's password has characters other than printable ASCII; use letters, digits and punctuation"
    )]
    Password,
    #[error(
        "DATABASE_APP_URL points at {app}, DATABASE_URL at {owner}: the role would be granted a database the services do not use"
    )]
    OtherDatabase { app: String, owner: String },
    #[error(
        "DATABASE_APP_URL names {0:?}, which has rights beyond reading and writing rows (superuser, CREATEROLE, CREATEDB, replication or BYPASSRLS): name a role of its own"
    )]
    Privileged(String),
    /// The error is not the `source`: its chain repeats itself (see `db::explain`).
    #[error("cannot make or grant the application's role {role:?}: {}", crate::db::explain(.error))]
    Sql { role: String, error: DbErr },
}

/// The role and password a DATABASE_APP_URL names, and where it points.
#[derive(Clone)]
pub struct AppRole {
    pub name: String,
    password: String,
    /// host:port/database, to compare with DATABASE_URL's.
    target: String,
}

impl std::fmt::Debug for AppRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRole")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl AppRole {
    /// Parses the role out of the URL the services connect with.
    pub fn from_url(app_url: &str) -> Result<Self, AppRoleError> {
        let url = url::Url::parse(app_url)?;
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part)
                .decode_utf8_lossy()
                .into_owned()
        };
        let name = decode(url.username());
        let password = url.password().map(decode).unwrap_or_default();
        if name.is_empty() || password.is_empty() {
            return Err(AppRoleError::MissingCredentials);
        }
        let plain = name.len() <= 63
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(AppRoleError::RoleName(name));
        }
        // SASLprep leaves printable ASCII as it is, so the verifier made here is the
        // one the server would make.
        if !password.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(AppRoleError::Password);
        }
        Ok(Self {
            name,
            password,
            target: target(&url),
        })
    }

    /// Refuses a DATABASE_APP_URL that points elsewhere than DATABASE_URL.
    pub fn same_database_as(&self, owner_url: &str) -> Result<(), AppRoleError> {
        let owner = target(&url::Url::parse(owner_url)?);
        if owner != self.target {
            return Err(AppRoleError::OtherDatabase {
                app: self.target.clone(),
                owner,
            });
        }
        Ok(())
    }

    /// Makes the role, or sets its password again, as the schema's owner.
    pub async fn ensure(&self, owner: &DatabaseConnection) -> Result<(), AppRoleError> {
        if owner.get_database_backend() != DbBackend::Postgres {
            return Err(AppRoleError::NotPostgres);
        }
        let role = &self.name;
        let transaction = self.locked(owner).await?;
        let current = self
            .text(
                &transaction,
                "SELECT current_user::text AS value".to_owned(),
            )
            .await?;
        if current.as_deref() == Some(role.as_str()) {
            return Err(AppRoleError::SameAsOwner(role.clone()));
        }
        let privileged = self
            .text(
                &transaction,
                format!(
                    "SELECT (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication \
                     OR rolbypassrls)::text AS value FROM pg_roles WHERE rolname = '{role}'"
                ),
            )
            .await?;
        match privileged.as_deref() {
            Some("true") => return Err(AppRoleError::Privileged(role.clone())),
            Some(_) => {}
            None => {
                self.run(&transaction, format!("CREATE ROLE \"{role}\" LOGIN"))
                    .await?
            }
        }
        // No attributes: the role was made without any, and setting NOSUPERUSER and the
        // like needs a superuser, which RDS's master user is not.
        let verifier = scram_verifier(&self.password);
        self.run(
            &transaction,
            format!("ALTER ROLE \"{role}\" WITH LOGIN PASSWORD '{verifier}'"),
        )
        .await?;
        transaction
            .commit()
            .await
            .map_err(|source| self.sql(source))
    }

    /// Grants the role the rows of every table of this database's schema (again after
    /// every migration, so new tables are covered) and the migration history to read;
    /// and takes CREATE on the schema from PUBLIC, as Postgres 15 does by default.
    pub async fn grant(&self, owner: &DatabaseConnection) -> Result<(), AppRoleError> {
        let role = &self.name;
        let statements = [
            format!(
                "DO $$ BEGIN EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO \"{role}\"', \
                 current_database()); END $$"
            ),
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC".to_owned(),
            format!("GRANT USAGE ON SCHEMA public TO \"{role}\""),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\""
            ),
            format!("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO \"{role}\""),
            format!("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {MIGRATION_TABLE} FROM \"{role}\""),
        ];
        let transaction = self.locked(owner).await?;
        for statement in statements {
            self.run(&transaction, statement).await?;
        }
        transaction
            .commit()
            .await
            .map_err(|source| self.sql(source))
    }

    /// A transaction holding the lock another migrate task would wait for.
    async fn locked(
        &self,
        owner: &DatabaseConnection,
    ) -> Result<DatabaseTransaction, AppRoleError> {
        let transaction = owner.begin().await.map_err(|source| self.sql(source))?;
        self.run(
            &transaction,
            format!("SELECT pg_advisory_xact_lock({LOCK})"),
        )
        .await?;
        Ok(transaction)
    }

    async fn run(
        &self,
        transaction: &DatabaseTransaction,
        statement: String,
    ) -> Result<(), AppRoleError> {
        transaction
            .execute_unprepared(&statement)
            .await
            .map(|_| ())
            .map_err(|source| self.sql(source))
    }

    /// The text column `value` of the first row, if any.
    async fn text(
        &self,
        transaction: &DatabaseTransaction,
        query: String,
    ) -> Result<Option<String>, AppRoleError> {
        let row = transaction
            .query_one_raw(Statement::from_string(DbBackend::Postgres, query))
            .await
            .map_err(|source| self.sql(source))?;
        row.map(|row| row.try_get::<String>("", "value"))
            .transpose()
            .map_err(|source| self.sql(source))
    }

    fn sql(&self, source: DbErr) -> AppRoleError {
        AppRoleError::Sql {
            role: self.name.clone(),
            error: source,
        }
    }
}

/// Where a URL points: host:port/database.
fn target(url: &url::Url) -> String {
    format!(
        "{}:{}{}",
        url.host_str().unwrap_or_default(),
        url.port().unwrap_or(5432),
        url.path()
    )
}

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, RFC 7677),
/// what Postgres stores for a password: base64 only, so it needs no quoting. The
/// password is printable ASCII (checked in `from_url`), which SASLprep leaves as it is.
fn scram_verifier(password: &str) -> String {
    let salt = *uuid::Uuid::new_v4().as_bytes();
    let salted = pbkdf2_sha256(password.as_bytes(), &salt, SCRAM_ITERATIONS);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac_sha256(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        BASE64.encode(salt),
        BASE64.encode(stored_key),
        BASE64.encode(server_key)
    )
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 (RFC 8018) of one block, which is all SCRAM-SHA-256 uses.
fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut block = hmac_sha256(password, &first);
    let mut result = block;
    for _ in 1..iterations {
        block = hmac_sha256(password, &block);
        for (out, byte) in result.iter_mut().zip(block) {
            *out ^= byte;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbkdf2_matches_the_published_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1), first 32 bytes.
        let key = pbkdf2_sha256(b"passwd", b"salt", 1);
        assert_eq!(
            hex::encode(key),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        // And through the iterations: ("password", "salt", 4096), as SCRAM uses them.
        let key = pbkdf2_sha256(b"password", b"salt", 4096);
        assert_eq!(
            hex::encode(key),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }

    #[test]
    fn role_names_are_plain_identifiers() {
        assert!(AppRole::from_url("postgres://alerting_app:pw@db/alerting").is_ok());
        for url in [
            "postgres://App:pw@db/alerting",
            "postgres://a%22b:pw@db/alerting",
            "postgres://1app:pw@db/alerting",
        ] {
            assert!(
                matches!(AppRole::from_url(url), Err(AppRoleError::RoleName(_))),
                "{url}"
            );
        }
        assert!(matches!(
            AppRole::from_url("postgres://alerting_app@db/alerting"),
            Err(AppRoleError::MissingCredentials)
        ));
    }

    #[test]
    fn a_password_outside_printable_ascii_is_refused() {
        assert!(matches!(
            AppRole::from_url("postgres://app:p%C3%A4ss@db/alerting"),
            Err(AppRoleError::Password)
        ));
    }

    #[test]
    fn the_application_url_must_point_where_the_owners_does() {
        let role =
            AppRole::from_url("postgres://app:pw@db:5432/alerting?sslmode=verify-full").unwrap();
        assert!(
            role.same_database_as("postgres://alerting:x@db/alerting")
                .is_ok()
        );
        for other in [
            "postgres://alerting:x@other/alerting",
            "postgres://alerting:x@db/else",
        ] {
            assert!(
                matches!(
                    role.same_database_as(other),
                    Err(AppRoleError::OtherDatabase { .. })
                ),
                "{other}"
            );
        }
    }

    #[test]
    fn a_percent_encoded_password_is_decoded() {
        let role = AppRole::from_url("postgres://app:p%40ss%2Fword@db/alerting").unwrap();
        assert_eq!(role.password, "p@ss/word");
    }

    #[test]
    fn the_verifier_has_postgres_form() {
        let verifier = scram_verifier("secret");
        let (head, keys) = verifier.split_once('$').unwrap().1.split_once('$').unwrap();
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
        assert_eq!(
            BASE64
                .decode(head.split_once(':').unwrap().1)
                .unwrap()
                .len(),
            16
        );
        let (stored, server) = keys.split_once(':').unwrap();
        assert_eq!(BASE64.decode(stored).unwrap().len(), 32);
        assert_eq!(BASE64.decode(server).unwrap().len(), 32);
        assert!(!verifier.contains("secret"));
    }
}
