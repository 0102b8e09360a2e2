//! The shared domain model: Exchange and Intune objects with their exact wire names, used by the
//! connector and the lab alike. Plain data; no I/O.

pub mod exchange;
pub mod intune;
