//! Exchange Connector: ties Exchange ActiveSync access to Intune enrolment and compliance.
//!
//! See `ARCHITECTURE.md` at the repository root for the map of modules and the direction of the arrows.
//! In short: `model` and `abq` are plain data and pure rules; `exchange`, `oauth` and the other clients
//! speak the real protocols; `lab` simulates Exchange and Intune and is used only by tests, benchmarks
//! and the `--lab` demo — no production module imports it.

#![warn(missing_docs)]

pub mod abq;
pub mod address;
pub mod atomic_file;
pub mod bridge_protocol;
pub mod certificate;
pub mod config;
pub mod connection;
pub mod diagnose;
pub mod error_text;
pub mod exchange;
pub mod file_rights;
pub mod gui;
pub mod host;
pub mod intune;
pub mod lab;
pub mod logging;
pub mod model;
pub mod notify;
pub mod oauth;
pub mod odata;
pub mod onboarding;
pub mod package;
pub mod policy;
pub mod policy_import;
pub mod proxy;
pub mod retry_after;
pub mod secret;
pub mod secrets;
pub mod service;
pub mod settings;
pub mod store;
pub mod sync;
pub mod text_code;
pub mod tls;
pub mod win;
