//! How quickly the lab generates and serves a large organisation, and how much memory it takes.
//! Prints figures; asserts nothing about time. Run: `cargo bench --bench lab_scale`
//! (`LAB_USERS` / `LAB_DEVICES` override the 20,000 / 50,000 default).

use exchange_connector::lab::generate::{GenerateSpec, generate};
use exchange_connector::lab::server::{LabOptions, start};
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let users = env_or("LAB_USERS", 20_000);
    let devices = env_or("LAB_DEVICES", 50_000);
    let baseline = peak_rss_mib();
    let t0 = Instant::now();
    let scenario = generate(GenerateSpec { users, devices, seed: 42 });
    let generated = t0.elapsed();
    let dir = tempfile::tempdir().expect("tempdir");
    let t1 = Instant::now();
    let lab = start(LabOptions { scenario, dir: dir.path().to_path_buf() })
        .await
        .expect("lab starts");
    let started = t1.elapsed();
    let http = exchange_connector::tls::http_client_builder(Some(std::path::Path::new(&lab.endpoints.ca_cert_pem)))
        .expect("tls")
        .build()
        .expect("client");
    let t2 = Instant::now();
    let listed: Vec<serde_json::Value> = http
        .get(format!("{}/devices", lab.endpoints.control_base))
        .send()
        .await
        .expect("devices")
        .json()
        .await
        .expect("json");
    let listing = t2.elapsed();
    let managed = lab.state.tenant().managed_devices.len();
    println!("lab_scale: {users} mailboxes, {devices} devices, {managed} managed devices");
    println!("lab_scale: generate {generated:.2?}, build+listen {started:.2?}, total {:.2?}", generated + started);
    println!("lab_scale: control API listing of {} devices {listing:.2?}", listed.len());
    println!("lab_scale: peak RSS {:.1} MiB (process baseline {baseline:.1} MiB)", peak_rss_mib());
    lab.shutdown().await;
}
