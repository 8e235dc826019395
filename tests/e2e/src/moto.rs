//! A moto server on a fixed port for serve mode (the shared `waybill::testing::Moto` picks a free port).
//! Same watchdog as the shared helper: moto dies when this process does, however it ends.

use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A moto server this process owns.
#[derive(Debug)]
pub struct OwnedMoto {
    endpoint: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl OwnedMoto {
    /// Starts `moto_server` on `127.0.0.1:port` and waits until it answers.
    ///
    /// # Errors
    /// Missing binary (see `waybill::testing::moto_bin`), port in use, or no answer within a minute.
    pub async fn start(port: u16) -> anyhow::Result<Self> {
        let bin = waybill::testing::moto_bin()?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read -r _line; kill "$pid" 2>/dev/null; wait "$pid""#)
            .arg(&bin)
            .arg(port.to_string())
            // moto serves each connection on its own thread, and glibc gives every thread its own
            // malloc arena: with a hundred pooled SDK connections a long run grew moto to gigabytes.
            .env("MALLOC_ARENA_MAX", "2")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("failed to spawn {}", bin.display()))?;
        let stdin = child.stdin.take();
        let mut moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
            stdin,
        };
        let started = Instant::now();
        let http = waybill_simulators::http_client();
        loop {
            if http.get(format!("{}/moto-api/", moto.endpoint)).send().await.is_ok() {
                return Ok(moto);
            }
            if let Some(status) = moto.child.try_wait().context("polling moto")? {
                bail!("moto exited with {status} before answering on port {port} (port in use?)");
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("moto did not answer on port {port} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl Drop for OwnedMoto {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}
