//! A TCP listener that can refuse service to the Maton/Gumroad surface while its flag is set,
//! yet never to the `/_sandbox` controls, so the `refuse_connections` fault can be switched
//! off over HTTP (issue 10).
//!
//! The refusal happens in the stream, per request, by peeking at the request line: while the
//! flag is set, each request's first read must start with `<METHOD> /_sandbox/`, or the read
//! fails and the connection breaks before any answer, so a client sees a transport error on
//! a new connection and on one its keep-alive pool kept alike. A control request passes, body
//! and answer included. One address serves both, so the CLI, curl and the tests keep the URL
//! they know; a second listener for the controls would have needed every caller to learn a
//! second address. The peek assumes a request line arrives in the first read of a request,
//! which holds for the small requests HTTP clients write in one go on a local socket; a
//! control request split before its path is refused like any other (a retry gets through).

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
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
        // Every connection is accepted: whether it may be served is only known from its
        // request line, which the stream reads.
        let (inner, addr) = Listener::accept(&mut self.inner).await;
        let refuse = self.refuse.clone();
        let stream = RefusableStream {
            inner,
            refuse,
            control: Control::Idle,
        };
        (stream, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Listener::local_addr(&self.inner)
    }
}

/// Request lines the refusal lets through: the sandbox's own controls.
const CONTROL_PREFIXES: [&[u8]; 4] = [
    b"GET /_sandbox/",
    b"PUT /_sandbox/",
    b"POST /_sandbox/",
    b"DELETE /_sandbox/",
];

/// Where a connection is in a control request, which the refusal lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    /// No control request under way: the next read starts a request and is peeked at.
    Idle,
    /// A control request's line was read: its headers and body may follow.
    Reading,
    /// Its answer is being written; the next read starts a new request.
    Answering,
}

/// An accepted connection that, while the refuse flag is set, breaks on any request but a
/// control one.
pub struct RefusableStream {
    inner: TcpStream,
    refuse: Arc<AtomicBool>,
    control: Control,
}

fn refused() -> io::Error {
    io::Error::from(io::ErrorKind::ConnectionReset)
}

impl AsyncRead for RefusableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let start = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let read = &buf.filled()[start..];
        if this.control == Control::Reading && !read.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if CONTROL_PREFIXES.iter().any(|p| read.starts_with(p)) {
            this.control = Control::Reading;
            return Poll::Ready(Ok(()));
        }
        this.control = Control::Idle;
        if this.refuse.load(Ordering::SeqCst) && !read.is_empty() {
            // Closing the connection before answering is what a crashed or overloaded
            // upstream looks like from the client side.
            return Poll::Ready(Err(refused()));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for RefusableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.control {
            Control::Reading | Control::Answering => self.control = Control::Answering,
            Control::Idle if self.refuse.load(Ordering::SeqCst) => {
                return Poll::Ready(Err(refused()));
            }
            Control::Idle => {}
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
