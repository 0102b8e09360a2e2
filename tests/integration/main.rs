//! The integration tests, one binary: each module drives the library or the real binaries against a
//! lab on loopback. (One binary links once; twenty would each link the whole library.)

#[path = "../common/mod.rs"]
mod common;
#[path = "../idgraph_support/mod.rs"]
mod idgraph_support;

mod bounded_waits;
mod config_cli;
mod diagnose;
mod exchange_client;
mod hosted;
mod hosted_rbac;
mod intune_client;
mod lab_binary;
mod lab_ews;
mod lab_exchange;
mod lab_exchange_client;
mod lab_graph;
mod lab_identity;
mod lab_pwsh;
mod lab_server;
mod module_deps;
mod notify;
mod notify_negotiate;
mod onboarding;
mod policy_table;
mod prop_hosted;
mod prop_parsers;
mod readme;
mod store;
mod store_runs;
mod sync_engine;
mod sync_user;
mod worker;
mod worker_channel;
