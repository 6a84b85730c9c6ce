use crate::error::Result;
use oci_spec::runtime::PosixRlimit;
pub fn validate(_r: &[PosixRlimit]) -> Result<()> {
    Ok(())
}
pub fn apply(_r: &[PosixRlimit]) -> Result<()> {
    Ok(())
}
