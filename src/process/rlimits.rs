use oci_spec::runtime::PosixRlimit;
use crate::error::Result;
pub fn validate(_r: &[PosixRlimit]) -> Result<()> { Ok(()) }
pub fn apply(_r: &[PosixRlimit]) -> Result<()> { Ok(()) }
