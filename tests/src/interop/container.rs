//! `l2tpgw serve` in its container image (issue 9): the image `scripts/container-test.sh`
//! builds (FROM scratch, the static binary, uid 65532 with file capabilities), run with
//! podman inside the interop gateway namespace with only `--cap-add NET_ADMIN --device
//! /dev/net/tun`, configured the container way (environment, a read-only config file, the
//! PSK from a mounted secret file), queried with `podman exec … l2tpgw status`, stopped
//! with `podman stop` (SIGTERM).
//!
//! The image and the podman to use come from the environment, set by
//! `scripts/container-test.sh` when it runs the interop scenario against the image it has
//! just built (so the static build and the image are made once per test run):
//! * `L2TPGW_CONTAINER_IMAGE`: the image reference (e.g. `localhost/l2tpgw-test:1234`);
//! * `L2TPGW_CONTAINER_PODMAN`: a podman to run, usually a wrapper script with the test's
//!   own storage options; default `podman --runtime runc --cgroup-manager cgroupfs`
//!   (crun fails on this host's cgroup layout).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::gateway::GatewayOptions;
use super::netns::{SERVER, Topology};
use super::{HarnessError, Result, Skip, have_program, now, run, wait_for};

/// The image's user (Containerfile `USER 65532:65532`); mounted secrets must be its.
const IMAGE_UID: u32 = 65532;

/// The image under test and the podman command that holds it.
#[derive(Debug, Clone)]
pub struct ContainerImage {
    /// Program and global options (`podman --root … --runtime runc …`).
    podman: Vec<String>,
    /// The image reference.
    pub image: String,
}

impl ContainerImage {
    /// The image named by `L2TPGW_CONTAINER_IMAGE`, or why this test cannot run.
    pub fn from_env() -> std::result::Result<Self, Skip> {
        let image = std::env::var("L2TPGW_CONTAINER_IMAGE")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                Skip(
                    "L2TPGW_CONTAINER_IMAGE is not set: scripts/container-test.sh builds the \
                     image and then runs this scenario against it"
                        .into(),
                )
            })?;
        let podman = match std::env::var("L2TPGW_CONTAINER_PODMAN") {
            Ok(p) if !p.trim().is_empty() => vec![p],
            _ => [
                "podman",
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        for prog in [podman[0].as_str(), "runc"] {
            if !have_program(prog) {
                return Err(Skip(format!(
                    "{prog} is not installed (scripts/container-test.sh installs podman and runc)"
                )));
            }
        }
        let image = Self { podman, image };
        image
            .podman(&["image", "exists", &image.image])
            .status()
            .ok()
            .filter(std::process::ExitStatus::success)
            .ok_or_else(|| Skip(format!("podman has no image {}", image.image)))?;
        Ok(image)
    }

    /// A podman command with the global options.
    fn podman(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.podman[0]);
        cmd.args(&self.podman[1..]).args(args);
        cmd
    }
}

/// How `podman stop` went.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// The container's exit status.
    pub exit_code: Option<i32>,
    /// How long `podman stop` took (SIGTERM to exit).
    pub took: Duration,
}

/// A running container with `l2tpgw serve`, removed (`podman rm -f`) when dropped.
#[derive(Debug)]
pub struct ContainerGateway {
    image: ContainerImage,
    name: String,
    netns: String,
    log: PathBuf,
    /// Holds the 0666 TUN node handed to the container when the host's is 0600.
    scratch: PathBuf,
}

impl ContainerGateway {
    /// Starts the image in the topology's gateway namespace (`--network ns:…`), listening
    /// on [`SERVER`], with `opts`: the PSK from a secret file mounted read-only
    /// (`L2TPGW_PSK_FILE`), users and pool from `L2TPGW_USERS`/`L2TPGW_POOL`, and
    /// `opts.config_toml` as a config file mounted read-only (`L2TPGW_CONFIG`). Logs are
    /// JSON lines on stdout (`RUST_LOG=debug` unless set), copied to `run_dir/gateway.log`
    /// by [`ContainerGateway::log`].
    pub fn start(
        image: &ContainerImage,
        topology: &Topology,
        opts: &GatewayOptions,
        run_dir: &Path,
    ) -> Result<Self> {
        std::fs::create_dir_all(run_dir)?;
        let secrets = run_dir.join("secrets");
        let _ = std::fs::remove_dir_all(&secrets);
        std::fs::create_dir_all(&secrets)?;
        let psk = secrets.join("psk");
        std::fs::write(&psk, format!("{}\n", opts.psk))?;
        let config = run_dir.join("gateway.toml");
        std::fs::write(&config, &opts.config_toml)?;
        // The image runs as 65532: the secret must be its own and private (the gateway
        // warns about secrets others can read), the config only readable.
        run(Command::new("chown")
            .arg(format!("{IMAGE_UID}:{IMAGE_UID}"))
            .arg(&secrets)
            .arg(&psk))?;
        run(Command::new("chmod").arg("600").arg(&psk))?;
        run(Command::new("chmod").arg("644").arg(&config))?;

        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("l2i-{}-{n}-gw", std::process::id());
        let scratch = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch)?;
        // The image's user opens /dev/net/tun, which udev creates with mode 0666; on a
        // host without udev it is 0600: hand the container a 0666 node of the same device
        // (as scripts/container-test.sh does) instead of changing the host's.
        let mut tun = PathBuf::from("/dev/net/tun");
        if tun_mode()? != 0o666 {
            tun = scratch.join("tun");
            run(Command::new("mknod")
                .args(["-m", "0666"])
                .arg(&tun)
                .args(["c", "10", "200"]))?;
        }
        let users = opts
            .users
            .iter()
            .map(|(u, p)| format!("{u}:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        let rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".to_owned());
        let gw = Self {
            image: image.clone(),
            name,
            netns: topology.gateway.name().to_owned(),
            log: run_dir.join("gateway.log"),
            scratch,
        };
        let mut cmd = image.podman(&["run", "-d", "--name", &gw.name]);
        cmd.arg("--network")
            .arg(format!("ns:/run/netns/{}", gw.netns))
            .args([
                "--ulimit",
                "nofile=4096:4096",
                "--ulimit",
                "nproc=4096:4096",
                "--cap-add",
                "NET_ADMIN",
                "--device",
            ])
            .arg(format!("{}:/dev/net/tun", tun.display()))
            .arg("-v")
            .arg(format!("{}:/run/secrets:ro", secrets.display()))
            .arg("-v")
            .arg(format!("{}:/etc/l2tpgw/gateway.toml:ro", config.display()))
            .args(["-e", "L2TPGW_CONFIG=/etc/l2tpgw/gateway.toml"])
            .args(["-e", "L2TPGW_PSK_FILE=/run/secrets/psk"])
            .arg("-e")
            .arg(format!("L2TPGW_USERS={users}"))
            .arg("-e")
            .arg(format!("L2TPGW_POOL={}", opts.pool))
            .arg("-e")
            .arg(format!("L2TPGW_LISTEN={SERVER}"))
            .args(["-e", "L2TPGW_LOG_FORMAT=json"])
            .arg("-e")
            .arg(format!("RUST_LOG={rust_log}"))
            .arg(&image.image)
            .stdin(Stdio::null());
        run(&mut cmd)?;
        Ok(gw)
    }

    /// The container's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `podman exec <name> l2tpgw <args>`.
    fn exec(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = self
            .image
            .podman(&["exec", &self.name, "/usr/local/bin/l2tpgw"]);
        cmd.args(args);
        run(&mut cmd)
    }

    /// Waits until `l2tpgw status` answers inside the container (the gateway is up);
    /// false when it does not within `within` or the container exited.
    pub fn wait_ready(&mut self, within: Duration) -> bool {
        wait_for(within, Duration::from_millis(200), || {
            if self.exec(&["status"]).is_ok() {
                return Some(true);
            }
            (!self.running()).then_some(false)
        }) == Some(true)
    }

    /// `l2tpgw status --json` inside the container; its stdout.
    pub fn status(&self) -> Result<String> {
        let out = self.exec(&["status", "--json"])?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `podman healthcheck run`: the image's HEALTHCHECK (`l2tpgw status`) passes.
    pub fn healthy(&self) -> bool {
        self.image
            .podman(&["healthcheck", "run", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Whether the container still runs.
    pub fn running(&self) -> bool {
        self.inspect("{{.State.Running}}").as_deref() == Some("true")
    }

    fn inspect(&self, format: &str) -> Option<String> {
        let out = self
            .image
            .podman(&["inspect", "-f", format, &self.name])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The container's stdout (the logs, with `L2TPGW_LOG_OUTPUT=stdout` from the image)
    /// and stderr, as `podman logs` gives them separately; also written to
    /// `run_dir/gateway.log`.
    pub fn logs(&self) -> (String, String) {
        let out = self.image.podman(&["logs", &self.name]).output();
        let (stdout, stderr) = match out {
            Ok(o) => (
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            ),
            Err(e) => (String::new(), format!("(podman logs failed: {e})")),
        };
        let _ = std::fs::write(&self.log, format!("{stdout}{stderr}"));
        (stdout, stderr)
    }

    /// The log for a failure report.
    pub fn log(&self) -> String {
        let (stdout, stderr) = self.logs();
        format!("{stdout}---- container stderr ----\n{stderr}")
    }

    /// `podman stop -t 10` (SIGTERM, SIGKILL after 10 s): how long it took and the exit
    /// status.
    pub fn stop(&mut self) -> Result<Stopped> {
        let t0 = now();
        let out = self
            .image
            .podman(&["stop", "-t", "10", &self.name])
            .output()
            .map_err(|e| HarnessError(format!("cannot run podman stop: {e}")))?;
        let took = now().duration_since(t0);
        if !out.status.success() {
            return Err(HarnessError(format!(
                "podman stop {} failed: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let exit_code = self
            .inspect("{{.State.ExitCode}}")
            .and_then(|c| c.parse().ok());
        Ok(Stopped { exit_code, took })
    }

    /// Whether the gateway namespace still has the TUN device `l2tpgw0`.
    pub fn has_tun(&self) -> bool {
        Command::new("ip")
            .args(["-n", &self.netns, "link", "show", "l2tpgw0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for ContainerGateway {
    fn drop(&mut self) {
        let _ = self
            .image
            .podman(&["rm", "-f", "-t", "0", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

/// The permission bits of the host's /dev/net/tun.
fn tun_mode() -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata("/dev/net/tun")?.permissions().mode() & 0o777)
}
