//! Tests of the inbound limits: addresses, the limiters on a fake clock, and the middleware
//! on a real socket.

mod client_ip;
mod limiter;
mod router;
