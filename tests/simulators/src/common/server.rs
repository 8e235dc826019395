//! Binding a simulator router to a loopback port and the handle tests keep while it runs.

use axum::Router;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A simulator serving on `127.0.0.1`. Dropping the handle stops the server.
#[derive(Debug)]
pub struct RunningSim<S> {
    addr: SocketAddr,
    state: S,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl<S> RunningSim<S> {
    /// `http://127.0.0.1:<port>` with no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The in-process control handle (faults, seeds, stats).
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl<S> Drop for RunningSim<S> {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Binds `127.0.0.1:port` (0 = ephemeral) and serves `router` until shut down.
pub(crate) async fn bind<S>(port: u16, state: S, router: Router) -> anyhow::Result<RunningSim<S>> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "simulator server stopped with an error");
        }
    });
    Ok(RunningSim {
        addr,
        state,
        shutdown: Some(tx),
        task: Some(task),
    })
}
