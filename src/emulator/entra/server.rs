//! Starting the emulator on plain http and, optionally, https (one emulator
//! state, two listeners). The https listener marks its requests
//! [`Scheme("https")`](super::Scheme), so `@odata.nextLink`s point back at it.

use std::path::PathBuf;

use anyhow::Context as _;
use axum::Extension;
use tokio::net::TcpListener;

use super::tls::CertSource;
use super::{Config, Emulator, Scheme};
use crate::emulator::core::server::{RunningServer, serve};
use crate::emulator::core::tls::serve_tls;

/// How to serve https.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    /// Where to listen (port 0 picks a free port).
    pub listen: String,
    pub source: CertSource,
}

/// A running Entra emulator: http, and https when asked for.
pub struct EntraServer {
    /// The instance (state and core), for in-process inspection.
    pub emulator: Emulator,
    http: RunningServer,
    https: Option<RunningServer>,
    ca_file: Option<PathBuf>,
}

impl EntraServer {
    /// Start on `listen` (http) and, with `tls`, on `tls.listen` (https),
    /// until `stop` completes or [`EntraServer::shutdown`].
    pub async fn start(
        cfg: Config,
        listen: &str,
        tls: Option<TlsOptions>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Self> {
        let emulator = Emulator::new(cfg)?;
        let router = emulator.router();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            stop.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let http = serve(listener, router.clone(), stopped(stop_rx.clone()))?;
        let (https, ca_file) = match tls {
            None => (None, None),
            Some(t) => {
                let cert = t.source.server_cert()?;
                let ca_file = cert.ca_file.clone();
                let acceptor = super::tls::acceptor(cert)?;
                let listener = TcpListener::bind(&t.listen)
                    .await
                    .with_context(|| format!("listening on {} (https)", t.listen))?;
                let router = router.layer(Extension(Scheme("https")));
                (
                    Some(serve_tls(listener, acceptor, router, stopped(stop_rx))?),
                    ca_file,
                )
            }
        };
        Ok(Self {
            emulator,
            http,
            https,
            ca_file,
        })
    }

    /// `http://ADDR`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http.addr())
    }

    /// `https://ADDR`, when serving https.
    pub fn https_url(&self) -> Option<String> {
        self.https.as_ref().map(|s| format!("https://{}", s.addr()))
    }

    /// The CA certificate file clients should trust (a generated certificate).
    pub fn ca_file(&self) -> Option<&std::path::Path> {
        self.ca_file.as_deref()
    }

    /// Stop serving and wait for in-flight requests.
    pub async fn shutdown(self) -> std::io::Result<()> {
        if let Some(s) = self.https {
            s.shutdown().await?;
        }
        self.http.shutdown().await
    }

    /// Wait until both listeners stop.
    pub async fn wait(self) -> std::io::Result<()> {
        if let Some(s) = self.https {
            s.wait().await?;
        }
        self.http.wait().await
    }
}
