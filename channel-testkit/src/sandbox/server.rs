//! The loopback HTTP server every emulator runs on: binds `127.0.0.1:0`, serves an axum `Router`, can drop
//! a connection on purpose, and shuts down on `shutdown()` or drop.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// A TCP stream whose connection can be cut from a request handler (see [`ConnectionHandle`]).
#[derive(Debug)]
pub struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl AsyncRead for KillableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "connection dropped by fault")));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "connection dropped by fault")));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A TCP listener handing out [`KillableStream`]s.
#[derive(Debug)]
pub struct KillableListener {
    inner: TcpListener,
}

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // Small JSON answers; don't let Nagle hold them back.
                    let _ = stream.set_nodelay(true);
                    return (KillableStream { inner: stream, killed: Arc::default() }, addr);
                }
                // Out of file descriptors and the like: back off briefly, as axum's own listener does.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Per-connection handle, available to handlers as `ConnectInfo<ConnectionHandle>`: [`kill`](Self::kill)
/// makes the connection close without writing the response.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    killed: Arc<AtomicBool>,
}

impl ConnectionHandle {
    /// Cuts the connection: nothing more is written or read on it.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnectionHandle {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        Self { killed: Arc::clone(&stream.io().killed) }
    }
}

/// A bound but not yet serving loopback listener; lets an emulator learn its base URL before it builds
/// its router.
#[derive(Debug)]
pub struct Binding {
    listener: TcpListener,
    base_url: String,
}

impl Binding {
    /// Binds `127.0.0.1:0` (a free port).
    pub async fn loopback() -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(Error::Bind)?;
        let addr = listener.local_addr().map_err(Error::Bind)?;
        Ok(Self { listener, base_url: format!("http://{addr}") })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Serves `router` until shut down.
    pub fn serve(self, router: Router) -> EmulatorServer {
        let (stop_tx, mut stop_rx) = watch::channel(false);
        let listener = KillableListener { inner: self.listener };
        let make_service = router.into_make_service_with_connect_info::<ConnectionHandle>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            };
            // Serving only fails if accepting does, which the listener retries; nothing to report.
            let _ = axum::serve(listener, make_service).with_graceful_shutdown(stopped).await;
        });
        EmulatorServer { base_url: self.base_url, stop: stop_tx, task: Some(task) }
    }
}

/// A running loopback server. Stops accepting on [`shutdown`](Self::shutdown) or drop; connections in
/// flight finish their current request.
#[derive(Debug)]
pub struct EmulatorServer {
    base_url: String,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl EmulatorServer {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stops the server and waits for open connections to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
