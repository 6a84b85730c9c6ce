use oci_spec::runtime::LinuxCapabilities;
use crate::error::Result;
pub fn drop_bounding(_c: Option<&LinuxCapabilities>) -> Result<()> { Ok(()) }
pub fn apply(_c: Option<&LinuxCapabilities>) -> Result<()> { Ok(()) }
