//! The functions' output: forwarded to our stderr with the function name, and a 4 KB tail per invocation.

use std::collections::VecDeque;
use std::sync::Mutex;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::broadcast;

/// Lambda's `LogResult` carries the last 4 KB of the invocation's log.
pub(crate) const TAIL_BYTES: usize = 4096;

/// One environment's log: what its processes print, plus the platform's START/END/REPORT lines.
pub(crate) struct LogSink {
    function: String,
    tail: Mutex<VecDeque<u8>>,
    /// Every line, for Logs/Telemetry API subscribers.
    lines: broadcast::Sender<String>,
}

impl LogSink {
    /// A sink for one environment of `function`.
    pub(crate) fn new(function: &str) -> LogSink {
        LogSink {
            function: function.to_owned(),
            tail: Mutex::new(VecDeque::new()),
            lines: broadcast::channel(1024).0,
        }
    }

    /// Start a new invocation's tail.
    pub(crate) fn begin(&self) {
        self.tail.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Record one line a process printed (without its newline), forwarded to our stderr.
    pub(crate) fn line(&self, line: &str) {
        eprintln!("[{}] {line}", self.function);
        self.record(line);
    }

    /// Record one of the platform's own lines (START, END, REPORT): tail and subscribers only,
    /// and a debug event, so the hot path does not write three stderr lines per invoke.
    pub(crate) fn platform(&self, line: &str) {
        tracing::debug!(function = %self.function, "{line}");
        self.record(line);
    }

    fn record(&self, line: &str) {
        {
            let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
            tail.extend(line.as_bytes());
            tail.push_back(b'\n');
            let excess = tail.len().saturating_sub(TAIL_BYTES);
            tail.drain(..excess);
        }
        let _ = self.lines.send(line.to_owned());
    }

    /// The current tail, base64 as `X-Amz-Log-Result` carries it.
    pub(crate) fn tail_base64(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = tail.as_slices();
        let mut bytes = Vec::with_capacity(tail.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Subscribe to every line from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<String> {
        self.lines.subscribe()
    }

    /// Copy a process's stdout or stderr into the sink, line by line, until it closes.
    pub(crate) fn capture(
        self: &std::sync::Arc<Self>,
        reader: impl AsyncRead + Unpin + Send + 'static,
    ) {
        let sink = self.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(reader);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&buf);
                        sink.line(text.trim_end_matches(['\n', '\r']));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_4kb() {
        let sink = LogSink::new("f");
        sink.begin();
        for _ in 0..100 {
            sink.line(&"x".repeat(99));
        }
        sink.line("last");
        let tail = base64::engine::general_purpose::STANDARD
            .decode(sink.tail_base64())
            .unwrap();
        assert_eq!(tail.len(), TAIL_BYTES);
        assert!(tail.ends_with(b"last\n"));
        sink.begin();
        assert_eq!(sink.tail_base64(), "");
    }
}
