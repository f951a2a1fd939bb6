//! Files that hold secrets: `psk_file`, the users file, a config file with an inline
//! `psk`, and the private keys of `[certificates]` (and `connect --key`).
//!
//! Such a file is refused at start (and on a SIGHUP reload of the users file) when users
//! other than the gateway's can read or change it: any read or write permission for
//! others, or for the file's group. The error names the file and the fix (`chmod 600`).
//!
//! One exception, because Kubernetes cannot do better: a file owned by root, readable
//! (not writable) by its group, whose group is one of the non-root gateway's own groups
//! (a Secret volume with `fsGroup` gives exactly that, mode 0440, whatever `defaultMode`
//! says). Only root could have handed the file to that group, and only the gateway's
//! group can read it.
//!
//! The escape hatch, for file systems whose modes mean nothing (some network and
//! Windows-shared mounts show every file as 0644 or 0777): the environment variable
//! `L2TPGW_ALLOW_INSECURE_SECRET_FILES=1` accepts such files with one warning each. It is
//! an environment variable, not a config key, so that a config file that itself holds a
//! secret cannot waive its own check.
//!
//! The permissions checked are those of the open file (`fstat` on the descriptor that is
//! then read), so the file checked is the file read.

use core::fmt;
use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// The environment variable that turns refusals into warnings.
pub const ALLOW_INSECURE_ENV: &str = "L2TPGW_ALLOW_INSECURE_SECRET_FILES";

/// What to do with a secret file others can read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Refuse it (the default).
    #[default]
    Refuse,
    /// Accept it with a warning (`L2TPGW_ALLOW_INSECURE_SECRET_FILES=1`).
    Warn,
}

impl Policy {
    /// From `L2TPGW_ALLOW_INSECURE_SECRET_FILES`: `1` warns, unset, empty or `0` refuses;
    /// anything else is an error (a typo must not silently keep or waive the check).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        match env(ALLOW_INSECURE_ENV).as_deref().map(str::trim) {
            None | Some("" | "0") => Ok(Self::Refuse),
            Some("1") => Ok(Self::Warn),
            Some(v) => Err(format!("{ALLOW_INSECURE_ENV}: {v:?} is neither 1 nor 0")),
        }
    }
}

/// A file's mode, owner and group: what the check looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The permission bits (and file type bits, ignored).
    pub mode: u32,
    /// The owner.
    pub uid: u32,
    /// The group.
    pub gid: u32,
}

impl Access {
    /// From a file's metadata.
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }
}

/// The process that reads the file: its effective user and all its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// Effective user ID.
    pub uid: u32,
    /// Effective group ID and supplementary groups.
    pub groups: Vec<u32>,
}

impl Reader {
    /// This process.
    pub fn current() -> Self {
        let mut groups = vec![nix::unistd::getegid().as_raw()];
        if let Ok(more) = nix::unistd::getgroups() {
            groups.extend(more.into_iter().map(nix::unistd::Gid::as_raw));
        }
        Self {
            uid: nix::unistd::geteuid().as_raw(),
            groups,
        }
    }
}

/// Who besides the gateway can read or change a secret file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Other users (any read or write bit for others).
    Others,
    /// The file's group (a read or write bit for the group, outside the root-owned,
    /// own-group, read-only exception).
    Group,
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Others => "readable or writable by others",
            Self::Group => "readable or writable by its group",
        })
    }
}

/// Who else can read or change a file with `access`, for `reader`; `None` when nobody.
pub fn exposure(access: Access, reader: &Reader) -> Option<Exposure> {
    let mode = access.mode & 0o777;
    if mode & 0o006 != 0 {
        return Some(Exposure::Others);
    }
    if mode & 0o060 != 0 {
        let handed_to_our_group = access.uid == 0
            && reader.uid != 0
            && mode & 0o020 == 0
            && reader.groups.contains(&access.gid);
        if !handed_to_our_group {
            return Some(Exposure::Group);
        }
    }
    None
}

/// A secret file others can read or change, refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsecureFile {
    /// What the file is ("psk_file", "users file", ...).
    pub what: String,
    /// The file.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// Who else can read or change it.
    pub exposure: Exposure,
}

impl fmt::Display for InsecureFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} holds a secret and is {} (mode {:04o}); run `chmod 600 {}` (the file \
             owned by the user l2tpgw runs as), or set {ALLOW_INSECURE_ENV}=1 where file \
             modes mean nothing",
            self.what,
            self.path.display(),
            self.exposure,
            self.mode & 0o7777,
            self.path.display(),
        )
    }
}

impl std::error::Error for InsecureFile {}

/// Checks a secret file's `access` under `policy`: `Ok(None)` when only the gateway can
/// read it, `Ok(Some(warning))` when others can but `policy` allows it, and the refusal
/// otherwise.
pub fn check(
    what: &str,
    path: &Path,
    access: Access,
    policy: Policy,
) -> Result<Option<String>, InsecureFile> {
    let Some(exposure) = exposure(access, &Reader::current()) else {
        return Ok(None);
    };
    let insecure = InsecureFile {
        what: what.to_owned(),
        path: path.to_owned(),
        mode: access.mode,
        exposure,
    };
    match policy {
        Policy::Refuse => Err(insecure),
        Policy::Warn => Ok(Some(format!(
            "{} {} is {} (mode {:04o}), accepted because {ALLOW_INSECURE_ENV}=1",
            insecure.what,
            path.display(),
            exposure,
            access.mode & 0o7777
        ))),
    }
}

/// Why a secret file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// It could not be opened or read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Others can read or change it.
    Insecure(InsecureFile),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Insecure(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {}

/// Opens `path` and reads it whole; with the open file's [`Access`] (`fstat`).
pub fn read_with_access(path: &Path) -> std::io::Result<(Zeroizing<Vec<u8>>, Access)> {
    let mut file = std::fs::File::open(path)?;
    let access = Access::of(&file.metadata()?);
    let mut bytes = Zeroizing::new(Vec::new());
    file.read_to_end(&mut bytes)?;
    Ok((bytes, access))
}

/// Reads the secret file `path` (`what` names it in messages) after checking its
/// permissions under `policy`; the second value is the warning to log, if any.
pub fn read(
    what: &str,
    path: &Path,
    policy: Policy,
) -> Result<(Zeroizing<Vec<u8>>, Option<String>), ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let access = Access::of(&file.metadata().map_err(io)?);
    // Checked before a byte is read.
    let warning = check(what, path, access, policy).map_err(ReadError::Insecure)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok((bytes, warning))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn access(mode: u32, uid: u32, gid: u32) -> Access {
        Access { mode, uid, gid }
    }

    #[test]
    fn who_else_can_read() {
        let gateway = Reader {
            uid: 65532,
            groups: vec![65532],
        };
        let root = Reader {
            uid: 0,
            groups: vec![0],
        };
        for (a, reader, expected) in [
            // Owner only: fine, whoever owns it (the kernel decides whether we can read).
            (access(0o100_600, 65532, 65532), &gateway, None),
            (access(0o400, 0, 0), &root, None),
            (access(0o700, 0, 0), &root, None),
            // Others.
            (
                access(0o644, 65532, 65532),
                &gateway,
                Some(Exposure::Others),
            ),
            (access(0o604, 0, 0), &root, Some(Exposure::Others)),
            (access(0o602, 0, 0), &root, Some(Exposure::Others)),
            (access(0o444, 0, 65532), &gateway, Some(Exposure::Others)),
            // The group.
            (access(0o640, 65532, 65532), &gateway, Some(Exposure::Group)),
            (access(0o620, 65532, 65532), &gateway, Some(Exposure::Group)),
            (access(0o640, 0, 0), &root, Some(Exposure::Group)),
            // Kubernetes: root-owned, read-only for the gateway's own group.
            (access(0o440, 0, 65532), &gateway, None),
            (access(0o640, 0, 65532), &gateway, None),
            // ... but not writable by it, not another group, not owned by someone else,
            // and not when the gateway is root itself (it can chmod its file).
            (access(0o460, 0, 65532), &gateway, Some(Exposure::Group)),
            (access(0o440, 0, 100), &gateway, Some(Exposure::Group)),
            (access(0o440, 1000, 65532), &gateway, Some(Exposure::Group)),
            (access(0o440, 0, 0), &root, Some(Exposure::Group)),
            // Execute bits alone expose nothing.
            (access(0o711, 0, 0), &root, None),
        ] {
            assert_eq!(exposure(a, reader), expected, "{a:?} read by {reader:?}");
        }
        let supplementary = Reader {
            uid: 1000,
            groups: vec![1000, 65532],
        };
        assert_eq!(exposure(access(0o440, 0, 65532), &supplementary), None);
    }

    #[test]
    fn policy_from_the_environment() {
        let env = |v: Option<&'static str>| {
            move |k: &str| (k == ALLOW_INSECURE_ENV).then_some(v?.to_owned())
        };
        assert_eq!(Policy::from_env(&env(None)), Ok(Policy::Refuse));
        assert_eq!(Policy::from_env(&env(Some(""))), Ok(Policy::Refuse));
        assert_eq!(Policy::from_env(&env(Some("0"))), Ok(Policy::Refuse));
        assert_eq!(Policy::from_env(&env(Some("1"))), Ok(Policy::Warn));
        let e = Policy::from_env(&env(Some("yes"))).unwrap_err();
        assert!(e.contains(ALLOW_INSECURE_ENV), "{e}");
    }

    /// The file the tests run as (root in CI, another user elsewhere) owns: modes decide.
    #[test]
    fn read_refuses_before_reading_and_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("psk");
        std::fs::write(&path, "secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read("psk_file", &path, Policy::Refuse)
            .unwrap_err()
            .to_string();
        assert!(e.contains("psk_file"), "{e}");
        assert!(e.contains(&format!("chmod 600 {}", path.display())), "{e}");
        assert!(e.contains("mode 0644") && e.contains("by others"), "{e}");
        assert!(e.contains(ALLOW_INSECURE_ENV), "{e}");

        let (bytes, warning) = read("psk_file", &path, Policy::Warn).unwrap();
        assert_eq!(&bytes[..], b"secret\n");
        assert!(warning.unwrap().contains(ALLOW_INSECURE_ENV));

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (bytes, warning) = read("psk_file", &path, Policy::Refuse).unwrap();
        assert_eq!(&bytes[..], b"secret\n");
        assert_eq!(warning, None);

        let missing = read("psk_file", &dir.path().join("missing"), Policy::Refuse).unwrap_err();
        assert!(matches!(missing, ReadError::Io { .. }), "{missing}");
    }
}
