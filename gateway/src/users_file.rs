//! Reading the users file. The model and the parser of its text are in
//! [`gateway_core::users`]; this module adds the file system.

use core::fmt;
use std::path::{Path, PathBuf};

use gateway_core::users::{UserDb, UsersError};

use crate::secret_file::{InsecureFile, Policy, ReadError};

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
    /// Others can read or change it (see [`crate::secret_file`]).
    Insecure(InsecureFile),
    /// A line is malformed.
    Parse(UsersError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => {
                write!(f, "cannot read users file {}: {source}", path.display())
            }
            Self::Insecure(e) => e.fmt(f),
            Self::Parse(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads and parses `path`, refused when others can read or change it (unless `policy`
/// allows it). The second value lists warnings to log (an insecure file `policy`
/// accepted).
pub fn load(path: &Path, policy: Policy) -> Result<(UserDb, Vec<String>), LoadError> {
    let (bytes, warning) =
        crate::secret_file::read("users file", path, policy).map_err(|e| match e {
            ReadError::Io { path, source } => LoadError::Io { path, source },
            ReadError::Insecure(e) => LoadError::Insecure(e),
        })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| LoadError::Io {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    Ok((
        UserDb::parse(text).map_err(LoadError::Parse)?,
        warning.into_iter().collect(),
    ))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn load_refuses_a_file_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        std::fs::write(&path, "alice pw\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path, Policy::Refuse).unwrap_err();
        assert!(matches!(err, LoadError::Insecure(_)), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("users file") && msg.contains(&format!("chmod 600 {}", path.display())),
            "{msg}"
        );
        // The escape hatch: loaded, with the warning.
        let (db, warnings) = load(&path, Policy::Warn).unwrap();
        assert_eq!(db.len(), 1);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("users file"), "{warnings:?}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (db, warnings) = load(&path, Policy::Refuse).unwrap();
        assert_eq!(db.len(), 1);
        assert!(warnings.is_empty());
        assert!(matches!(
            load(&dir.path().join("missing"), Policy::Refuse),
            Err(LoadError::Io { .. })
        ));
        std::fs::write(&path, "alice\n").unwrap();
        assert!(matches!(
            load(&path, Policy::Refuse),
            Err(LoadError::Parse(_))
        ));
    }
}
