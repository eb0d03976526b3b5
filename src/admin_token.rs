//! The admin token: from ADMIN_TOKEN, or, for `alerting up` on a laptop, made once and
//! kept in $DATA_DIR/admin-token (0600, in a 0700 folder) so a restart keeps it.
//! The services run on their own (`serve …`) refuse to start without one: there, a
//! token nobody has seen would lock everyone out, and a default would let everyone in.

use std::{io::Write, path::PathBuf};

use alerting_handlers::http::auth::{ADMIN_TOKEN_PREFIX, MIN_ADMIN_TOKEN_LEN, new_secret};

use crate::{
    config::{AuthConfig, DatabaseConfig},
    error::StartError,
};

/// Fewer different characters than this is a pattern, not a random token: 32 random
/// hex digits use fewer than 8 of the 16 about once in 28 million.
const MIN_DISTINCT_CHARS: usize = 8;
/// The least estimated entropy taken. The estimate (how varied the token's own
/// characters are, times its length) is 89–130 bits for 32 random hex digits and
/// about 240 for `openssl rand -hex 32`; `aaaa…` scores 0 and `abab…` 1 bit a
/// character.
const MIN_ESTIMATED_BITS: f64 = 80.0;

fn checked(token: &str) -> Result<String, StartError> {
    let token = token.trim();
    let length = token.chars().count();
    if length < MIN_ADMIN_TOKEN_LEN {
        return Err(StartError::AdminToken(format!(
            "ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LEN} characters (it is {length}); e.g. `openssl rand -hex 32`"
        )));
    }
    let (distinct, bits) = estimate(token);
    if distinct < MIN_DISTINCT_CHARS || bits < MIN_ESTIMATED_BITS || repeats(token) {
        return Err(StartError::AdminToken(format!(
            "ADMIN_TOKEN is too easy to guess ({distinct} different characters, about {bits:.0} bits of entropy{}; at least {MIN_DISTINCT_CHARS} and {MIN_ESTIMATED_BITS:.0} bits needed): use a random one, e.g. `openssl rand -hex 32`",
            if repeats(token) {
                ", one string repeated"
            } else {
                ""
            }
        )));
    }
    Ok(token.to_owned())
}

/// Whether `token` is a shorter string over and over (`abcdefgh` four times): varied
/// characters, and still no more to guess than the one copy.
fn repeats(token: &str) -> bool {
    let bytes = token.as_bytes();
    (1..=bytes.len() / 2).any(|period| {
        bytes.len().is_multiple_of(period)
            && bytes.chunks(period).all(|chunk| chunk == &bytes[..period])
    })
}

/// How many different characters `token` has, and its Shannon entropy in bits: the
/// entropy of its characters' frequencies, times its length.
fn estimate(token: &str) -> (usize, f64) {
    let mut counts = std::collections::HashMap::<char, usize>::new();
    for c in token.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let length = token.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&count| {
            let p = count as f64 / length;
            -p * p.log2()
        })
        .sum();
    (counts.len(), per_char * length)
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
            crate::private_files::tighten_file(&path).map_err(unreadable)?;
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
        crate::private_files::private_dir(dir).map_err(unreadable)?;
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
            let dir = std::fs::metadata(dir.path().join("data")).expect("dir");
            assert_eq!(dir.permissions().mode() & 0o777, 0o700);
            // A kept file open to others is tightened when it is read.
            let open = std::fs::Permissions::from_mode(0o644);
            std::fs::set_permissions(path(&database), open).expect("chmod");
            for_up(&auth(None), &database).expect("kept");
            let mode = std::fs::metadata(path(&database))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let given = new_secret("given_");
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
        let token = "0123456789abcdef_fedcba9876543210".to_owned();
        assert_eq!(
            required("rule-service", &auth(Some(&token))).ok(),
            Some(token)
        );
    }

    #[test]
    fn a_long_token_that_is_easy_to_guess_is_refused_with_one_line() {
        for weak in [
            "a".repeat(32),
            "ab".repeat(32),
            "abcd".repeat(16),
            "abcdefgh".repeat(4),
        ] {
            let refused = required("rule-service", &auth(Some(&weak)));
            assert!(
                matches!(&refused, Err(StartError::AdminToken(message))
                    if message.starts_with("ADMIN_TOKEN is too easy to guess") && !message.contains('\n')),
                "{weak}: {refused:?}"
            );
        }
        for generated in 0..1_000 {
            let token = uuid::Uuid::new_v4().simple().to_string();
            assert!(
                required("rule-service", &auth(Some(&token))).is_ok(),
                "random hex token {generated} refused: {token}"
            );
        }
        let kept = for_up(
            &auth(Some(&"z".repeat(40))),
            &database(std::path::Path::new(".")),
        );
        assert!(
            matches!(kept, Err(StartError::AdminToken(_))),
            "up checks it too"
        );
    }
}
