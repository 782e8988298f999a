//! Two hosts for the tests: two network namespaces joined by a veth pair, made by the
//! test and removed when its [`Hosts`] drops (also when the test fails). Where they
//! cannot be made (not root, no `ip`), both hosts are this machine's loopback, and the
//! test says so on stderr.
//!
//! Names carry the run's prefix (`IPC_TEST_PREFIX`, as every test object) and the test
//! process's pid; addresses come from 10.213.0.0/16, one /30 per pair, derived from the
//! pid, and exist only inside the two namespaces. Namespaces that a killed test process
//! left (named with a pid that is no longer alive) are removed when the next pair is
//! made.
#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// One host: the namespace to run its processes in (none on loopback), and its address.
pub struct Host {
    pub ns: Option<String>,
    pub addr: String,
}

impl Host {
    /// A command that runs `program` on this host.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// A Zenoh endpoint of this host on `port`.
    pub fn endpoint(&self, port: u16) -> String {
        format!("tcp/{}:{port}", self.addr)
    }
}

/// Two hosts joined by a link.
pub struct Hosts {
    pub a: Host,
    pub b: Host,
}

/// The namespaces' name prefix of this run: `$IPC_TEST_PREFIX` (or `ipc-t`) and `-z`.
fn base() -> String {
    let prefix = std::env::var("IPC_TEST_PREFIX").unwrap_or_else(|_| "ipc-t".to_owned());
    format!("{prefix}-z")
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Removes the namespaces of this run's prefix whose test process is dead.
fn remove_abandoned() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let base = format!("{}-", base());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(&base) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                ip(&["netns", "del", name]);
            }
        }
    }
}

impl Hosts {
    /// Makes the two namespaces and their link, or falls back to loopback.
    pub fn new() -> Hosts {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        remove_abandoned();
        let (na, nb) = (
            format!("{}-{pid}-{n}-a", base()),
            format!("{}-{pid}-{n}-b", base()),
        );
        // Interface names have at most 15 bytes.
        let (va, vb) = (format!("ipz{pid}x{n}a"), format!("ipz{pid}x{n}b"));
        let index = (pid.wrapping_mul(8).wrapping_add(n)) % 16384;
        let (x, y) = (index / 64, (index % 64) * 4);
        let (addr_a, addr_b) = (
            format!("10.213.{x}.{}", y + 1),
            format!("10.213.{x}.{}", y + 2),
        );
        let mut hosts = Hosts {
            a: Host {
                ns: None,
                addr: "127.0.0.1".into(),
            },
            b: Host {
                ns: None,
                addr: "127.0.0.1".into(),
            },
        };
        if !ip(&["netns", "add", &na]) {
            eprintln!(
                "hosts: cannot make network namespaces (root and iproute2 are needed): \
                 both hosts are this machine's loopback"
            );
            return hosts;
        }
        hosts.a.ns = Some(na.clone());
        if !ip(&["netns", "add", &nb]) {
            eprintln!("hosts: a second namespace could not be made: loopback instead");
            return Hosts::loopback(hosts);
        }
        hosts.b.ns = Some(nb.clone());
        let steps: [&[&str]; 9] = [
            &["link", "add", &va, "type", "veth", "peer", "name", &vb],
            &["link", "set", &va, "netns", &na],
            &["link", "set", &vb, "netns", &nb],
            &[
                "-n",
                &na,
                "addr",
                "add",
                &format!("{addr_a}/30"),
                "dev",
                &va,
            ],
            &[
                "-n",
                &nb,
                "addr",
                "add",
                &format!("{addr_b}/30"),
                "dev",
                &vb,
            ],
            &["-n", &na, "link", "set", &va, "up"],
            &["-n", &nb, "link", "set", &vb, "up"],
            &["-n", &na, "link", "set", "lo", "up"],
            &["-n", &nb, "link", "set", "lo", "up"],
        ];
        for step in steps {
            if !ip(step) {
                eprintln!("hosts: `ip {}` failed: loopback instead", step.join(" "));
                return Hosts::loopback(hosts);
            }
        }
        hosts.a.addr = addr_a;
        hosts.b.addr = addr_b;
        eprintln!(
            "hosts: namespaces {na} ({}) and {nb} ({}) joined by a veth pair",
            hosts.a.addr, hosts.b.addr
        );
        hosts
    }

    /// Removes what was made of `hosts` and returns loopback hosts.
    fn loopback(hosts: Hosts) -> Hosts {
        drop(hosts);
        Hosts {
            a: Host {
                ns: None,
                addr: "127.0.0.1".into(),
            },
            b: Host {
                ns: None,
                addr: "127.0.0.1".into(),
            },
        }
    }

    /// True if the hosts are two namespaces (false: loopback).
    pub fn separate(&self) -> bool {
        self.a.ns.is_some() && self.b.ns.is_some()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end inside it, and with it the pair.
        for ns in [&self.a.ns, &self.b.ns].into_iter().flatten() {
            ip(&["netns", "del", ns]);
        }
    }
}

/// A TCP port free on loopback now (namespaces have ports of their own; on loopback two
/// tests must not share one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

/// A child process that is killed if the test ends before it.
pub struct Kid(pub std::process::Child);

impl Kid {
    /// Waits at most `secs` for the child; kills it and panics past that.
    pub fn wait_for(mut self, secs: u64, what: &str) -> std::process::Output {
        let start = std::time::Instant::now();
        loop {
            if self.0.try_wait().expect("try_wait").is_some() {
                break;
            }
            if start.elapsed().as_secs() >= secs {
                let _ = self.0.kill();
                let out = take_output(&mut self.0);
                panic!(
                    "{what} did not end within {secs} s; its stderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        take_output(&mut self.0)
    }
}

fn take_output(child: &mut std::process::Child) -> std::process::Output {
    use std::io::Read;
    let status = child.wait().expect("wait");
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_end(&mut stdout);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_end(&mut stderr);
    }
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
