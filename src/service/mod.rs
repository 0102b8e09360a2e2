//! The worker runtime: the local control channel the setup GUI and the CLI use to talk to the
//! running worker and its typed messages (`messages`), the schedule, the worker loop, the production
//! engine set-up, and the Windows service integration.

pub mod channel;
pub mod logs;
pub mod messages;
pub mod registration;
pub mod rotation;
pub mod schedule;
pub mod setup;
pub mod windows;
pub mod worker;
