//! The name of the computer the connector runs on: the Intune registration's `connectorServerName`,
//! the run lease's holder, the service account's `HOST\user`. A leaf module: it imports nothing.

/// This host's name (`COMPUTERNAME`, `HOSTNAME`, `/etc/hostname`, else `localhost`).
pub fn host_name() -> String {
    std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
