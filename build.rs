//! Windows builds only: embeds the icon (`assets/exchange-connector.ico`) and the version resource
//! (product name, description, version from Cargo.toml) in every `.exe`, with `windres` (MinGW's
//! `x86_64-w64-mingw32-windres` when cross-compiling from Linux, `rc.exe` with MSVC). Other targets:
//! nothing to do.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=assets/exchange-connector.ico");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return;
    }
    let mut resource = winresource::WindowsResource::new();
    resource
        .set_icon("assets/exchange-connector.ico")
        .set("ProductName", "Exchange Connector")
        .set(
            "FileDescription",
            "Exchange Connector: Exchange ActiveSync access from Intune compliance",
        )
        .set("CompanyName", "Exchange Connector contributors")
        .set("LegalCopyright", "MIT OR Apache-2.0");
    if let Err(e) = resource.compile() {
        // A missing windres is a setup problem the developer must see, not a silent icon-less build.
        println!(
            "cargo:warning=cannot embed the icon and version resource: {e}. Install MinGW's windres (Debian: gcc-mingw-w64-x86-64)."
        );
        std::process::exit(1);
    }
}
