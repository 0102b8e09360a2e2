//! The worker runtime. For now: the local control channel the setup GUI and the CLI use to talk to
//! the running worker. (The scheduler, the Windows service and systemd integration come next.)

pub mod channel;
pub mod schedule;
