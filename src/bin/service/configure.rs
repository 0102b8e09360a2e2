//! `configure`: writes the configuration file and stores the secrets, from an answers file or from a
//! running lab's endpoints file. Every problem is reported at once, with its line and key, and nothing
//! is written until all of them are fixed. No secret is ever printed.

use crate::common::Context;
use anyhow::Context as _;
use exchange_connector::certificate::ClientCertificate;
use exchange_connector::config::{Config, Values};
use exchange_connector::connection::handoff::SecretsPlace;
use exchange_connector::lab::Endpoints;
use exchange_connector::lab::stand_in;
use exchange_connector::package::ConnectorPackage;
use exchange_connector::secret::Secret;
use exchange_connector::secrets::SecretStore;
use exchange_connector::settings::{self, SettingError};
use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

/// Options of `configure`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["answers", "lab_endpoints"])))]
pub struct Args {
    /// Answers file: `Key=value` lines (`#` starts a comment) or a JSON object, keyed by the settings
    /// of docs/settings.md. Keys not given keep their current value; an empty value clears a key.
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Configure for a running lab from its endpoints file (endpoints.json).
    #[arg(long, value_name = "FILE")]
    lab_endpoints: Option<PathBuf>,
    /// Read secrets as `Key=value` lines from standard input (e.g. `ExchangePassword=...`), so they
    /// need not be written in the answers file.
    #[arg(long, requires = "answers")]
    secrets_stdin: bool,
    /// Start from the defaults instead of the current configuration.
    #[arg(long, requires = "answers")]
    replace: bool,
}

/// Runs `configure`.
pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    if let Some(path) = &args.lab_endpoints {
        return from_lab(ctx, path);
    }
    let Some(path) = &args.answers else {
        anyhow::bail!("give --answers FILE or --lab-endpoints FILE");
    };
    from_answers(ctx, path, args.secrets_stdin, args.replace)
}

/// One `key = value` of an answers file.
struct Answer {
    line: usize,
    key: String,
    value: String,
}

/// A problem, with the line it is on when known.
fn located(line: Option<usize>, e: impl std::fmt::Display) -> String {
    match line {
        Some(n) => format!("line {n}: {e}"),
        None => e.to_string(),
    }
}

fn parse_answers(text: &str) -> Result<Vec<Answer>, Vec<String>> {
    if text.trim_start().starts_with('{') {
        parse_json_answers(text)
    } else {
        parse_line_answers(text)
    }
}

fn parse_line_answers(text: &str) -> Result<Vec<Answer>, Vec<String>> {
    let mut answers = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) => {
                let value = value.trim();
                // Quotes are optional; strip one matching pair.
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                answers.push(Answer {
                    line: i + 1,
                    key: key.trim().to_string(),
                    value: value.to_string(),
                });
            }
            None => errors.push(format!(
                "line {}: expected Key=value (for example ExchangeServer=cas01.contoso.com)",
                i + 1
            )),
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

fn parse_json_answers(text: &str) -> Result<Vec<Answer>, Vec<String>> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| {
            vec![format!(
                "line {}: not a JSON object of settings ({})",
                e.line(),
                // serde_json's own message may quote the input; keep only its category.
                match e.classify() {
                    serde_json::error::Category::Syntax => "syntax error",
                    serde_json::error::Category::Eof => "unexpected end of file",
                    _ => "expected {\"Key\": \"value\", ...}",
                }
            )]
        })?;
    let mut answers = Vec::new();
    let mut errors = Vec::new();
    for (key, value) in map {
        let needle = format!("\"{key}\"");
        let line = text
            .lines()
            .position(|l| l.contains(&needle))
            .map_or(1, |n| n + 1);
        let value = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Null => String::new(),
            _ => {
                errors.push(format!(
                    "line {line}: {key}: must be a string, number or true/false"
                ));
                continue;
            }
        };
        answers.push(Answer { line, key, value });
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

fn from_answers(
    ctx: &Context,
    path: &Path,
    secrets_stdin: bool,
    replace: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the answers file {}", path.display()))?;
    let answers = match parse_answers(&text) {
        Ok(a) => a,
        Err(errors) => return Err(problems(path, errors)),
    };
    let mut errors = Vec::new();
    let mut lines: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut updates: Vec<(&'static str, Option<String>)> = Vec::new();
    let mut secrets_in_file: Vec<(&'static str, Secret)> = Vec::new();
    for a in &answers {
        let setting = match settings::lookup(&a.key) {
            Ok(s) => s,
            Err(e) => {
                errors.push(located(Some(a.line), e));
                continue;
            }
        };
        if let Some(first) = lines.insert(setting.key, a.line) {
            errors.push(located(
                Some(a.line),
                SettingError::new(
                    setting.key,
                    format!("is given twice (first on line {first}); keep one"),
                ),
            ));
            continue;
        }
        if setting.is_secret() {
            if a.value.is_empty() {
                errors.push(located(
                    Some(a.line),
                    SettingError::new(setting.key, "is empty; give the secret or remove the line"),
                ));
            } else {
                secrets_in_file.push((setting.key, Secret::new(a.value.clone())));
            }
            continue;
        }
        if a.value.is_empty() {
            updates.push((setting.key, None));
            continue;
        }
        match setting.validate(&a.value) {
            Ok(v) => updates.push((setting.key, Some(v))),
            Err(e) => errors.push(located(Some(a.line), e)),
        }
    }
    let mut secrets = secrets_in_file.clone();
    if secrets_stdin {
        secrets.extend(read_stdin_secrets(&mut errors)?);
    }

    // Start from the current file (so an answers file may change one key) unless --replace.
    let (mut values, unknown) = if replace {
        (Values::new(), Vec::new())
    } else {
        Config::load_values(&ctx.config_dir)?.unwrap_or_default()
    };
    for (key, value) in updates {
        match value {
            Some(v) => {
                values.insert(key.to_string(), v);
            }
            None => {
                values.remove(key);
            }
        }
    }
    // The combined checks run even when single values failed, so every problem is reported at once;
    // a key that already has a problem is not reported twice.
    let config = match Config::from_values(&values) {
        Ok(mut c) => {
            c.unknown = unknown;
            Some(c)
        }
        Err(es) => {
            for e in es {
                let key = settings::find(&e.key).map(|s| s.key);
                let reported = errors.iter().any(|x| {
                    x.contains(&format!(": {}: ", e.key)) || x.starts_with(&format!("{}: ", e.key))
                });
                if !reported {
                    let line = key.and_then(|k| lines.get(k)).copied();
                    errors.push(located(line, e));
                }
            }
            None
        }
    };
    // A CA file that cannot be read would fail every TLS connection later: catch it now.
    if let Some(ca) = config.as_ref().and_then(|c| c.trusted_ca_file.as_ref())
        && let Err(e) = exchange_connector::tls::read_pem_certificates(ca)
    {
        errors.push(located(
            lines.get("TrustedCaFile").copied(),
            SettingError::new("TrustedCaFile", e.to_string()),
        ));
    }
    let Some(config) = config.filter(|_| errors.is_empty()) else {
        return Err(problems(path, errors));
    };

    // Secrets first: if storing one fails, the configuration file is left as it was. A running
    // worker takes them into its own store.
    let place = crate::handoff::hand_off(ctx, &secrets)?;
    let file = config.save(&ctx.config_dir)?;
    println!("Configuration written to {}", file.display());
    match &place {
        SecretsPlace::Worker(message) => {
            println!("Secrets handed to the running worker: {message}")
        }
        SecretsPlace::Local(store) if !secrets.is_empty() => {
            let names: Vec<&str> = secrets.iter().map(|(k, _)| *k).collect();
            println!("Secrets stored in the {store}: {}", names.join(", "));
        }
        SecretsPlace::Local(_) => {}
    }
    if !place.is_worker() {
        let store = ctx.store()?;
        for w in missing_secret_warnings(&config, store.as_ref(), &ctx.instance)? {
            println!("warning: {w}");
        }
        println!("{}", import_policy(ctx, &config, store.as_ref())?);
    }
    if !secrets_in_file.is_empty() {
        println!(
            "The answers file {} contains secrets; they are now in the secret store. Delete the file.",
            path.display()
        );
    }
    Ok(())
}

/// Imports the retired connector's policy from Intune once, while there is no local policy (a Graph
/// failure is a warning in the returned line, not a failure of `configure`).
fn import_policy(
    ctx: &Context,
    config: &Config,
    store: &dyn exchange_connector::secrets::SecretStore,
) -> anyhow::Result<exchange_connector::policy_import::LegacyImport> {
    let runtime = tokio::runtime::Runtime::new()?;
    Ok(
        runtime.block_on(exchange_connector::policy_import::import_at_setup(
            config,
            store,
            &ctx.instance,
            &ctx.config_dir,
        )),
    )
}

/// Reads `Key=value` secret lines from standard input.
fn read_stdin_secrets(errors: &mut Vec<String>) -> anyhow::Result<Vec<(&'static str, Secret)>> {
    let mut out = Vec::new();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading secrets from standard input")?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let where_ = format!("standard input line {}", i + 1);
        let Some((key, value)) = line.split_once('=') else {
            errors.push(format!("{where_}: expected Key=value"));
            continue;
        };
        match settings::lookup(key.trim()) {
            Ok(s) if s.is_secret() && !value.is_empty() => out.push((s.key, Secret::new(value))),
            Ok(s) if s.is_secret() => errors.push(format!("{where_}: {}: is empty", s.key)),
            Ok(s) => errors.push(format!(
                "{where_}: {}: is not a secret; put it in the answers file",
                s.key
            )),
            Err(e) => errors.push(format!("{where_}: {e}")),
        }
    }
    Ok(out)
}

fn problems(path: &Path, errors: Vec<String>) -> anyhow::Error {
    anyhow::anyhow!(
        "{} problem(s) in {}; nothing was written:\n{}",
        errors.len(),
        path.display(),
        errors
            .iter()
            .map(|e| format!("  - {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// Secrets the configuration needs that the store does not have.
fn missing_secret_warnings(
    config: &Config,
    store: &dyn SecretStore,
    instance: &str,
) -> anyhow::Result<Vec<String>> {
    let has = |key: &str| -> anyhow::Result<bool> { Ok(store.get(instance, key)?.is_some()) };
    let mut out = Vec::new();
    for key in exchange_connector::service::setup::required_secrets(config) {
        if !has(key)? {
            out.push(match key {
                "ExchangePassword" => "ExchangePassword is not stored; the connector cannot sign in to Exchange without it".to_string(),
                "NotificationPassword" => "NotificationPassword is not stored; no notification mail can be sent".to_string(),
                "ProxyPassword" => "ProxyUser is set but ProxyPassword is not stored".to_string(),
                other => format!("{other} is not stored"),
            });
        }
    }
    if !has("ClientSecret")? && !has("ClientCertificate")? {
        out.push("neither ClientSecret nor ClientCertificate is stored; import the connector package or give ClientSecret".into());
    }
    Ok(out)
}

fn from_lab(ctx: &Context, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the lab endpoints file {}", path.display()))?;
    let lab: Endpoints = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a lab endpoints file (endpoints.json)",
            path.display()
        )
    })?;
    // Relative paths in the file are relative to the file's folder; the configuration keeps absolute
    // ones, so the worker finds them from any folder.
    let path =
        std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let cas = lab
        .cas_servers
        .first()
        .context("the lab endpoints file lists no Client Access server")?;
    let package_path = resolve(Path::new(&lab.package_zip));
    let package = ConnectorPackage::read(&package_path)?;
    if package.manifest.tenant_id != lab.tenant_id || package.manifest.client_id != lab.client_id {
        anyhow::bail!(
            "the lab's connector package {} is for another tenant or app than its endpoints file",
            package_path.display()
        );
    }
    // Refuse a package whose certificate cannot be opened rather than store something useless.
    ClientCertificate::from_pfx(
        &package.certificate_pfx,
        &package.manifest.certificate_password,
    )?;

    // Exchange through the lab's PowerShell stand-in, as the setup's `--lab` demo runs it.
    let ca_file = resolve(Path::new(&lab.ca_cert_pem));
    let lab_program = stand_in::lab_program();
    if !lab_program.is_file() {
        anyhow::bail!(
            "the lab's PowerShell stand-in {} is missing; run configure --lab-endpoints from the folder \
             of the lab's programs",
            lab_program.display()
        );
    }
    let wrapper = stand_in::write_wrapper(base, &lab_program, &ca_file).with_context(|| {
        format!(
            "cannot write the PowerShell stand-in's wrapper in {}",
            base.display()
        )
    })?;
    let values: Values = [
        ("ExchangeServer", cas.fqdn.clone()),
        ("ExchangeServerType", "OnPremises".into()),
        ("ExchangePowerShellURL", cas.powershell_url.clone()),
        ("ExchangeUser", lab.service_account.user.clone()),
        (
            "NotificationMailbox",
            lab.notification_account.address.clone(),
        ),
        ("ExchangeWebServiceURL", lab.ews_url.clone()),
        ("TrustedCaFile", ca_file.display().to_string()),
        ("TenantId", lab.tenant_id.clone()),
        ("ClientId", lab.client_id.clone()),
        ("LoginBase", lab.login_base.clone()),
        ("GraphBase", lab.graph_base.clone()),
        ("ExchangeRestBase", lab.exchange_rest_base.clone()),
    ]
    .into_iter()
    .chain(stand_in::connector_settings(&wrapper))
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_values(&values).map_err(|errors| {
        anyhow::anyhow!(
            "the lab endpoints file gives values the connector cannot use:\n{}",
            errors
                .iter()
                .map(|e| format!("  - {e}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    use base64::Engine as _;
    let secrets = [
        (
            "ExchangePassword",
            Secret::new(lab.service_account.password),
        ),
        (
            "NotificationPassword",
            Secret::new(lab.notification_account.password),
        ),
        ("ClientSecret", Secret::new(lab.client_secret)),
        (
            "ClientCertificate",
            Secret::new(base64::engine::general_purpose::STANDARD.encode(&package.certificate_pfx)),
        ),
        (
            "CertificatePassword",
            package.manifest.certificate_password.clone(),
        ),
    ];
    let place = crate::handoff::hand_off(ctx, &secrets)?;
    let file = config.save(&ctx.config_dir)?;
    println!("Configured for the lab: {}", file.display());
    println!(
        "Exchange PowerShell through the lab's stand-in: {}",
        wrapper.display()
    );
    if !place.is_worker() {
        let store = ctx.store()?;
        println!("{}", import_policy(ctx, &config, store.as_ref())?);
    }
    println!(
        "Secrets stored in the {}: {}",
        match &place {
            SecretsPlace::Worker(_) => "running worker's store".to_string(),
            SecretsPlace::Local(store) => store.to_string(),
        },
        secrets
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_answers_keep_line_numbers() {
        let a = parse_answers("# c\n\nExchangeServer = cas01\nProxyPort=\"8080\"\n").unwrap();
        assert_eq!(
            (a[0].line, a[0].key.as_str(), a[0].value.as_str()),
            (3, "ExchangeServer", "cas01")
        );
        assert_eq!(a[1].value, "8080");
        // Answer has no Debug on purpose (it may hold a secret), so no unwrap_err here.
        let Err(e) = parse_answers("ExchangeServer\n") else {
            panic!("a line without '=' must be refused");
        };
        assert!(e[0].starts_with("line 1: expected Key=value"));
    }

    #[test]
    fn json_answers_find_their_lines() {
        let a = parse_answers("{\n  \"ProxyPort\": 8080,\n  \"ProxyEnabled\": true\n}").unwrap();
        let port = a.iter().find(|a| a.key == "ProxyPort").unwrap();
        assert_eq!((port.line, port.value.as_str()), (2, "8080"));
    }
}
