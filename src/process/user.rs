use oci_spec::runtime::User;
use crate::error::Result;
pub fn switch(_u: &User) -> Result<()> { Ok(()) }
