//! `package create`: builds the connector package (`.zip`) an admin imports in setup, from a tenant id,
//! an app's client id and the app's certificate with its key. The PFX is opened with its password
//! first, so a wrong password or a certificate without its key is caught here and not at sign-in.

use crate::common::read_secret_line;
use anyhow::Context as _;
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::package::{ConnectorPackage, FORMAT_VERSION, PackageManifest};
use exchange_connector::secret::Secret;
use std::path::PathBuf;

/// A PFX larger than this is not a client certificate (the package reader refuses it too).
const MAX_PFX_BYTES: u64 = 256 * 1024;

/// Options of `package create`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Entra tenant id (GUID).
    #[arg(long)]
    tenant_id: String,
    /// Application (client) id the connector signs in as (GUID).
    #[arg(long)]
    client_id: String,
    /// The app's certificate with its private key (PKCS#12 .pfx).
    #[arg(long, value_name = "FILE.pfx")]
    certificate: PathBuf,
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
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.out.exists() && !args.force {
        anyhow::bail!(
            "{} exists; choose another --out or add --force to replace it",
            args.out.display()
        );
    }
    let password = if args.certificate_password_stdin {
        read_secret_line("the certificate password")?
    } else {
        Secret::new("")
    };
    let size = std::fs::metadata(&args.certificate)
        .with_context(|| format!("cannot read the certificate {}", args.certificate.display()))?
        .len();
    if size > MAX_PFX_BYTES {
        anyhow::bail!(
            "{} is {size} bytes: too large for a client certificate (.pfx)",
            args.certificate.display()
        );
    }
    let pfx = std::fs::read(&args.certificate)
        .with_context(|| format!("cannot read the certificate {}", args.certificate.display()))?;
    let cert = ClientCertificate::from_pfx(&pfx, &password).map_err(|e| {
        let hint = if args.certificate_password_stdin {
            ""
        } else {
            " If the PFX has a password, pass it on standard input with --certificate-password-stdin."
        };
        anyhow::anyhow!("{}: {e}{hint}", args.certificate.display())
    })?;
    let manifest = PackageManifest {
        format_version: FORMAT_VERSION,
        tenant_id: args.tenant_id,
        tenant_name: args.tenant_name,
        client_id: args.client_id,
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
    // Write beside the target and rename, so a failed run never leaves half a package.
    let tmp = args
        .out
        .with_extension(format!("zip.tmp-{}", std::process::id()));
    let written = package.write(&tmp).and_then(|()| {
        std::fs::rename(&tmp, &args.out).map_err(|source| {
            exchange_connector::package::PackageError::Io {
                path: args.out.clone(),
                source,
            }
        })
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    println!(
        "Connector package written to {} (tenant {}, certificate {} thumbprint {}). It holds the certificate's key: keep it as safe as a password.",
        args.out.display(),
        package.manifest.tenant_id,
        cert.subject,
        cert.sha1_thumbprint_hex()
    );
    Ok(())
}
