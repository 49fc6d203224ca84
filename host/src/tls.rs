//! TLS for every HTTPS client pitwall makes (a check's `http.send`,
//! webhooks, OCI registries): rustls with the *ring* provider, installed once
//! per process before the first client is built. rustls' default provider,
//! aws-lc-rs, needs cmake and minutes of C compilation on every fresh build;
//! ring builds in seconds.

/// Installs the process's TLS provider; call before building a client.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An embedding program may have installed its own: that one stays.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
