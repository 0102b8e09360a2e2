//! `package create`: builds the connector package (`.zip`) an admin imports in setup, from a tenant id,
//! an app's client id and the app's certificate with its key. The PFX is opened with its password
//! first, so a wrong password or a certificate without its key is caught here and not at sign-in.
//!
//! `--sign-in` makes the package of a second server: the admin signs in (device code, as `onboard`),
//! the onboarded app is found by its tag, a new certificate made on this machine has its public key
//! added to the app beside the other servers' keys ([`onboarding::add_server`]), and the package holds
//! that certificate with a random PFX password carried in its manifest (never printed).

use crate::common::{Context, read_secret_line};
use crate::onboard::{Session, SignInArgs, print_progress};
use anyhow::Context as _;
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::onboarding::{self, OnboardOptions, OnboardingError};
use exchange_connector::package::{ConnectorPackage, FORMAT_VERSION, PackageManifest};
use exchange_connector::secret::Secret;
use std::path::{Path, PathBuf};

/// A PFX larger than this is not a client certificate (the package reader refuses it too).
const MAX_PFX_BYTES: u64 = 256 * 1024;

/// Options of `package create`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sign in to Microsoft Entra (device code) and make the package of a second server: a new
    /// certificate made here, its key added to the onboarded app (the other servers' keys are kept).
    #[arg(long, conflicts_with_all = ["tenant_id", "client_id", "certificate", "certificate_password_stdin"])]
    sign_in: bool,
    #[command(flatten)]
    sign_in_args: SignInArgs,
    /// Entra tenant id (GUID).
    #[arg(long, required_unless_present = "sign_in")]
    tenant_id: Option<String>,
    /// Application (client) id the connector signs in as (GUID).
    #[arg(long, required_unless_present = "sign_in")]
    client_id: Option<String>,
    /// The app's certificate with its private key (PKCS#12 .pfx).
    #[arg(long, value_name = "FILE.pfx", required_unless_present = "sign_in")]
    certificate: Option<PathBuf>,
    /// Read the PFX password from the first line of standard input (without it: no password).
    #[arg(long)]
    certificate_password_stdin: bool,
    /// Entra sign-in base URL.
    #[arg(long, default_value = "https://login.microsoftonline.com")]
    login_base: String,
    /// Microsoft Graph base URL.
    #[arg(long, default_value = "https://graph.microsoft.com")]
    graph_base: String,
    /// Exchange Online REST base URL (hosted Exchange).
    #[arg(long)]
    exchange_rest_base: Option<String>,
    /// Tenant display name, shown in setup.
    #[arg(long)]
    tenant_name: Option<String>,
    /// App display name, shown in setup.
    #[arg(long)]
    app_name: Option<String>,
    /// Where to write the package.
    #[arg(long, value_name = "FILE.zip")]
    out: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
}

/// Runs `package create`.
pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    if args.out.exists() && !args.force {
        anyhow::bail!(
            "{} exists; choose another --out or add --force to replace it",
            args.out.display()
        );
    }
    if args.sign_in {
        return run_signed_in(ctx, args);
    }
    if args.sign_in_args.tenant.is_some() || args.sign_in_args.lab_endpoints.is_some() {
        anyhow::bail!(
            "--tenant and --lab-endpoints go with --sign-in; without it name --tenant-id, --client-id and --certificate"
        );
    }
    let (Some(tenant_id), Some(client_id), Some(certificate)) =
        (args.tenant_id, args.client_id, args.certificate)
    else {
        anyhow::bail!("name --tenant-id, --client-id and --certificate, or use --sign-in");
    };
    let password = if args.certificate_password_stdin {
        read_secret_line("the certificate password")?
    } else {
        Secret::new("")
    };
    let size = std::fs::metadata(&certificate)
        .with_context(|| format!("cannot read the certificate {}", certificate.display()))?
        .len();
    if size > MAX_PFX_BYTES {
        anyhow::bail!(
            "{} is {size} bytes: too large for a client certificate (.pfx)",
            certificate.display()
        );
    }
    let pfx = std::fs::read(&certificate)
        .with_context(|| format!("cannot read the certificate {}", certificate.display()))?;
    let cert = ClientCertificate::from_pfx(&pfx, &password).map_err(|e| {
        let hint = if args.certificate_password_stdin {
            ""
        } else {
            " If the PFX has a password, pass it on standard input with --certificate-password-stdin."
        };
        anyhow::anyhow!("{}: {e}{hint}", certificate.display())
    })?;
    let manifest = PackageManifest {
        format_version: FORMAT_VERSION,
        tenant_id,
        tenant_name: args.tenant_name,
        client_id,
        app_name: args.app_name,
        login_base: args.login_base,
        graph_base: args.graph_base,
        exchange_rest_base: args.exchange_rest_base,
        certificate_password: password,
    };
    manifest.validate()?;
    let package = ConnectorPackage {
        manifest,
        certificate_pfx: pfx,
    };
    write(&package, &args.out)?;
    println!(
        "Connector package written to {} (tenant {}, certificate {} thumbprint {}). It holds the certificate's key: keep it as safe as a password.",
        args.out.display(),
        package.manifest.tenant_id,
        cert.subject,
        cert.sha1_thumbprint_hex()
    );
    Ok(())
}

/// Writes `package` beside `out` and renames it, so a failed run never leaves half a package.
fn write(
    package: &ConnectorPackage,
    out: &Path,
) -> Result<(), exchange_connector::package::PackageError> {
    let tmp = out.with_extension(format!("zip.tmp-{}", std::process::id()));
    let written = package.write(&tmp).and_then(|()| {
        std::fs::rename(&tmp, out).map_err(|source| exchange_connector::package::PackageError::Io {
            path: out.to_path_buf(),
            source,
        })
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// `package create --sign-in`: the package of a second server, with its own key on the app.
fn run_signed_in(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let session = Session::new(ctx, &args.sign_in_args)?;
    let authority = &session.target.authority;
    let (credential, tenant_id, directory) = session.runtime.block_on(async {
        let directory = session.sign_in().await?;
        println!("Adding a certificate made here to the connector's app:");
        let credential =
            onboarding::add_server(&directory, &OnboardOptions::default(), &mut print_progress)
                .await?;
        let tenant_id = onboarding::tenant_id(&session.http, authority).await?;
        Ok::<_, OnboardingError>((credential, tenant_id, directory))
    })?;
    let app = &credential.app;
    let written = onboarding::connector_package(
        &tenant_id,
        authority,
        &app.app_id,
        args.app_name.as_deref().unwrap_or(&app.display_name),
        &credential.certificate,
        args.exchange_rest_base.clone(),
    )
    .map_err(anyhow::Error::from)
    .and_then(|mut package| {
        package.manifest.tenant_name = args.tenant_name.clone();
        write(&package, &args.out).map_err(anyhow::Error::from)
    });
    if let Err(problem) = written {
        // A key whose private half is nowhere must not stay on the app.
        let key_id = onboarding::rotation::key_id_for(&credential.certificate);
        let undone = session
            .runtime
            .block_on(onboarding::server_key::remove_server_key(
                &directory, app, &key_id,
            ));
        return Err(match undone {
            Ok(()) => problem.context("no package was written; the certificate's key was taken off the app again"),
            Err(e) => problem.context(format!(
                "no package was written, and taking the certificate {} off the app {} failed too ({e}): remove it in the Entra admin center (App registrations, the app, Certificates & secrets)",
                credential.certificate.sha1_thumbprint_hex(),
                app.app_id
            )),
        });
    }
    println!(
        "Connector package for a second server written to {} (tenant {tenant_id}, client id {}, certificate thumbprint {}). Import it on that server (setup: I already have a connector package). It holds the certificate's key and its password: keep it as safe as a password.",
        args.out.display(),
        app.app_id,
        credential.certificate.sha1_thumbprint_hex()
    );
    Ok(())
}
