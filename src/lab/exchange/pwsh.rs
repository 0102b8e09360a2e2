//! The PowerShell stand-in (in progress).

/// Arguments of `exchange-connector-lab pwsh`.
#[derive(Debug, clap::Args)]
pub struct PwshArgs {
    /// PEM file of the lab CA to trust.
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Arguments a PowerShell host would get (`-NoProfile -File ...`); accepted and ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub powershell_args: Vec<String>,
}

/// Runs the stand-in until stdin closes.
pub async fn run(_args: PwshArgs) -> std::process::ExitCode {
    std::process::ExitCode::from(2)
}
