//! A TCP listener that can refuse service. While its flag is set it drops each new connection
//! at once, and connections already open (a client's keep-alive pool) fail their next read or
//! write, so a client sees a transport error rather than an HTTP answer either way.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use axum::serve::Listener;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};

/// `TcpListener` plus the `refuse_connections` fault.
pub struct RefusingListener {
    inner: TcpListener,
    refuse: Arc<AtomicBool>,
}

impl RefusingListener {
    /// Wraps `inner`; `refuse` is shared with the fault settings.
    pub fn new(inner: TcpListener, refuse: Arc<AtomicBool>) -> Self {
        Self { inner, refuse }
    }
}

impl Listener for RefusingListener {
    type Io = RefusableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = Listener::accept(&mut self.inner).await;
            if !self.refuse.load(Ordering::SeqCst) {
                let refuse = self.refuse.clone();
                return (RefusableStream { inner: io, refuse }, addr);
            }
            // Closing the socket before reading anything is what a crashed or overloaded
            // upstream looks like from the client side.
            drop(io);
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Listener::local_addr(&self.inner)
    }
}

/// An accepted connection that breaks as soon as the refuse flag is set.
pub struct RefusableStream {
    inner: TcpStream,
    refuse: Arc<AtomicBool>,
}

impl RefusableStream {
    fn refused(&self) -> Option<io::Error> {
        self.refuse
            .load(Ordering::SeqCst)
            .then(|| io::Error::from(io::ErrorKind::ConnectionReset))
    }
}

impl AsyncRead for RefusableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.refused() {
            Some(e) => Poll::Ready(Err(e)),
            None => Pin::new(&mut self.inner).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for RefusableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.refused() {
            Some(e) => Poll::Ready(Err(e)),
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
