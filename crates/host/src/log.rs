//! Where component output and host diagnostics go.
//!
//! Each line a component writes to stdout or stderr is printed on the host's
//! stdout or stderr prefixed with `[<component-id>]`, and appended to the
//! optional log file (tests scan it). Host diagnostics, such as a component
//! that trapped, go to stderr and to the same file.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::Path,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The destination of every log line of one application.
#[derive(Debug, Clone, Default)]
pub struct Logger {
    file: Option<Arc<Mutex<File>>>,
}

/// Which of a component's output streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `stdout`.
    Stdout,
    /// `stderr`.
    Stderr,
}

impl Logger {
    /// A logger that also appends to `path`, when given.
    pub fn new(path: Option<&Path>) -> anyhow::Result<Self> {
        let file = match path {
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", path.display()))?;
                Some(Arc::new(Mutex::new(file)))
            }
            None => None,
        };
        Ok(Self { file })
    }

    /// Writes one line (without its newline) attributed to `source`.
    pub fn line(&self, source: &str, stream: Stream, line: &str) {
        let text = format!("[{source}] {line}\n");
        // Logging must never fail a request: a closed stdout or a full disk
        // loses the line and nothing else.
        match stream {
            Stream::Stdout => {
                let _ignored = std::io::stdout().lock().write_all(text.as_bytes());
            }
            Stream::Stderr => {
                let _ignored = std::io::stderr().lock().write_all(text.as_bytes());
            }
        }
        if let Some(file) = &self.file {
            if let Ok(mut file) = file.lock() {
                let _ignored = file.write_all(text.as_bytes());
            }
        }
    }

    /// A host diagnostic (printed to stderr).
    pub fn host(&self, message: &str) {
        for line in message.lines() {
            self.line("troupe-host", Stream::Stderr, line);
        }
    }

    /// The WASI output stream for one component's stdout or stderr.
    pub fn component_stream(&self, component_id: &str, stream: Stream) -> ComponentOutput {
        ComponentOutput { logger: self.clone(), component_id: component_id.into(), stream }
    }
}

/// A component's stdout or stderr, as a WASI output stream.
#[derive(Debug, Clone)]
pub struct ComponentOutput {
    logger: Logger,
    component_id: Arc<str>,
    stream: Stream,
}

impl IsTerminal for ComponentOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for ComponentOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter { output: self.clone(), pending: Vec::new() })
    }
}

/// Splits written bytes into lines; a partial last line is written when the
/// stream is dropped (at the end of the request at the latest).
struct LineWriter {
    output: ComponentOutput,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.strip_suffix('\r').unwrap_or(&line);
        self.output.logger.line(&self.output.component_id, self.output.stream, line);
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.emit(&line[..line.len() - 1]);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.emit(&pending);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn component_lines_are_prefixed_and_appended_to_the_log_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/host.log");
        let logger = Logger::new(Some(&path)).expect("logger");
        let mut writer = Box::into_pin(logger.component_stream("health", Stream::Stdout).async_stream());
        writer.write_all(b"first line\nsecond ").await.expect("write");
        writer.write_all(b"half\nunterminated").await.expect("write");
        drop(writer);
        let text = std::fs::read_to_string(&path).expect("log file");
        assert_eq!(text, "[health] first line\n[health] second half\n[health] unterminated\n");
    }
}
