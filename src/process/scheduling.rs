use crate::error::Result;
use oci_spec::runtime::{LinuxIOPriority, Scheduler};
pub fn set_io_priority(_p: &LinuxIOPriority) -> Result<()> {
    Ok(())
}
pub fn set_scheduler(_s: &Scheduler) -> Result<()> {
    Ok(())
}
