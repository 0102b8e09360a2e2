//! `onboard`: the CLI twin of the setup's sign-in step, for scripted and Server Core installs. The
//! admin signs in with a device code; the connector shows what it will create (`--dry-run` stops
//! there), creates its app registration, service principal, grants and a certificate made here, hands
//! the certificate to the worker (the one hand-off) and saves the configuration like `configure`.
//! `--remove` deletes what onboarding created.

use crate::common::Context;
use anyhow::Context as _;
use base64::Engine as _;
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::config::Config;
use exchange_connector::connection::handoff::SecretsPlace;
use exchange_connector::onboarding::{
    self, Authority, Cloud, ConsentOutcome, DeviceCodeSignIn, DirectoryClient, OnboardOptions,
    OnboardingError, Progress,
};
use exchange_connector::secret::Secret;
use std::path::{Path, PathBuf};

/// Where and how the admin signs in (device code): `onboard` and `package create --sign-in`.
#[derive(Debug, clap::Args)]
pub struct SignInArgs {
    /// The tenant: its id or a verified domain (e.g. contoso.onmicrosoft.com).
    #[arg(long)]
    pub tenant: Option<String>,
    /// The Microsoft cloud: commercial, gcchigh, dod or china.
    #[arg(long, default_value = "commercial")]
    pub cloud: String,
    /// The public client app the admin signs in with (device code); default: Microsoft Graph Command
    /// Line Tools (14d82eec-204b-4c2f-b7e8-296a70dab67e).
    #[arg(long, env = "EXCHANGE_CONNECTOR_SIGN_IN_CLIENT_ID")]
    pub sign_in_client_id: Option<String>,
    /// Sign in to the lab: its endpoints file (sign-in host, Graph, tenant, CA).
    #[arg(long, value_name = "endpoints.json")]
    pub lab_endpoints: Option<PathBuf>,
}

/// Options of `onboard`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    sign_in: SignInArgs,
    /// Display name of the app registration.
    #[arg(long, default_value = onboarding::DEFAULT_APP_NAME)]
    app_name: String,
    /// Exchange Online: also grant Exchange.ManageAsApp.
    #[arg(long)]
    hosted_exchange: bool,
    /// Print what would be created, and stop.
    #[arg(long)]
    dry_run: bool,
    /// Delete the app registration (and service principal) onboarding created.
    #[arg(long, conflicts_with = "dry_run")]
    remove: bool,
}

/// Where to sign in, which CA file to trust, and the sign-in client.
pub struct Target {
    /// The authority (login and Graph bases, tenant).
    pub authority: Authority,
    ca_file: Option<PathBuf>,
    client_id: String,
}

fn target(args: &SignInArgs, existing: Option<&Config>) -> anyhow::Result<Target> {
    if let Some(path) = &args.lab_endpoints {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the lab endpoints file {}", path.display()))?;
        let lab: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a lab endpoints file", path.display()))?;
        let field = |name: &str| {
            lab.get(name)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .with_context(|| format!("the lab endpoints file has no {name}"))
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let ca = PathBuf::from(field("ca_cert_pem")?);
        return Ok(Target {
            authority: Authority {
                login_base: field("login_base")?,
                graph_base: field("graph_base")?,
                tenant: args.tenant.clone().unwrap_or(field("tenant_id")?),
            },
            ca_file: Some(if ca.is_absolute() { ca } else { base.join(ca) }),
            client_id: args
                .sign_in_client_id
                .clone()
                .unwrap_or_else(|| "exchange-connector-lab-sign-in".into()),
        });
    }
    let cloud = Cloud::parse(&args.cloud).with_context(|| {
        format!(
            "unknown cloud '{}': use commercial, gcchigh, dod or china",
            args.cloud
        )
    })?;
    let tenant = args
        .tenant
        .clone()
        .or_else(|| existing.map(|c| c.tenant_id.clone()))
        .filter(|t| !t.is_empty())
        .context("name the tenant: --tenant <tenant id or domain>")?;
    let client_id = args
        .sign_in_client_id
        .clone()
        .unwrap_or_else(|| onboarding::DEFAULT_SIGN_IN_CLIENT_ID.to_string());
    Ok(Target {
        authority: Authority::of_cloud(cloud, &tenant),
        ca_file: existing.and_then(|c| c.trusted_ca_file.clone()),
        client_id,
    })
}

/// The admin's session: where they sign in, the onboarding HTTP client (the configured proxy and CA
/// file when this machine has a configuration) and a runtime to run it on.
pub struct Session {
    /// Where.
    pub target: Target,
    /// The onboarding client.
    pub http: reqwest::Client,
    /// The runtime.
    pub runtime: tokio::runtime::Runtime,
}

impl Session {
    /// Builds the session for `args`.
    pub fn new(ctx: &Context, args: &SignInArgs) -> anyhow::Result<Session> {
        let existing = Config::load(&ctx.config_dir).ok().map(|l| l.config);
        let target = target(args, existing.as_ref())?;
        let proxy = match &existing {
            Some(config) => {
                let store = ctx.store()?;
                exchange_connector::proxy::configured(config, store.as_ref(), &ctx.instance)?
            }
            None => None,
        };
        let http = exchange_connector::connection::onboarding_http(
            target.ca_file.as_deref(),
            proxy.as_ref(),
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Session {
            target,
            http,
            runtime,
        })
    }

    /// Signs the admin in with a device code (the prompt printed) and gives Graph as that admin.
    pub async fn sign_in(&self) -> Result<DirectoryClient, OnboardingError> {
        let flow = DeviceCodeSignIn::start(
            self.http.clone(),
            self.target.authority.clone(),
            &self.target.client_id,
        )
        .await?;
        println!("{}", flow.prompt().message);
        println!(
            "Waiting for the sign-in (code {})...",
            flow.prompt().user_code
        );
        let token = flow.wait().await?;
        println!("Signed in.");
        Ok(DirectoryClient::new(
            self.http.clone(),
            &self.target.authority.graph_base,
            token,
        ))
    }
}

/// Prints one progress line.
pub fn print_progress(p: Progress) {
    println!("  {}", p.line);
}

/// The certificate this machine already has for the connector, if the store holds one.
fn local_certificate(ctx: &Context) -> Option<ClientCertificate> {
    let store = ctx.store().ok()?;
    let pfx = store.get(&ctx.instance, "ClientCertificate").ok()??;
    let password = store.get(&ctx.instance, "CertificatePassword").ok()??;
    let der = base64::engine::general_purpose::STANDARD
        .decode(pfx.expose().trim())
        .ok()?;
    ClientCertificate::from_pfx(&der, &password).ok()
}

/// Runs `onboard`.
pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let session = Session::new(ctx, &args.sign_in)?;
    let (target, http) = (&session.target, &session.http);
    let local = local_certificate(ctx);
    let local_thumbprint = local.as_ref().map(ClientCertificate::sha1_thumbprint_hex);
    let outcome = session.runtime.block_on(async {
        let directory = session.sign_in().await?;
        if args.remove {
            println!("Removing what onboarding created:");
            let removed = onboarding::remove(&directory, &mut print_progress).await?;
            return Ok::<_, OnboardingError>(Step::Removed(removed));
        }
        let options = OnboardOptions {
            app_name: args.app_name.clone(),
            hosted_exchange: args.hosted_exchange,
            ..OnboardOptions::default()
        };
        let plan = onboarding::plan(&directory, &target.authority, &options).await?;
        println!(
            "What onboarding will do:\n{}",
            plan.describe(local_thumbprint.as_deref())
        );
        if args.dry_run {
            return Ok(Step::DryRun);
        }
        println!("Creating:");
        let result = onboarding::apply(
            &directory,
            &target.authority,
            &plan,
            local.as_ref(),
            &mut print_progress,
        )
        .await?;
        let tenant_id = onboarding::tenant_id(http, &target.authority).await?;
        Ok(Step::Applied(Box::new((result, tenant_id))))
    })?;
    match outcome {
        Step::DryRun => {
            println!("Dry run: nothing was created.");
            Ok(())
        }
        Step::Removed(None) => Ok(()),
        Step::Removed(Some(client_id)) => {
            println!(
                "Removed the app {client_id}. The configuration still names it: onboard again or configure another app."
            );
            Ok(())
        }
        Step::Applied(boxed) => {
            let (result, tenant_id) = *boxed;
            save(ctx, target, &result, &tenant_id)
        }
    }
}

enum Step {
    DryRun,
    Removed(Option<String>),
    Applied(Box<(onboarding::OnboardingResult, String)>),
}

/// Hands a new certificate to the worker, then saves the configuration with the app's identity.
fn save(
    ctx: &Context,
    target: &Target,
    result: &onboarding::OnboardingResult,
    tenant_id: &str,
) -> anyhow::Result<()> {
    if let ConsentOutcome::NeedsAdmin { url, role, missing } = &result.consent {
        println!(
            "The permissions {} still need admin consent: ask a {role} to open\n  {url}\nthen run `onboard` again.",
            missing.join(", ")
        );
    }
    let (mut values, _) = Config::load_values(&ctx.config_dir)?.unwrap_or_default();
    values.insert("TenantId".into(), tenant_id.to_string());
    values.insert("ClientId".into(), result.client_id.clone());
    values.insert("ApplicationObjectId".into(), result.object_id.clone());
    values.insert("LoginBase".into(), target.authority.login_base.clone());
    values.insert("GraphBase".into(), target.authority.graph_base.clone());
    let config = Config::from_values(&values);
    if let Some(certificate) = &result.new_certificate {
        let password = Secret::new(uuid::Uuid::new_v4().simple().to_string());
        let pfx = certificate.to_pfx(&password)?;
        let secrets = [
            (
                "ClientCertificate",
                Secret::new(base64::engine::general_purpose::STANDARD.encode(pfx)),
            ),
            ("CertificatePassword", password),
        ];
        let place = crate::handoff::hand_off(ctx, &secrets)?;
        println!(
            "Certificate {} stored in the {}.",
            certificate.sha1_thumbprint_hex(),
            match &place {
                SecretsPlace::Worker(_) => "running worker's store".to_string(),
                SecretsPlace::Local(store) => store.to_string(),
            }
        );
    }
    match config {
        Ok(config) => {
            let file = config.save(&ctx.config_dir)?;
            println!(
                "Onboarded: tenant {tenant_id}, client id {}. Configuration: {}",
                result.client_id,
                file.display()
            );
            Ok(())
        }
        Err(errors) => anyhow::bail!(
            "the app is onboarded (tenant {tenant_id}, client id {}), but the configuration cannot be saved yet:\n{}\nRun `configure` with these settings plus TenantId={tenant_id} and ClientId={}.",
            result.client_id,
            errors
                .iter()
                .map(|e| format!("  - {e}"))
                .collect::<Vec<_>>()
                .join("\n"),
            result.client_id
        ),
    }
}
