//! TLS setup. reqwest is built on rustls without a default crypto provider so that exactly one
//! backend (ring) is compiled in; it has to be installed once per process before a client is
//! built.

/// Installs ring as rustls' process-wide provider; later calls are no-ops.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
