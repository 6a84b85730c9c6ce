use crate::error::Result;
use oci_spec::runtime::LinuxCapabilities;
pub fn drop_bounding(_c: Option<&LinuxCapabilities>) -> Result<()> {
    Ok(())
}
pub fn apply(_c: Option<&LinuxCapabilities>) -> Result<()> {
    Ok(())
}
