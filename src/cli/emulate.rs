//! `clientops emulate <provider>`: run a provider emulator.

use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::emulator::cloudflare::auth::AuthConfig;
use crate::emulator::cloudflare::scopes::Catalogue;
use crate::emulator::cloudflare::{self, Cloudflare};
use crate::emulator::core::{self, Emulated, RateLimit};
use crate::emulator::csp::{self, Csp};
use crate::emulator::entra;
use crate::secret::ClientSecret;

/// Run a provider emulator (for tests, demos and your CI).
#[derive(Args, Debug)]
pub struct EmulateArgs {
    #[command(subcommand)]
    pub provider: EmulateProvider,
}

/// The emulated providers.
#[derive(Subcommand, Debug)]
pub enum EmulateProvider {
    /// Cloudflare's account OAuth clients API, under /client/v4.
    Cloudflare(CloudflareArgs),
    /// VMware Cloud Services Platform organisation OAuth apps, under /csp/gateway/am/api.
    Csp(CspArgs),
    /// Microsoft Entra ID app registrations: Microsoft Graph v1.0 under /v1.0 and
    /// the token endpoint /{tenant}/oauth2/v2.0/token.
    Entra(EntraArgs),
}

/// A credential given on the command line; `Debug` never shows it.
#[derive(Clone)]
pub struct Credential(pub ClientSecret);

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl FromStr for Credential {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_graphic()) {
            return Err("a token is non-empty printable ASCII without spaces".into());
        }
        Ok(Self(ClientSecret::new(s)))
    }
}

/// `EMAIL:KEY`; `Debug` shows only the email.
#[derive(Clone)]
pub struct ApiKey {
    pub email: String,
    pub key: ClientSecret,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}:[REDACTED])", self.email)
    }
}

impl FromStr for ApiKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (email, key) = s
            .split_once(':')
            .ok_or("expected EMAIL:KEY, e.g. ops@example.com:0123abcd")?;
        if !email.contains('@') || email.contains(char::is_whitespace) {
            return Err(format!("{email:?} is not an email address"));
        }
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err("the key is non-empty printable ASCII without spaces".into());
        }
        Ok(Self {
            email: email.to_owned(),
            key: ClientSecret::new(key),
        })
    }
}

fn parse_account(s: &str) -> Result<String, String> {
    if cloudflare::is_account_id(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("an account id is 32 hexadecimal characters".into())
    }
}

/// `--rate-limit`: `N/PERIOD` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitArg(pub Option<RateLimit>);

fn parse_rate_limit(s: &str) -> Result<RateLimitArg, String> {
    if matches!(s, "off" | "none" | "unlimited") {
        Ok(RateLimitArg(None))
    } else {
        s.parse().map(|r| RateLimitArg(Some(r)))
    }
}

/// `clientops emulate cloudflare`.
#[derive(Args, Debug)]
pub struct CloudflareArgs {
    /// Address to listen on; port 0 picks a free port (the startup line shows it).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: String,
    /// Persist the state here (atomic writes after every change) and load it at start.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Accept this API token (repeatable). Without --token and --api-key, any
    /// non-empty credential is accepted.
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<Credential>,
    /// Accept this legacy X-Auth-Email / X-Auth-Key pair (repeatable).
    #[arg(long = "api-key", value_name = "EMAIL:KEY")]
    pub api_keys: Vec<ApiKey>,
    /// Create this account at start (repeatable; 32 hex characters).
    #[arg(long = "account", value_name = "ID", value_parser = parse_account)]
    pub accounts: Vec<String>,
    /// Refuse accounts not given with --account (403) instead of creating them on first use.
    #[arg(long)]
    pub strict_accounts: bool,
    /// Replace the scope catalogue with this JSON file (an array of {id, name,
    /// category?, scopes?}, or a saved /oauth/scopes response).
    #[arg(long, value_name = "FILE")]
    pub scopes_file: Option<PathBuf>,
    /// Requests per credential per period, N/PERIOD (e.g. 1200/5m, 10/1s), or "off".
    #[arg(long, value_name = "N/PERIOD", default_value = "1200/5m", value_parser = parse_rate_limit)]
    pub rate_limit: RateLimitArg,
}

impl CloudflareArgs {
    /// The emulator configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<cloudflare::Config> {
        Ok(cloudflare::Config {
            auth: AuthConfig {
                tokens: self.tokens.iter().map(|t| t.0.clone()).collect(),
                api_keys: self
                    .api_keys
                    .iter()
                    .map(|k| (k.email.clone(), k.key.clone()))
                    .collect(),
            },
            accounts: self.accounts.clone(),
            strict_accounts: self.strict_accounts,
            catalogue: match &self.scopes_file {
                Some(p) => Catalogue::load(p)?,
                None => Catalogue::default(),
            },
            rate_limit: self.rate_limit.0,
            state_file: self.state.clone(),
        })
    }
}

fn parse_org(s: &str) -> Result<String, String> {
    if csp::is_guid(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("an organisation id is a GUID, e.g. 3fa85f64-5717-4562-b3fc-2c963f66afa6".into())
    }
}

/// A duration such as `30m`, `2s`, `500ms` or `0`.
fn parse_delay(s: &str) -> Result<Duration, String> {
    if matches!(s.trim(), "0" | "0s" | "0ms") {
        return Ok(Duration::ZERO);
    }
    crate::emulator::core::ratelimit::parse_duration(s)
}

/// `clientops emulate csp`.
#[derive(Args, Debug)]
pub struct CspArgs {
    /// Address to listen on; port 0 picks a free port (the startup line shows it).
    #[arg(long, default_value = csp::DEFAULT_LISTEN)]
    pub listen: String,
    /// Persist the state here (atomic writes after every change) and load it at start.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Accept this API token at the token exchange (repeatable). Without --token,
    /// any non-empty API token is accepted.
    #[arg(long = "token", value_name = "TOKEN")]
    pub tokens: Vec<Credential>,
    /// Create this organisation at start (repeatable; a GUID).
    #[arg(long = "org", value_name = "ID", value_parser = parse_org)]
    pub orgs: Vec<String>,
    /// Refuse organisations not given with --org (404) instead of creating them on first use.
    #[arg(long)]
    pub strict_orgs: bool,
    /// Requests per API token per period, N/PERIOD (e.g. 1200/5m, 10/1s), or "off".
    #[arg(long, value_name = "N/PERIOD", default_value = "1200/5m", value_parser = parse_rate_limit)]
    pub rate_limit: RateLimitArg,
    /// Lifetime of the access tokens the API token exchange hands out (then 401).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_delay)]
    pub access_token_ttl: Duration,
    /// How long a deleted app's id stays reserved: a create with it gets 409 meanwhile.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_delay)]
    pub deletion_delay: Duration,
}

impl CspArgs {
    /// The emulator configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<csp::Config> {
        if self.access_token_ttl.is_zero() {
            anyhow::bail!("--access-token-ttl must be positive");
        }
        Ok(csp::Config {
            auth: csp::auth::AuthConfig {
                tokens: self.tokens.iter().map(|t| t.0.clone()).collect(),
            },
            orgs: self.orgs.clone(),
            strict_orgs: self.strict_orgs,
            rate_limit: self.rate_limit.0,
            state_file: self.state.clone(),
            access_token_ttl: self.access_token_ttl,
            deletion_delay: self.deletion_delay,
        })
    }
}

/// `CLIENT_ID:SECRET` of an operator identity; `Debug` shows only the id.
#[derive(Clone)]
pub struct Operator {
    pub client_id: String,
    pub secret: ClientSecret,
}

impl fmt::Debug for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Operator({}:[REDACTED])", self.client_id)
    }
}

impl FromStr for Operator {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, secret) = s
            .split_once(':')
            .ok_or("expected CLIENT_ID:SECRET, e.g. 11111111-2222-4333-8444-555555555555:s3cret-of-16-chars")?;
        if !entra::store::is_guid(id) {
            return Err(format!("{id:?} is not a GUID"));
        }
        if !(16..=64).contains(&secret.len()) || !secret.chars().all(|c| c.is_ascii_graphic()) {
            return Err("the secret is 16 to 64 printable ASCII characters".into());
        }
        Ok(Self {
            client_id: id.to_ascii_lowercase(),
            secret: ClientSecret::new(secret),
        })
    }
}

fn parse_guid(s: &str) -> Result<String, String> {
    if entra::store::is_guid(s) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err("a GUID, e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47".into())
    }
}

fn parse_role(s: &str) -> Result<String, String> {
    if entra::store::ROLES.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!("one of {}", entra::store::ROLES.join(", ")))
    }
}

/// `clientops emulate entra`.
///
/// Serves Graph v1.0 (applications, addPassword/removePassword, service
/// principals, deleted items) and the client-credentials token endpoint. Tenants
/// and their operator identities come from --tenant/--operator or from
/// `POST /__emulator/tenants`. docs/providers/entra-emulator.md has the details.
#[derive(Args, Debug)]
pub struct EntraArgs {
    /// Address to listen on (plain http); port 0 picks a free port (the startup line shows it).
    #[arg(long, default_value = entra::DEFAULT_LISTEN)]
    pub listen: String,
    /// Also serve https here (e.g. 127.0.0.1:0), with a certificate the emulator
    /// makes (its CA goes to --tls-ca-out) or --tls-cert/--tls-key. Microsoft's
    /// JavaScript Graph client needs https.
    #[arg(long, value_name = "ADDR")]
    pub tls_listen: Option<String>,
    /// Where to write the generated CA certificate (PEM), e.g. for NODE_EXTRA_CA_CERTS.
    /// Default: clientops-emulate-entra-<pid>/ca.pem in the temporary directory.
    #[arg(long, value_name = "FILE")]
    pub tls_ca_out: Option<PathBuf>,
    /// Serve this certificate chain (PEM) instead of making one (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Persist the state here (atomic writes after every change) and load it at start.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Create this tenant at start (a GUID).
    #[arg(long, value_name = "ID", value_parser = parse_guid)]
    pub tenant: Option<String>,
    /// The tenant's initial domain (default emulated<first 8 of the id>.onmicrosoft.com).
    #[arg(long, value_name = "DOMAIN", requires = "tenant")]
    pub domain: Option<String>,
    /// Create this operator identity in --tenant at start (repeatable): an
    /// application with this client id and secret and a service principal.
    #[arg(
        long = "operator",
        value_name = "CLIENT_ID:SECRET",
        requires = "tenant"
    )]
    pub operators: Vec<Operator>,
    /// The Graph application roles of the --operator identities (repeatable;
    /// default Application.ReadWrite.OwnedBy).
    #[arg(long = "operator-role", value_name = "ROLE", value_parser = parse_role)]
    pub operator_roles: Vec<String>,
    /// Requests per (tenant, app) per period, N/PERIOD (e.g. 3000/150s, 10/1s), or "off".
    #[arg(long, value_name = "N/PERIOD", default_value = "3000/150s", value_parser = parse_rate_limit)]
    pub rate_limit: RateLimitArg,
    /// Most passwords an application may hold when only work or school accounts
    /// sign in (with personal Microsoft accounts the limit is 2).
    #[arg(long, value_name = "N", default_value_t = entra::DEFAULT_MAX_PASSWORDS)]
    pub max_passwords: usize,
    /// Writes per (tenant, app) to applications that personal Microsoft accounts
    /// may sign in to, N/PERIOD, or "off" (Microsoft: 60 per minute).
    #[arg(long, value_name = "N/PERIOD", default_value = "60/1m", value_parser = parse_rate_limit)]
    pub personal_write_limit: RateLimitArg,
}

impl EntraArgs {
    /// The emulator configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<entra::Config> {
        let roles = if self.operator_roles.is_empty() {
            vec![entra::store::OWNED_BY.to_string()]
        } else {
            self.operator_roles.clone()
        };
        let tenants = self
            .tenant
            .iter()
            .map(|id| entra::SeedTenant {
                id: id.clone(),
                domain: self.domain.clone(),
                operators: self
                    .operators
                    .iter()
                    .map(|o| entra::SeedOperator {
                        app_id: o.client_id.clone(),
                        secret: o.secret.clone(),
                        roles: roles.clone(),
                    })
                    .collect(),
            })
            .collect();
        Ok(entra::Config {
            tenants,
            rate_limit: self.rate_limit.0,
            state_file: self.state.clone(),
            max_passwords: self.max_passwords,
            personal_write_limit: self.personal_write_limit.0,
        })
    }

    /// The https setup these flags describe.
    pub fn tls(&self) -> Option<entra::server::TlsOptions> {
        let listen = self.tls_listen.clone()?;
        let source = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => entra::tls::CertSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => entra::tls::CertSource::Generate {
                ca_file: self.tls_ca_out.clone().unwrap_or_else(|| {
                    std::env::temp_dir()
                        .join(format!("clientops-emulate-entra-{}", std::process::id()))
                        .join("ca.pem")
                }),
            },
        };
        Some(entra::server::TlsOptions { listen, source })
    }
}

async fn serve_entra(args: EntraArgs) -> anyhow::Result<()> {
    let cfg = args.config()?;
    let rate = cfg.rate_limit;
    let running =
        entra::server::EntraServer::start(cfg, &args.listen, args.tls(), shutdown_signal()).await?;
    // Lines that scripts parse: keep their shape stable.
    println!(
        "clientops emulate entra: listening on {} (base URL {}, admin {}/__emulator)",
        running.http_url(),
        running.http_url(),
        running.http_url()
    );
    if let Some(https) = running.https_url() {
        match running.ca_file() {
            Some(ca) => println!(
                "clientops emulate entra: https on {https} (CA certificate {})",
                ca.display()
            ),
            None => println!("clientops emulate entra: https on {https}"),
        }
    }
    std::io::stdout().flush()?;
    match rate {
        Some(r) => tracing::info!(rate_limit = %r, "per-app rate limit"),
        None => tracing::info!("rate limit off"),
    }
    running.wait().await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Start `P`'s emulator and serve until SIGINT or SIGTERM. `any_credential`:
/// the warning for a configuration that accepts any credential; `per`: what the
/// rate limit counts ("credential", "API token").
async fn serve<P: Emulated>(
    name: &str,
    cfg: P::Config,
    listen: &str,
    any_credential: Option<&str>,
    per: &str,
) -> anyhow::Result<()> {
    let rate = P::rate_limit(&cfg);
    let running = core::Emulator::<P>::start_until(cfg, listen, shutdown_signal()).await?;
    // One line that scripts parse: keep its shape stable.
    println!(
        "clientops emulate {name}: listening on http://{} (base URL {}, admin {})",
        running.addr(),
        running.base_url(),
        running.admin_url()
    );
    std::io::stdout().flush()?;
    if let Some(warning) = any_credential {
        eprintln!("clientops emulate {name}: {warning}");
    }
    match rate {
        Some(r) => tracing::info!(rate_limit = %r, "per-{per} rate limit"),
        None => tracing::info!("rate limit off"),
    }
    running.wait().await?;
    Ok(())
}

impl EmulateArgs {
    /// Run the emulator until SIGINT or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .with_writer(std::io::stderr)
            .try_init();
        match self.provider {
            EmulateProvider::Cloudflare(args) => {
                let cfg = args.config()?;
                let any = cfg
                    .auth
                    .accepts_any()
                    .then_some("no --token or --api-key given: accepting any non-empty credential");
                serve::<Cloudflare>("cloudflare", cfg, &args.listen, any, "credential").await
            }
            EmulateProvider::Csp(args) => {
                let cfg = args.config()?;
                let any = cfg
                    .auth
                    .accepts_any()
                    .then_some("no --token given: accepting any non-empty API token");
                serve::<Csp>("csp", cfg, &args.listen, any, "API-token").await
            }
            EmulateProvider::Entra(args) => serve_entra(args).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_debug() {
        let t: Credential = "tok-secret-value".parse().unwrap();
        assert!(!format!("{t:?}").contains("secret-value"));
        let k: ApiKey = "ops@example.com:key-secret-value".parse().unwrap();
        assert!(!format!("{k:?}").contains("secret-value"));
        assert!("nope".parse::<ApiKey>().is_err());
        assert!("a b".parse::<Credential>().is_err());
        assert_eq!(parse_rate_limit("off").unwrap(), RateLimitArg(None));
        assert!(parse_account("123").is_err());
    }

    #[test]
    fn flags_parse() {
        use clap::{CommandFactory, Parser};
        crate::cli::Cli::command().debug_assert();
        let cli = crate::cli::Cli::try_parse_from([
            "clientops",
            "emulate",
            "cloudflare",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "a",
            "--token",
            "b",
            "--api-key",
            "ops@example.com:k",
            "--account",
            "023E105F4ECEF8AD9CA31A8372D0C353",
            "--strict-accounts",
            "--rate-limit",
            "10/1s",
        ])
        .unwrap();
        let crate::cli::Command::Emulate(EmulateArgs {
            provider: EmulateProvider::Cloudflare(a),
        }) = cli.command
        else {
            panic!("not emulate")
        };
        let cfg = a.config().unwrap();
        assert_eq!(cfg.auth.tokens.len(), 2);
        assert_eq!(cfg.accounts, ["023e105f4ecef8ad9ca31a8372d0c353"]);
        assert!(cfg.strict_accounts);
        assert_eq!(cfg.rate_limit.unwrap().requests, 10);
    }

    #[test]
    fn entra_flags_parse() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "clientops",
            "emulate",
            "entra",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
            "--tenant",
            "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
            "--operator",
            "11111111-2222-4333-8444-555555555555:operator-secret-value",
            "--operator-role",
            "Application.ReadWrite.All",
            "--rate-limit",
            "off",
            "--max-passwords",
            "5",
        ])
        .unwrap();
        let crate::cli::Command::Emulate(EmulateArgs {
            provider: EmulateProvider::Entra(a),
        }) = cli.command
        else {
            panic!("not emulate entra")
        };
        assert!(!format!("{a:?}").contains("operator-secret-value"));
        let cfg = a.config().unwrap();
        assert_eq!(cfg.tenants[0].id, "72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert_eq!(
            cfg.tenants[0].operators[0].roles,
            ["Application.ReadWrite.All"]
        );
        assert!(cfg.rate_limit.is_none());
        assert_eq!(cfg.max_passwords, 5);
        assert!(a.tls().is_some());
        assert!("nope:secret".parse::<Operator>().is_err());
        assert!(
            crate::cli::Cli::try_parse_from([
                "clientops",
                "emulate",
                "entra",
                "--operator-role",
                "Directory.ReadWrite.All"
            ])
            .is_err()
        );
    }

    #[test]
    fn csp_flags_parse() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "clientops",
            "emulate",
            "csp",
            "--listen",
            "127.0.0.1:0",
            "--token",
            "a",
            "--org",
            "3FA85F64-5717-4562-B3FC-2C963F66AFA6",
            "--strict-orgs",
            "--access-token-ttl",
            "5m",
            "--deletion-delay",
            "0",
            "--rate-limit",
            "off",
        ])
        .unwrap();
        let crate::cli::Command::Emulate(EmulateArgs {
            provider: EmulateProvider::Csp(a),
        }) = cli.command
        else {
            panic!("not emulate csp")
        };
        let cfg = a.config().unwrap();
        assert_eq!(cfg.orgs, ["3fa85f64-5717-4562-b3fc-2c963f66afa6"]);
        assert_eq!(cfg.access_token_ttl, Duration::from_secs(300));
        assert_eq!(cfg.deletion_delay, Duration::ZERO);
        assert!(cfg.rate_limit.is_none() && cfg.strict_orgs);
        assert_eq!(cfg.auth.tokens.len(), 1);
        assert!(parse_org("nope").is_err());
        assert!(
            crate::cli::Cli::try_parse_from(["clientops", "emulate", "csp", "--org", "x"]).is_err()
        );
    }
}
