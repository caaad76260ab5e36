//! Running an application in the background, for tests.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use troupe_host::{testing, HostConfig};
//! let app = testing::spawn(HostConfig::new("spin.toml"))?;
//! let health = format!("{}/health", app.base_url);
//! # Ok(()) }
//! ```

use std::{net::SocketAddr, thread::JoinHandle};

use anyhow::Context as _;
use tokio::sync::oneshot;

use crate::{App, HostConfig};

/// An application served on `127.0.0.1` on a background thread with its own
/// tokio runtime. Dropping it stops the server and waits for the thread.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub base_url: String,
    /// The address the server listens on.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Loads the application and serves it on an ephemeral port; returns once
/// the server accepts connections (or with the load error).
pub fn spawn(config: HostConfig) -> anyhow::Result<TestApp> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<SocketAddr>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("troupe-host".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _receiver_gone = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            runtime.block_on(async move {
                let started = async {
                    let app = App::load(config).await?;
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                    let addr = listener.local_addr()?;
                    anyhow::Ok((app, listener, addr))
                }
                .await;
                let (app, listener, addr) = match started {
                    Ok(started) => started,
                    Err(e) => {
                        let _receiver_gone = ready_tx.send(Err(e));
                        return;
                    }
                };
                // The listener already accepts (the kernel queues
                // connections), so the caller may connect right away.
                let _receiver_gone = ready_tx.send(Ok(addr));
                tokio::select! {
                    result = app.serve(listener) => {
                        if let Err(e) = result {
                            eprintln!("troupe-host: server stopped: {e:#}");
                        }
                    }
                    _ = stop_rx => {}
                }
            });
        })
        .context("starting the troupe-host thread")?;
    let addr = ready_rx.recv().context("the troupe-host thread ended before the server started")??;
    Ok(TestApp { base_url: format!("http://{addr}"), addr, stop: Some(stop_tx), thread: Some(thread) })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _already_stopped = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _panicked = thread.join();
        }
    }
}
