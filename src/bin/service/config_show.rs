//! `config show`: the configuration as the connector reads it; secrets only as stored / missing.

use crate::common::Context;
use exchange_connector::config::Config;
use exchange_connector::settings::SETTINGS;

/// Options of `config show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `config show`.
pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let loaded = Config::load(&ctx.config_dir)?;
    let store = ctx.store()?;
    let values = loaded.config.to_values();
    let mut rows: Vec<(&str, String)> = Vec::new();
    for s in SETTINGS {
        let shown = if s.is_secret() {
            match store.get(&ctx.instance, s.key)? {
                Some(_) => "stored".to_string(),
                None => "missing".to_string(),
            }
        } else {
            values
                .iter()
                .find(|(k, _)| *k == s.key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        rows.push((s.key, shown));
    }
    let file = ctx.config_dir.join(exchange_connector::config::CONFIG_FILE);
    if args.json {
        let settings: serde_json::Map<String, serde_json::Value> = rows
            .into_iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v)))
            .collect();
        let out = serde_json::json!({
            "configFile": file.display().to_string(),
            "instance": ctx.instance,
            "secretStore": store.describe().english,
            "settings": settings,
            "warnings": loaded.warnings,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("Configuration file: {}", file.display());
    println!("Instance:           {}", ctx.instance);
    println!("Secret store:       {}", store.describe());
    println!();
    let width = SETTINGS.iter().map(|s| s.key.len()).max().unwrap_or(0);
    for (key, value) in rows {
        let value = if value.is_empty() {
            "(not set)".to_string()
        } else {
            value
        };
        println!("{key:width$}  {value}");
    }
    for w in &loaded.warnings {
        println!("warning: {w}");
    }
    Ok(())
}
