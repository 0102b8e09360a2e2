//! Windows builds only: embeds in every `.exe` the icon (`assets/exchange-connector.ico`), the version
//! resource (product name, description, version from Cargo.toml) and an application manifest, with
//! `windres` (MinGW's `x86_64-w64-mingw32-windres` when cross-compiling from Linux, `rc.exe` with
//! MSVC). Other targets: nothing to do.
//!
//! The manifest's requested execution level is per program: the setup asks for `requireAdministrator`
//! (UAC elevates it: it hands secrets to the service over a pipe only elevated administrators may open,
//! and it writes `%ProgramData%`); the service and the lab run `asInvoker` (the SCM starts the
//! service under its own account; the service's CLI checks elevation where it needs it and says so).

/// The programs and their execution levels.
const PROGRAMS: &[(&str, &str)] = &[
    ("exchange-connector-setup", "requireAdministrator"),
    ("exchange-connector-service", "asInvoker"),
    ("exchange-connector-lab", "asInvoker"),
];

/// An application manifest: the execution level, and Windows 10/11 as the supported OS (without it
/// Windows runs the program in a compatibility mode that misreports its version).
fn manifest(level: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v1" manifestVersion="1.0">
  <trustInfo xmlns="urn:schemas-microsoft-com:asm.v3">
    <security>
      <requestedPrivileges>
        <requestedExecutionLevel level="{level}" uiAccess="false"/>
      </requestedPrivileges>
    </security>
  </trustInfo>
  <compatibility xmlns="urn:schemas-microsoft-com:compatibility.v1">
    <application>
      <supportedOS Id="{{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}}"/>
    </application>
  </compatibility>
</assembly>
"#
    )
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=assets/exchange-connector.ico");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    for (program, level) in PROGRAMS {
        let mut resource = winresource::WindowsResource::new();
        resource
            .set_icon("assets/exchange-connector.ico")
            .set("ProductName", "Exchange Connector")
            .set(
                "FileDescription",
                "Exchange Connector: Exchange ActiveSync access from Intune compliance",
            )
            .set("CompanyName", "Exchange Connector contributors")
            .set("LegalCopyright", "MIT OR Apache-2.0")
            .set_manifest(&manifest(level));
        if let Err(e) = resource.compile_for(program) {
            // A missing windres is a setup problem the developer must see, not a silent icon-less build.
            println!(
                "cargo:warning=cannot embed the icon, version resource and manifest of {program}: {e}. Install MinGW's windres (Debian: gcc-mingw-w64-x86-64)."
            );
            std::process::exit(1);
        }
    }
}
