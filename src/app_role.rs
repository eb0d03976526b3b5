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
//! holds it in clear.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use sha2::{Digest, Sha256};

/// The migration history table of sea-orm-migration: readable, not writable.
const MIGRATION_TABLE: &str = "seaql_migrations";
/// Postgres's own default for SCRAM-SHA-256 (`scram_iterations`).
const SCRAM_ITERATIONS: u32 = 4096;

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
    #[error("cannot make or grant the application's role {role:?}: {source}")]
    Sql { role: String, source: DbErr },
}

/// The role and password a DATABASE_APP_URL names.
#[derive(Clone)]
pub struct AppRole {
    pub name: String,
    password: String,
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
        Ok(Self { name, password })
    }

    /// Makes the role, or sets its password again, as the schema's owner.
    pub async fn ensure(&self, owner: &DatabaseConnection) -> Result<(), AppRoleError> {
        if owner.get_database_backend() != DbBackend::Postgres {
            return Err(AppRoleError::NotPostgres);
        }
        let current = owner
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_user::text AS name",
            ))
            .await
            .map_err(|source| self.sql(source))?
            .and_then(|row| row.try_get::<String>("", "name").ok());
        if current.as_deref() == Some(self.name.as_str()) {
            return Err(AppRoleError::SameAsOwner(self.name.clone()));
        }
        let role = &self.name;
        // A role made meanwhile by another migrate is not an error.
        let create = format!(
            "DO $$ BEGIN CREATE ROLE \"{role}\" LOGIN; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        );
        let password = format!(
            "ALTER ROLE \"{role}\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{}'",
            scram_verifier(&self.password).replace('\'', "''")
        );
        for statement in [create, password] {
            owner
                .execute_unprepared(&statement)
                .await
                .map_err(|source| self.sql(source))?;
        }
        Ok(())
    }

    /// Grants the role the rows of every table of this database's schema (again after
    /// every migration, so new tables are covered) and the migration history to read.
    pub async fn grant(&self, owner: &DatabaseConnection) -> Result<(), AppRoleError> {
        let role = &self.name;
        let statements = [
            format!(
                "DO $$ BEGIN EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO \"{role}\"', \
                 current_database()); END $$"
            ),
            format!("GRANT USAGE ON SCHEMA public TO \"{role}\""),
            format!(
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{role}\""
            ),
            format!("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO \"{role}\""),
            format!("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {MIGRATION_TABLE} FROM \"{role}\""),
        ];
        for statement in statements {
            owner
                .execute_unprepared(&statement)
                .await
                .map_err(|source| self.sql(source))?;
        }
        Ok(())
    }

    fn sql(&self, source: DbErr) -> AppRoleError {
        AppRoleError::Sql {
            role: self.name.clone(),
            source,
        }
    }
}

/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, RFC 7677),
/// what Postgres stores for a password. SASLprep leaves printable ASCII as it is; a
/// password with other characters would have to be normalised first, so it is given
/// to the server to hash instead.
fn scram_verifier(password: &str) -> String {
    if !password.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return password.to_owned();
    }
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
