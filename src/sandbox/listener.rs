//! A TCP listener that can refuse service: while its flag is set it accepts each connection and
//! drops it at once, so a client sees a transport error rather than an HTTP answer.

use std::{
    io,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};

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
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (io, addr) = Listener::accept(&mut self.inner).await;
            if !self.refuse.load(Ordering::SeqCst) {
                return (io, addr);
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
