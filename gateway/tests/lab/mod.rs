//! A small network lab for end-to-end tests of the `l2tpgw` binary: network namespaces
//! joined by veth pairs, processes started inside them, and `l2tpgw status` read as
//! JSON. Everything it creates (namespaces, the links in them, processes, a temporary
//! directory) is removed on drop: processes are killed by their PID, namespaces by the
//! names this lab chose. When a test fails, the logs of the processes it started are
//! printed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    unreachable_pub,
    missing_docs,
    reason = "test support"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_l2tpgw");

/// Labs in this process get distinct names.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A process this lab started.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

/// See the module documentation.
pub struct Lab {
    test: &'static str,
    prefix: String,
    namespaces: Vec<String>,
    links: u32,
    procs: Vec<Proc>,
    dir: tempfile::TempDir,
}

/// Runs `cmd` quietly; true when it ran and succeeded.
pub fn quiet(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[path = "../require/mod.rs"]
mod require;

/// Prints the skip line and returns `None`; fails instead under `L2TPGW_REQUIRE_ALL=1`.
fn skip(test: &str, reason: &str) -> Option<Lab> {
    require::skip(&format!("{test}: {reason}"));
    None
}

impl Lab {
    /// A lab for `test`, or `None` (after printing `SKIPPED <test>: <reason>`) when
    /// this machine cannot run it: not root, no `ip`, a missing tool of `needs`. Under
    /// `L2TPGW_REQUIRE_ALL=1` (CI) that is a failure instead.
    pub fn new(test: &'static str, needs: &[&str]) -> Option<Self> {
        if !nix::unistd::geteuid().is_root() {
            return skip(test, "needs root (network namespaces, TUN)");
        }
        for tool in ["ip"].iter().chain(needs) {
            let probe = match *tool {
                "ping" => Command::new("ping").arg("-V").output(),
                t => Command::new(t).arg("--version").output(),
            };
            if probe.is_err() {
                return skip(test, &format!("`{tool}` is not installed"));
            }
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Some(Self {
            test,
            prefix: format!("l2gw{}-{n}", std::process::id()),
            namespaces: Vec::new(),
            links: 0,
            procs: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// The lab's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates a namespace (loopback up) and returns its name.
    pub fn namespace(&mut self, short: &str) -> String {
        let name = format!("{}-{short}", self.prefix);
        assert!(
            quiet(Command::new("ip").args(["netns", "add", &name])),
            "cannot create namespace {name}"
        );
        self.namespaces.push(name.clone());
        self.ok(&name, &["ip", "link", "set", "lo", "up"]);
        name
    }

    /// `args` run inside `ns`.
    pub fn cmd(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    }

    /// Runs `args` in `ns` and returns its output.
    pub fn run(&self, ns: &str, args: &[&str]) -> Output {
        self.cmd(ns, args).output().unwrap()
    }

    /// Runs `args` in `ns` and asserts it succeeded.
    pub fn ok(&self, ns: &str, args: &[&str]) {
        let out = self.run(ns, args);
        assert!(
            out.status.success(),
            "{ns}: {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A veth pair between `a` and `b` with these addresses (CIDR); returns the two
    /// device names.
    pub fn link(&mut self, a: &str, a_addr: &str, b: &str, b_addr: &str) -> (String, String) {
        self.links += 1;
        let tag = format!("{}{}", std::process::id() % 100_000, self.links);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let (da, db) = (format!("va{tag}x{n}"), format!("vb{tag}x{n}"));
        assert!(quiet(Command::new("ip").args([
            "link", "add", &da, "netns", a, "type", "veth", "peer", "name", &db, "netns", b
        ])));
        for (ns, dev, addr) in [(a, &da, a_addr), (b, &db, b_addr)] {
            self.ok(ns, &["ip", "addr", "add", addr, "dev", dev]);
            self.ok(ns, &["ip", "link", "set", dev, "up"]);
        }
        (da, db)
    }

    /// Starts `args` in `ns`, stdout and stderr to a log file; returns its index.
    pub fn spawn(&mut self, name: &str, ns: &str, args: &[&str]) -> usize {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = self
            .cmd(ns, args)
            .env("RUST_LOG", "debug")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        self.procs.push(Proc {
            name: name.into(),
            child,
            log,
        });
        self.procs.len() - 1
    }

    /// The process at `index`.
    pub fn proc(&mut self, index: usize) -> &mut Proc {
        &mut self.procs[index]
    }

    /// Sends `signal` to the process at `index` (by its PID: `ip netns exec` execs).
    pub fn signal(&mut self, index: usize, signal: nix::sys::signal::Signal) {
        let pid = i32::try_from(self.procs[index].child.id()).unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).unwrap();
    }

    /// Writes `gateway.toml` (listening on `listen`, its status socket in the lab
    /// directory, plus `extra`), starts `l2tpgw serve` in `ns` with user alice (and
    /// bob), and waits for its status socket. Returns the socket path.
    pub fn serve(&mut self, ns: &str, listen: &str, extra: &str) -> PathBuf {
        let socket = self.dir.path().join("l2tpgw.sock");
        let config = self.dir.path().join("gateway.toml");
        std::fs::write(
            &config,
            format!("listen = [\"{listen}\"]\nstatus_socket = {socket:?}\n{extra}"),
        )
        .unwrap();
        let config = config.to_str().unwrap().to_owned();
        self.spawn(
            "server",
            ns,
            &[
                BIN,
                "serve",
                "--config",
                &config,
                "--psk",
                "sharedsecret",
                "--user",
                "alice:alicepw",
                "--user",
                "bob:bobpw",
            ],
        );
        self.wait_for(
            "the server's status socket",
            Duration::from_secs(10),
            |_| socket.exists(),
        );
        socket
    }

    /// Starts `l2tpgw connect` in `ns` as `user` (password `<user>pw`) with a TUN
    /// device; returns its index.
    pub fn connect(
        &mut self,
        name: &str,
        ns: &str,
        server: &str,
        user: &str,
        extra: &[&str],
    ) -> usize {
        let password = format!("{user}pw");
        let mut args = vec![
            BIN,
            "connect",
            server,
            "--psk",
            "sharedsecret",
            "--user",
            user,
            "--password",
            &password,
        ];
        args.extend_from_slice(extra);
        self.spawn(name, ns, &args)
    }

    /// Waits (bounded) until the client TUN `l2tpgwc0` in `ns` has an address; returns it.
    pub fn wait_client_up(&mut self, ns: &str) -> String {
        let mut address = String::new();
        self.wait_for(
            "the client's inner address",
            Duration::from_secs(20),
            |lab| {
                let out = lab.run(ns, &["ip", "-o", "-4", "addr", "show", "dev", "l2tpgwc0"]);
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                match text.split_whitespace().skip_while(|w| *w != "inet").nth(1) {
                    Some(a) => {
                        address = a.split('/').next().unwrap_or(a).to_owned();
                        true
                    }
                    None => false,
                }
            },
        );
        address
    }

    /// `l2tpgw status --json` of the server whose socket is `socket`, run in `ns`.
    pub fn status(&self, ns: &str, socket: &Path) -> serde_json::Value {
        let out = self.run(
            ns,
            &[
                BIN,
                "status",
                "--json",
                "--socket",
                socket.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Polls `cond` every 100 ms until it holds; panics after `limit`. Returns the time
    /// it took.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        mut cond: impl FnMut(&mut Self) -> bool,
    ) -> Duration {
        #[allow(
            clippy::disallowed_methods,
            reason = "a test that waits for real processes"
        )]
        let start = Instant::now();
        loop {
            if cond(self) {
                return start.elapsed();
            }
            self.assert_running();
            assert!(
                start.elapsed() < limit,
                "{}: {what} not within {limit:?}",
                self.test
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Panics if a process this lab started has exited (unless it was meant to).
    pub fn assert_running(&mut self) {
        for p in &mut self.procs {
            if p.name.starts_with("done-") {
                continue;
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                panic!("{} exited early: {status}", p.name);
            }
        }
    }

    /// Marks a process as expected to exit (it is no longer checked by
    /// [`Self::assert_running`]).
    pub fn expect_exit(&mut self, index: usize) {
        let p = &mut self.procs[index];
        if !p.name.starts_with("done-") {
            p.name = format!("done-{}", p.name);
        }
    }

    /// Makes namespace `ns` a NAT router: forwarding on, and nftables masquerading
    /// whatever leaves through its interface `outside`.
    pub fn masquerade(&self, ns: &str, outside: &str) {
        self.ok(ns, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        let rules = self.dir().join(format!("nat-{ns}.nft"));
        std::fs::write(
            &rules,
            format!(
                "table ip nat {{\n  chain post {{\n    type nat hook postrouting priority 100;\n    oifname \"{outside}\" masquerade\n  }}\n}}\n"
            ),
        )
        .unwrap();
        self.ok(ns, &["nft", "-f", rules.to_str().unwrap()]);
    }

    /// One iperf3 TCP run of `seconds` from namespace `client` to an iperf3 server this
    /// starts in `server` on the gateway's inner address: iperf3's JSON report. Panics
    /// with iperf3's error when the run fails.
    pub fn iperf3(&mut self, server: &str, client: &str, seconds: u32) -> serde_json::Value {
        let iperf = self.spawn(
            "iperf3-server",
            server,
            &["iperf3", "-s", "-1", "-B", "10.77.0.1"],
        );
        self.expect_exit(iperf);
        std::thread::sleep(Duration::from_millis(300));
        let seconds = seconds.to_string();
        let out = self
            .cmd(client, &["iperf3", "-c", "10.77.0.1", "-t", &seconds, "-J"])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "iperf3 through the tunnel failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Parses ping's summary: (transmitted, received).
    pub fn ping_counts(out: &Output) -> (u64, u64) {
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .unwrap_or_else(|| panic!("no ping summary in {text}"));
        let mut numbers = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u64>().unwrap());
        (numbers.next().unwrap(), numbers.next().unwrap())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            if let Ok(pid) = i32::try_from(p.child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = p.child.wait();
        }
        if std::thread::panicking() {
            for p in &self.procs {
                let log = std::fs::read_to_string(&p.log).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines.len().saturating_sub(80);
                eprintln!("----- {} ({}), last lines -----", p.name, self.test);
                for l in &lines[tail..] {
                    eprintln!("{l}");
                }
            }
        }
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
    }
}
