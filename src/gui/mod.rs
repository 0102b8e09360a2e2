//! The setup GUI (eframe/egui): the connector dialog, Connect, the status page and Settings.
//!
//! Shape (egui demo habit): one struct per page holding its state, drawing functions that only read and
//! edit that state, and all I/O on a background tokio runtime whose results come back over channels —
//! the UI thread never waits on the network.
//!
//! | file | owns |
//! |---|---|
//! | `app.rs` | [`app::SetupApp`]: pages, language, theme, eframe glue |
//! | `wizard/` | [`wizard::WizardState`] and one drawing file per section of the original dialog |
//! | `connect.rs` | the checks of Connect and *Check and save*, *Replace?*, saving |
//! | `status.rs` | the status page over the control channel |
//! | `settings_policy.rs` | Settings' access policy, notification mail and schedule, and their *Save* |
//! | `i18n.rs` | English, French and Dutch text |
//! | `lab_demo.rs` | `--lab` only: starts the lab and pre-fills the wizard (the one allowed use of `lab`) |

use eframe::egui;
pub mod app;
pub mod connect;
pub mod devices;
pub mod i18n;
pub mod lab_demo;
pub mod settings_policy;
pub mod status;
pub mod wizard;

/// The window title.
pub const WINDOW_TITLE: &str = "Exchange Connector setup";

/// The icon, as committed in `assets/icon.png`.
pub const ICON_PNG: &[u8] = include_bytes!("../../assets/icon.png");

/// Draws the application icon (`size` × `size` RGBA): a blue rounded tile with a white envelope and a
/// green tick. `assets/icon.png` is this image; a test keeps the two the same.
pub fn icon_rgba(size: u32) -> Vec<u8> {
    let s = size as f32;
    let mut out = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            // Rounded square.
            let r = s * 0.18;
            let cx = fx.clamp(r, s - r);
            let cy = fy.clamp(r, s - r);
            let inside = (fx - cx).powi(2) + (fy - cy).powi(2) <= r * r;
            let mut px = if inside {
                [0x1f, 0x5f, 0xbf, 0xff]
            } else {
                [0, 0, 0, 0]
            };
            if inside {
                // Envelope body.
                let (l, t, rr, b) = (s * 0.18, s * 0.28, s * 0.82, s * 0.72);
                if fx >= l && fx <= rr && fy >= t && fy <= b {
                    px = [0xff, 0xff, 0xff, 0xff];
                    // The flap: two lines from the top corners to the middle.
                    let mid = (l + rr) / 2.0;
                    let flap_y = t + (s * 0.22) * (1.0 - ((fx - mid).abs() / (mid - l)));
                    if (fy - flap_y).abs() < s * 0.035 {
                        px = [0x1f, 0x5f, 0xbf, 0xff];
                    }
                }
                // Green tick badge, bottom right.
                let (bx, by, br) = (s * 0.74, s * 0.74, s * 0.2);
                let d = ((fx - bx).powi(2) + (fy - by).powi(2)).sqrt();
                if d <= br {
                    px = [0x2e, 0xa0, 0x4f, 0xff];
                    let on_segment = |ax: f32, ay: f32, cx2: f32, cy2: f32| {
                        let (vx, vy) = (cx2 - ax, cy2 - ay);
                        let t = (((fx - ax) * vx + (fy - ay) * vy) / (vx * vx + vy * vy))
                            .clamp(0.0, 1.0);
                        let (px2, py2) = (ax + t * vx, ay + t * vy);
                        ((fx - px2).powi(2) + (fy - py2).powi(2)).sqrt() < s * 0.03
                    };
                    if on_segment(bx - br * 0.5, by, bx - br * 0.1, by + br * 0.4)
                        || on_segment(bx - br * 0.1, by + br * 0.4, bx + br * 0.55, by - br * 0.4)
                    {
                        px = [0xff, 0xff, 0xff, 0xff];
                    }
                }
            }
            out.extend_from_slice(&px);
        }
    }
    out
}

/// The window icon: `assets/icon.png`, or the same image drawn when the PNG cannot be decoded.
pub fn icon() -> egui::IconData {
    eframe::icon_data::from_png_bytes(ICON_PNG).unwrap_or_else(|_| egui::IconData {
        rgba: icon_rgba(64),
        width: 64,
        height: 64,
    })
}

/// The native window options: title, size, icon.
pub fn native_options() -> eframe::NativeOptions {
    eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(WINDOW_TITLE)
            .with_app_id("exchange-connector-setup")
            .with_inner_size([980.0, 780.0])
            .with_min_inner_size([640.0, 480.0])
            .with_icon(std::sync::Arc::new(icon())),
        ..Default::default()
    }
}
