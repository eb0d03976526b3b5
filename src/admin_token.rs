//! The admin token: from ADMIN_TOKEN, or, for `alerting up` on a laptop, made once and
//! kept in $DATA_DIR/admin-token (readable by its owner only) so a restart keeps it.
//! The services run on their own (`serve …`) refuse to start without one: there, a
//! token nobody has seen would lock everyone out, and a default would let everyone in.

use std::{io::Write, path::PathBuf};

use alerting_handlers::http::auth::{ADMIN_TOKEN_PREFIX, MIN_ADMIN_TOKEN_LEN, new_secret};

use crate::{
    config::{AuthConfig, DatabaseConfig},
    platform::StartError,
};

fn checked(token: &str) -> Result<String, StartError> {
    let token = token.trim();
    if token.chars().count() < MIN_ADMIN_TOKEN_LEN {
        return Err(StartError::AdminToken(format!(
            "ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LEN} characters (it is {}); e.g. `openssl rand -hex 32`",
            token.chars().count()
        )));
    }
    Ok(token.to_owned())
}

/// The token a service run on its own must be given.
pub fn required(service: &'static str, auth: &AuthConfig) -> Result<String, StartError> {
    match &auth.admin_token {
        Some(token) => checked(token),
        None => Err(StartError::AdminToken(format!(
            "{service} needs ADMIN_TOKEN (at least {MIN_ADMIN_TOKEN_LEN} characters; in ECS, from Secrets Manager)"
        ))),
    }
}

pub fn path(database: &DatabaseConfig) -> PathBuf {
    database.data_dir.join("admin-token")
}

/// `up`'s token: ADMIN_TOKEN, else the one kept in $DATA_DIR/admin-token, else a new
/// one, printed this once and kept there.
pub fn for_up(auth: &AuthConfig, database: &DatabaseConfig) -> Result<String, StartError> {
    if let Some(token) = &auth.admin_token {
        return checked(token);
    }
    let path = path(database);
    let unreadable = |err: std::io::Error| {
        StartError::AdminToken(format!(
            "cannot use the admin token file {}: {err}",
            path.display()
        ))
    };
    match std::fs::read_to_string(&path) {
        Ok(kept) => {
            let token = checked(&kept)?;
            #[cfg(unix)]
            if let Ok(meta) = std::fs::metadata(&path) {
                use std::os::unix::fs::PermissionsExt;
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(
                        "{} can be read by others than its owner; `chmod 600` it",
                        path.display()
                    );
                }
            }
            tracing::info!(
                "admin token: the one in {} (Authorization: Bearer $(cat {}))",
                path.display(),
                path.display()
            );
            return Ok(token);
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(unreadable(err)),
    }
    let token = new_secret(ADMIN_TOKEN_PREFIX);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(unreadable)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(unreadable)?;
    writeln!(file, "{token}").map_err(unreadable)?;
    // Printed once, where the person who ran `up` sees it; later starts name the file.
    println!(
        "\nAdmin token (shown once; kept in {}):\n\n    {token}\n\nUse it as `Authorization: Bearer <token>`, e.g.\n    export TOKEN=$(cat {})\n",
        path.display(),
        path.display()
    );
    tracing::info!("admin token made and kept in {}", path.display());
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(dir: &std::path::Path) -> DatabaseConfig {
        DatabaseConfig {
            database_url: None,
            data_dir: dir.to_owned(),
            database_max_connections: None,
        }
    }

    fn auth(token: Option<&str>) -> AuthConfig {
        AuthConfig {
            admin_token: token.map(str::to_owned),
            ingest_rate_limit: 0,
        }
    }

    #[test]
    fn up_makes_a_token_once_and_keeps_it_for_its_owner_only() {
        let dir = tempfile::tempdir().expect("dir");
        let database = database(&dir.path().join("data"));
        let first = for_up(&auth(None), &database).expect("made");
        assert!(first.starts_with(ADMIN_TOKEN_PREFIX));
        let again = for_up(&auth(None), &database).expect("kept");
        assert_eq!(first, again);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(&database))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let given = "x".repeat(40);
        assert_eq!(for_up(&auth(Some(&given)), &database).ok(), Some(given));
    }

    #[test]
    fn services_on_their_own_need_a_long_enough_token() {
        assert!(matches!(
            required("rule-service", &auth(None)),
            Err(StartError::AdminToken(message)) if message.contains("rule-service needs ADMIN_TOKEN")
        ));
        assert!(matches!(
            required("rule-service", &auth(Some("short"))),
            Err(StartError::AdminToken(message)) if message.contains("at least 32")
        ));
        let token = "t".repeat(32);
        assert_eq!(
            required("rule-service", &auth(Some(&token))).ok(),
            Some(token)
        );
    }
}
