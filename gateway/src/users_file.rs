//! Reading the users file. The model and the parser of its text are in
//! [`gateway_core::users`]; this module adds the file system.

use core::fmt;
use std::path::{Path, PathBuf};

use gateway_core::users::{UserDb, UsersError};
use zeroize::Zeroizing;

/// Why the users file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is malformed.
    Parse(UsersError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => {
                write!(f, "cannot read users file {}: {source}", path.display())
            }
            Self::Parse(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads and parses `path`. The second value lists warnings to log (the file is
/// readable by group or others).
pub fn load(path: &Path) -> Result<(UserDb, Vec<String>), LoadError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| LoadError::Io {
        path: path.to_owned(),
        source,
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
    let mut warnings = Vec::new();
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        warnings.push(format!(
            "users file {} is readable by group or others (mode {:o}); run chmod 600",
            path.display(),
            mode & 0o777
        ));
    }
    Ok((UserDb::parse(&text).map_err(LoadError::Parse)?, warnings))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn load_warns_when_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "alice pw\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (db, warnings) = load(&path).unwrap();
        assert_eq!(db.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("chmod 600"), "{warnings:?}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (_, warnings) = load(&path).unwrap();
        assert!(warnings.is_empty());
        assert!(matches!(
            load(&dir.path().join("missing")),
            Err(LoadError::Io { .. })
        ));
        std::fs::write(&path, "alice\n").unwrap();
        assert!(matches!(load(&path), Err(LoadError::Parse(_))));
    }
}
