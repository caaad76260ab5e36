//! Services a test can take away and give back: a private Redis server, and
//! a TCP proxy in front of the machine's Postgres.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// A `redis-server` of the test's own on a free port, keeping nothing on
/// disk: the tests that share it see only each other's keys, and a test can
/// stop it and start it again on the same port, as an outage would.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one (`redis-server` from the PATH, which the set-up installs).
    pub fn start() -> Self {
        let mut server =
            Self { port: free_port(), child: None, dir: tempfile::tempdir().expect("a directory for redis") };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _already_gone = child.kill();
            let _reaped = child.wait();
        }
    }

    /// Starts the server again, on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/setup installs it)");
        self.child = Some(child);
        wait_until_listening(self.port).expect("redis-server listens");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_until_listening(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on {port} after 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// A TCP proxy on a free port of 127.0.0.1 to `target`. Stopping it closes
/// the port and every connection through it, as a server going away would;
/// starting it again reopens the same port.
pub struct TcpProxy {
    port: u16,
    target: SocketAddr,
    running: Option<Running>,
}

struct Running {
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts a proxy to `target`.
    pub fn start(target: SocketAddr) -> Self {
        let mut proxy = Self { port: free_port(), target, running: None };
        proxy.restart().expect("the proxy starts");
        proxy
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Closes the port and every connection through it.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop.store(true, Ordering::SeqCst);
            let _ = running.acceptor.join();
            for stream in running.connections.lock().expect("connections").drain(..) {
                let _already_closed = stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Opens the port again.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let listener = TcpListener::bind(("127.0.0.1", self.port)).context("binding the proxy's port")?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, connections, target) = (stop.clone(), connections.clone(), self.target);
            std::thread::spawn(move || accept(&listener, target, &stop, &connections))
        };
        self.running = Some(Running { stop, connections, acceptor });
        Ok(())
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept(listener: &TcpListener, target: SocketAddr, stop: &AtomicBool, connections: &Mutex<Vec<TcpStream>>) {
    while !stop.load(Ordering::SeqCst) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        let Ok(server) = TcpStream::connect(target) else {
            continue;
        };
        let _ = client.set_nonblocking(false);
        let (Ok(client_copy), Ok(server_copy)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        let mut open = connections.lock().expect("connections");
        if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
            open.extend([a, b]);
        }
        std::thread::spawn(move || pipe(client, server_copy));
        std::thread::spawn(move || pipe(server, client_copy));
    }
}

/// Copies `from` to `to` until either side closes, then closes both ways.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buffer) {
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
