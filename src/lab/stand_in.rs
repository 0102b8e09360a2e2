//! How a connector is pointed at the lab's PowerShell stand-in (`exchange-connector-lab pwsh`).
//!
//! `PowerShellPath` names one program, but the stand-in needs its sub-command and the lab's CA first:
//! a small wrapper script beside the lab's files does that. The setup's `--lab` demo and the service's
//! `configure --lab-endpoints` both write it here, so the GUI and the CLI run the same stand-in the
//! same way.

use std::path::{Path, PathBuf};

/// The wrapper's file name: `lab-pwsh` (a shell script), `lab-pwsh.cmd` on Windows.
pub const WRAPPER_NAME: &str = if cfg!(windows) {
    "lab-pwsh.cmd"
} else {
    "lab-pwsh"
};

/// `exchange-connector-lab` in the folder of the running program (the three programs ship together).
pub fn lab_program() -> PathBuf {
    let name = if cfg!(windows) {
        "exchange-connector-lab.exe"
    } else {
        "exchange-connector-lab"
    };
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Writes the wrapper in `dir` that runs `lab_program pwsh --ca-file ca_file` with the arguments a
/// PowerShell host gets, and returns its path.
pub fn write_wrapper(dir: &Path, lab_program: &Path, ca_file: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join(WRAPPER_NAME);
    let text = if cfg!(windows) {
        format!(
            "@echo off\r\n\"{}\" pwsh --ca-file \"{}\" %*\r\n",
            lab_program.display(),
            ca_file.display()
        )
    } else {
        format!(
            "#!/bin/sh\nexec {} pwsh --ca-file {} \"$@\"\n",
            sh_quoted(lab_program),
            sh_quoted(ca_file)
        )
    };
    std::fs::write(&path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(path)
}

/// The settings that make the connector run the stand-in through `wrapper`: the program, and Basic
/// authentication (the lab's CAS speaks https, so Basic does not expose the password).
pub fn connector_settings(wrapper: &Path) -> [(&'static str, String); 2] {
    [
        ("PowerShellPath", wrapper.display().to_string()),
        ("PowerShellAuthentication", "Basic".to_string()),
    ]
}

/// `path` in single quotes for `sh` (a `'` inside becomes `'\''`).
fn sh_quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_wrapper_runs_the_stand_in_with_the_ca_and_passes_arguments_through() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_wrapper(
            dir.path(),
            Path::new("/opt/it's/exchange-connector-lab"),
            Path::new("/lab/lab-ca.pem"),
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "#!/bin/sh\nexec '/opt/it'\\''s/exchange-connector-lab' pwsh --ca-file '/lab/lab-ca.pem' \"$@\"\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }
}
