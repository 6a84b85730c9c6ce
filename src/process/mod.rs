//! The container process's own attributes, applied by the init process just
//! before it executes the user's program: identity, capabilities, resource
//! limits, scheduling and execution domain.

pub mod capabilities;
pub mod mempolicy;
pub mod personality;
pub mod prepare;
pub mod rlimits;
pub mod scheduling;
pub mod user;
