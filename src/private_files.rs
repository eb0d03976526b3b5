//! Files that hold secrets are for their owner only: the data directory is 0700, and
//! the SQLite database (endpoint secrets, API key hashes) and the admin-token file are
//! 0600. Each is created with its mode rather than under a umask, and one found with a
//! looser mode is tightened. Elsewhere than on Unix these do nothing.

use std::{io, path::Path};

/// Creates `dir` (and missing parents) readable by its owner only, or tightens it. A
/// directory with the sticky bit (`/tmp`) is shared by design and left as it is, and
/// one this user may not change (a mounted volume) is only warned about: the files
/// inside are private either way.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let mode = std::fs::metadata(dir)?.permissions().mode();
        const STICKY: u32 = 0o1000;
        if mode & 0o077 != 0 && mode & STICKY == 0 {
            match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                Ok(()) => tracing::info!("{} was open to others; it is now 0700", dir.display()),
                Err(err) => tracing::warn!(
                    "{} is open to others and cannot be made 0700 ({err}); its files are 0600",
                    dir.display()
                ),
            }
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Makes `path` readable and writable by its owner only, if it exists.
pub fn tighten_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(path) {
            Ok(meta) => meta.permissions().mode(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Readies a SQLite database file before SQLite opens it: created empty with mode 0600
/// if missing and `create` (an empty file is an empty database), tightened if there,
/// and its `-wal` and `-shm` files tightened too. SQLite makes those with the database
/// file's mode, so once the database is 0600 they are made 0600 as well.
pub fn private_sqlite(path: &Path, create: bool) -> io::Result<()> {
    if create {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path)?;
    }
    tighten_file(path)?;
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        tighten_file(Path::new(&companion))?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn a_new_directory_is_0700_and_an_open_one_is_tightened() {
        let root = tempfile::tempdir().expect("dir");
        let fresh = root.path().join("a/data");
        private_dir(&fresh).expect("made");
        assert_eq!(mode(&fresh), 0o700);
        let open = root.path().join("open");
        std::fs::create_dir(&open).expect("made");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        private_dir(&open).expect("tightened");
        assert_eq!(mode(&open), 0o700);
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).expect("made");
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
        private_dir(&shared).expect("left");
        assert_eq!(
            mode(&shared),
            0o1777,
            "a sticky directory is shared by design"
        );
    }

    #[test]
    fn a_database_and_its_companions_are_0600() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("alerting.db");
        private_sqlite(&db, false).expect("nothing to do");
        assert!(!db.exists(), "made only when asked");
        private_sqlite(&db, true).expect("made");
        assert_eq!(mode(&db), 0o600);
        assert_eq!(std::fs::metadata(&db).expect("db").len(), 0);
        for name in ["alerting.db", "alerting.db-wal", "alerting.db-shm"] {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").expect("written");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        private_sqlite(&db, true).expect("tightened");
        for name in ["alerting.db", "alerting.db-wal", "alerting.db-shm"] {
            assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
        }
        assert_eq!(
            std::fs::read(&db).expect("db"),
            b"x",
            "an existing database is kept"
        );
    }
}
