//! The host ↔ guest control channel: a directory the guest mounts over 9p at `/ctl`
//! (no guest networking involved). Layout:
//!
//! * `run.sh`: what the guest's `/init` runs (the scenario, assembled by the host).
//! * `etc/`: the client's rendered config files; `env`: the scenario's shell variables.
//! * `in/<name>`: markers the host creates for the guest ("proceed", "disconnect").
//! * `out/`: what the guest writes: `guest.log` (the script's output), `charon.log`,
//!   `xl2tpd.log`, `pppd.log`, `state-*.txt` snapshots, `result.env` (`KEY=VALUE` lines),
//!   `markers/<name>` (steps reached, for the host to wait on), `exit_status`,
//!   `boot_seconds`.
//!
//! Runs live under `<cache>/runs/<name>/`, replaced by the next run of the same name, so
//! the logs of the last failure stay there to read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Result, guest::cache_dir, read_for_report, wait_for};

/// One guest's control directory.
#[derive(Debug)]
pub struct Share {
    dir: PathBuf,
}

impl Share {
    /// Creates (or empties) the control directory for the run called `name`.
    pub fn create(name: &str) -> Result<Self> {
        let dir = cache_dir().join("runs").join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        for sub in ["etc", "in", "out/markers"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Self { dir })
    }

    /// The directory (what qemu exports).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `content` to `rel` inside the share.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> Result<()> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, content)?;
        Ok(())
    }

    /// Creates the host → guest marker `in/<name>` (written whole, then renamed).
    pub fn signal(&self, name: &str) -> Result<()> {
        let tmp = self.dir.join("in").join(format!(".{name}.tmp"));
        std::fs::write(&tmp, b"1\n")?;
        std::fs::rename(tmp, self.dir.join("in").join(name))?;
        Ok(())
    }

    /// A path under `out/`.
    pub fn out(&self, rel: &str) -> PathBuf {
        self.dir.join("out").join(rel)
    }

    /// Whether the guest has reached step `name` (`out/markers/<name>` exists).
    pub fn has_marker(&self, name: &str) -> bool {
        self.out("markers").join(name).exists()
    }

    /// Waits until the guest reaches step `name`, it writes the `failed` marker, or
    /// `alive()` says the guest is gone. Returns whether `name` was reached.
    pub fn wait_marker(
        &self,
        name: &str,
        timeout: Duration,
        mut alive: impl FnMut() -> bool,
    ) -> bool {
        wait_for(timeout, Duration::from_millis(200), || {
            if self.has_marker(name) {
                Some(true)
            } else if self.has_marker("failed") || !alive() {
                Some(self.has_marker(name))
            } else {
                None
            }
        })
        .unwrap_or(false)
    }

    /// The guest's `result.env` as a map (`KEY=VALUE` lines; later lines win).
    pub fn results(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.out("result.env"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect()
    }

    /// Everything the guest wrote, for a failure message: the script's output, then each
    /// daemon's log and the state snapshots (long logs are cut to their last 200 lines).
    pub fn report(&self) -> String {
        let mut report = format!("---- guest files under {} ----\n", self.dir.display());
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.join("out"))
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        for path in names {
            let text = read_for_report(&path);
            let lines: Vec<&str> = text.lines().collect();
            let shown = &lines[lines.len().saturating_sub(200)..];
            report.push_str(&format!(
                "---- {} ({} lines{}) ----\n{}\n",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                lines.len(),
                if shown.len() < lines.len() {
                    ", last 200"
                } else {
                    ""
                },
                shown.join("\n")
            ));
        }
        report
    }
}
