//! `diagnose`: checks the configured path end to end, one line per check with OK/FAIL and a fix for
//! each failure: the configuration, then the connection checks Connect shows
//! ([`crate::connection::checks`]: secrets, DNS, TLS per endpoint with its version, proxy, Exchange
//! sign-in and cmdlets, Autodiscover, EWS, Graph sign-in and permissions) on the clients the worker
//! builds; the diagnostics bundle (`.zip`, every secret redacted); and `--user`: "why is this phone
//! blocked?".

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::connection::ClientOptions;
use crate::connection::checks::{self, CheckRun};
use crate::policy::PolicySettings;
use crate::secret::Secret;
use crate::secrets::SecretStore;
use crate::service::setup;
use crate::sync::SyncEngine;

/// Every secret key the store may hold for an instance (all are redacted from bundles).
pub const SECRET_KEYS: &[&str] = &[
    "ExchangePassword",
    "NotificationPassword",
    "ClientSecret",
    "ClientCertificate",
    "CertificatePassword",
    "ProxyPassword",
];

pub use crate::connection::checks::{Check, CheckId, Status, report_text};

/// What the checks run against.
pub struct Target<'a> {
    /// Configuration folder.
    pub config_dir: &'a Path,
    /// Instance (secret entries).
    pub instance: &'a str,
    /// The secret store (the worker's, when diagnose runs as the service's user).
    pub secrets: &'a dyn SecretStore,
}

/// What the admin should know before the checks run: for Exchange Online with a notification
/// mailbox, that the `Graph sendMail` check sends one test message to that mailbox itself (Graph has no
/// dry run for `sendMail`, and only a real send proves the RBAC for Applications scope).
pub fn preamble(config_dir: &Path) -> Option<String> {
    let config = Config::load(config_dir).ok()?.config;
    let mailbox = config.notification_mailbox.as_deref()?;
    (config.exchange_server_type == crate::config::ExchangeServerType::Hosted).then(|| {
        format!(
            "Note: the Graph sendMail check sends one test message from {mailbox} to {mailbox} itself (not kept in Sent Items); no user gets mail."
        )
    })
}

/// Runs every check in order (the configuration first, then [`crate::connection::checks`]); later
/// checks are skipped when what they need failed.
pub async fn run_checks(target: &Target<'_>) -> Vec<Check> {
    let config = match Config::load(target.config_dir) {
        Ok(loaded) => loaded,
        Err(e) => {
            return vec![Check::fail(
                CheckId::Package,
                "configuration",
                "The configuration cannot be used.",
                crate::error_text::chain(&e),
                "run `exchange-connector-service configure` (or the setup) to write a valid configuration",
            )];
        }
    };
    let mut checks = vec![Check::ok(
        CheckId::Package,
        "configuration",
        format!(
            "{} is valid{}",
            target.config_dir.join(crate::config::CONFIG_FILE).display(),
            if config.warnings.is_empty() {
                String::new()
            } else {
                format!(" ({})", config.warnings.join("; "))
            }
        ),
    )];
    let policy = setup::policy_from_file(target.config_dir)
        .ok()
        .flatten()
        .unwrap_or_default();
    let outcome = checks::run(
        &CheckRun {
            config: &config.config,
            secrets: target.secrets,
            instance: target.instance,
            config_dir: target.config_dir,
            options: ClientOptions::for_checks(),
            policy,
            stop_at_first_failure: false,
            adjust: None,
        },
        &|_| {},
    )
    .await;
    checks.extend(outcome.checks);
    checks
}

/// An engine only to reach Exchange and Intune with the configured clients (default policy; it never
/// runs).
fn build_probe(config: &Config, target: &Target<'_>) -> Result<SyncEngine, String> {
    // The real store is harmless: nothing is written until a run.
    setup::sync_setup(
        config,
        target.secrets,
        target.instance,
        target.config_dir,
        PolicySettings::default(),
    )
    .map_err(|e| e.to_string())?
    .build()
    .map_err(|e| e.to_string())
}

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// File I/O.
    #[error("diagnostics bundle {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The zip writer.
    #[error("diagnostics bundle {path}: {message}")]
    Zip {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Replaces every secret (and its base64 forms) with `***`.
#[derive(Debug, Default)]
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    /// A redactor for every secret stored for the instance, plus `extra`.
    pub fn from_store(store: &dyn SecretStore, instance: &str, extra: &[Secret]) -> Redactor {
        let mut r = Redactor::default();
        for key in SECRET_KEYS {
            if let Ok(Some(s)) = store.get(instance, key) {
                r.add(s.expose());
            }
        }
        for s in extra {
            r.add(s.expose());
        }
        r
    }

    /// Adds a secret.
    pub fn add(&mut self, secret: &str) {
        use base64::Engine as _;
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        // Very short values would redact ordinary text; they are not secrets worth the name.
        if secret.len() < 4 {
            return;
        }
        self.needles.push(secret.to_string());
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            self.needles.push(engine.encode(secret.as_bytes()));
        }
        // A base64 secret (the certificate) may also appear decoded-and-reencoded without padding.
        self.needles.push(secret.trim_end_matches('=').to_string());
        // Longest first, so a secret inside another's encoding is not half-replaced.
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        self.needles.dedup();
    }

    /// The text with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if !n.is_empty() && out.contains(n.as_str()) {
                out = out.replace(n.as_str(), "***");
            }
        }
        out
    }
}

/// What goes into a bundle besides the configuration folder's file.
#[derive(Debug)]
pub struct BundleInput<'a> {
    /// Configuration folder.
    pub config_dir: &'a Path,
    /// Log folder (the newest files are included, each cut to its last 2 MB).
    pub log_dir: &'a Path,
    /// The diagnose report text.
    pub report: &'a str,
}

/// Writes the diagnostics `.zip`: configuration, recent logs, recent runs and changes, the diagnose
/// report. Entries are stored uncompressed so a scan of the file's bytes finds any secret that slipped
/// through; every text passes the redactor first.
pub fn write_bundle(
    path: &Path,
    input: &BundleInput<'_>,
    redactor: &Redactor,
) -> Result<(), BundleError> {
    let io = |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let zerr = |e: zip::result::ZipError| BundleError::Zip {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut entries: Vec<(String, String)> = Vec::new();
    let config_file = input.config_dir.join(crate::config::CONFIG_FILE);
    entries.push((
        crate::config::CONFIG_FILE.to_string(),
        std::fs::read_to_string(&config_file)
            .unwrap_or_else(|e| format!("cannot read {}: {e}", config_file.display())),
    ));
    if let Ok(text) = std::fs::read_to_string(input.config_dir.join(setup::POLICY_FILE)) {
        entries.push((setup::POLICY_FILE.to_string(), text));
    }
    entries.push(("diagnose.txt".into(), input.report.to_string()));
    // Recent runs and changes from the store.
    let store_path = input.config_dir.join(setup::STATE_DB);
    let runs = match crate::store::Store::open(&store_path) {
        Ok(store) => {
            let runs = store.recent_runs(50).map(|runs| {
                runs.iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id.0, "kind": r.kind.as_str(), "started_at": r.started_at,
                            "ended_at": r.ended_at, "outcome": r.outcome.as_str(),
                            "error": r.error, "counts": r.counts,
                        })
                    })
                    .collect::<Vec<_>>()
            });
            let status = crate::sync::status_report(&store).ok();
            serde_json::to_string_pretty(&serde_json::json!({
                "runs": runs.unwrap_or_default(),
                "status": status,
            }))
            .unwrap_or_default()
        }
        Err(e) => format!("cannot open the state store {}: {e}", store_path.display()),
    };
    entries.push(("runs.json".into(), runs));
    // The newest log files.
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(input.log_dir)
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
                .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
                .collect()
        })
        .unwrap_or_default();
    logs.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, log) in logs.into_iter().take(3) {
        let bytes = std::fs::read(&log).unwrap_or_default();
        let tail = &bytes[bytes.len().saturating_sub(2 * 1024 * 1024)..];
        let name = log
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        entries.push((
            format!("logs/{name}"),
            String::from_utf8_lossy(tail).into_owned(),
        ));
    }
    // Owner-only: the bundle is redacted, but names mailboxes, servers and devices.
    let file = crate::file_rights::create_owner_only(path).map_err(io)?;
    let mut zip = zip::ZipWriter::new(file);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in entries {
        zip.start_file(name, options).map_err(zerr)?;
        zip.write_all(redactor.redact(&text).as_bytes())
            .map_err(io)?;
    }
    zip.finish().map_err(zerr)?;
    Ok(())
}

/// [`build_probe`] for the commands that explain or set up one thing.
fn probe(
    config: &Config,
    config_dir: &Path,
    instance: &str,
    secrets: &dyn SecretStore,
) -> Result<SyncEngine, ExplainError> {
    build_probe(
        config,
        &Target {
            config_dir,
            instance,
            secrets,
        },
    )
    .map_err(ExplainError::Setup)
}

/// `rbac-mail`: lets the app send as the notification mailbox (or `mailbox`) and only as it, through
/// RBAC for Applications ([`crate::notify::rbac`]). `Ok((true, text))` when the objects are in place,
/// `Ok((false, text))` when the connector could not create them: the text then names why and the
/// commands an Exchange admin runs instead.
pub async fn rbac_mail(
    config_dir: &Path,
    secrets: &dyn SecretStore,
    instance: &str,
    mailbox: Option<&str>,
    service_principal_id: Option<&str>,
) -> Result<(bool, String), ExplainError> {
    let config = Config::load(config_dir)?.config;
    if config.exchange_server_type != crate::config::ExchangeServerType::Hosted {
        return Err(ExplainError::Setup(
            "rbac-mail is for Exchange Online (ExchangeServerType=Hosted); on premises notifications go through EWS as the notification account".into(),
        ));
    }
    let Some(mailbox) = mailbox
        .map(str::to_string)
        .or_else(|| config.notification_mailbox.clone())
        .filter(|m| !m.trim().is_empty())
    else {
        return Err(ExplainError::Setup(
            "no mailbox: give --mailbox or set NotificationMailbox".into(),
        ));
    };
    let engine = probe(&config, config_dir, instance, secrets)?;
    let result = crate::notify::rbac::ensure_mail_send_scope(
        engine.exchange(),
        &config.client_id,
        &mailbox,
        service_principal_id,
    )
    .await;
    engine.shutdown().await;
    Ok(match result {
        Ok(outcome) => {
            let mut text = outcome.lines.join("\n");
            text.push_str(&format!(
                "\nThe app may send as {mailbox} and, through RBAC for Applications, no other mailbox.\n"
            ));
            (true, text)
        }
        Err(e) => {
            let mut text = format!("{}\n", crate::error_text::chain(&e));
            text.push_str("An Exchange admin runs, in Exchange Online PowerShell:\n");
            for command in crate::notify::rbac::admin_commands(
                &config.client_id,
                &mailbox,
                service_principal_id,
            ) {
                text.push_str(&format!("  {command}\n"));
            }
            (false, text)
        }
    })
}

/// Why `--user` could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Building the clients.
    #[error("{0}")]
    Setup(String),
    /// Exchange refused the lookup.
    #[error("Exchange: {0}")]
    Exchange(#[from] crate::exchange::ExchangeError),
}

/// "Why is this phone blocked?": each of the user's devices with Exchange's state and reason
/// (`Get-MobileDevice -Mailbox`), Intune's record (the managed device with that `easDeviceId`) and the
/// connector's last decision with its reason and when it was applied.
pub async fn explain_user(
    config_dir: &Path,
    secrets: &dyn SecretStore,
    instance: &str,
    upn: &str,
) -> Result<String, ExplainError> {
    use std::fmt::Write as _;
    let config = Config::load(config_dir)?.config;
    let hosted = config.exchange_server_type == crate::config::ExchangeServerType::Hosted;
    let engine = probe(&config, config_dir, instance, secrets)?;
    let devices = engine.exchange().mailbox_devices(upn).await;
    let devices = match devices {
        Ok(d) => d,
        Err(e) => {
            engine.shutdown().await;
            return Err(e.into());
        }
    };
    let mut out = String::new();
    let _ = writeln!(out, "{upn}: {} device(s) in Exchange", devices.len());
    for device in &devices {
        let _ = writeln!(
            out,
            "\n{} ({} {}, DeviceId {})",
            device.friendly_name.as_deref().unwrap_or(&device.name),
            device.device_type,
            device.device_model.as_deref().unwrap_or(""),
            device.device_id
        );
        let _ = writeln!(
            out,
            "  Exchange: {:?}, reason {:?}{}",
            device.device_access_state,
            device.device_access_state_reason,
            device
                .device_access_control_rule
                .as_deref()
                .map(|r| format!(" (rule {r})"))
                .unwrap_or_default()
        );
        // Exchange Online refuses EAS clients below protocol 16.1 (since 1 March 2026): a flag, the
        // connector's decision is unchanged. On premises there is no such floor.
        if hosted && device.is_eas() {
            let protocol = device.eas_protocol_text().unwrap_or("unknown");
            let _ = if device.refused_by_exchange_online() {
                writeln!(
                    out,
                    "  EAS protocol: CANNOT SYNC: {}",
                    crate::model::exchange::refused_protocol_explanation(protocol)
                )
            } else {
                writeln!(out, "  EAS protocol: {protocol}")
            };
        }
        // DeviceIds are letters and digits; anything else is not put in a filter.
        let intune = if device.device_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            engine
                .intune()
                .managed_devices(Some(&format!("easDeviceId eq '{}'", device.device_id)))
                .await
                .map_err(|e| e.to_string())
        } else {
            Ok(Vec::new())
        };
        match intune {
            Ok(records) if records.is_empty() => {
                let _ = writeln!(
                    out,
                    "  Intune: no managed device with this Exchange ActiveSync id (not enrolled, or enrolled without the mail profile)"
                );
            }
            Ok(records) => {
                for r in records {
                    let _ = writeln!(
                        out,
                        "  Intune: {} {}, compliance {:?}, access {:?} ({:?}), last check-in {}",
                        r.device_name.as_deref().unwrap_or(&r.id),
                        r.operating_system.as_deref().unwrap_or(""),
                        r.compliance_state,
                        r.exchange_access_state,
                        r.exchange_access_state_reason,
                        r.last_sync_date_time
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "never".into())
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(out, "  Intune: cannot read ({e})");
            }
        }
        let decision = engine.with_store(|s| s.decisions_for_device(&device.device_id));
        match decision
            .ok()
            .and_then(|d| d.into_iter().max_by_key(|r| r.decided_at))
        {
            Some(d) => {
                let _ = writeln!(
                    out,
                    "  Connector: {:?} because {} (reason {:?}), decided {}, {}",
                    d.decision.desired,
                    d.decision.explanation,
                    d.decision.reason,
                    d.decided_at.to_rfc3339(),
                    d.applied_at
                        .map(|t| format!("applied {}", t.to_rfc3339()))
                        .unwrap_or_else(|| "not applied (nothing to change, or not yet)".into())
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  Connector: no decision yet (no sync has seen this device)"
                );
            }
        }
    }
    engine.shutdown().await;
    Ok(out)
}
