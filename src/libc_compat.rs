//! Two glibc symbols that the C archives of the musl build call and musl
//! lacks. hack/build links Debian's libseccomp.a and libelf.a, compiled
//! against glibc (Debian has no musl builds of them); everything else they
//! call, musl has with glibc's signature and x86_64 ABI.

use libc::{c_char, c_int, c_void};

/// glibc's `rawmemchr`, used by libelf: `memchr` without a bound.
///
/// # Safety
/// `c` (as a byte) occurs in the memory from `s` on, as for glibc's.
#[unsafe(no_mangle)]
unsafe extern "C" fn rawmemchr(s: *const c_void, c: c_int) -> *mut c_void {
    let byte = c as u8;
    let mut p = s.cast::<u8>();
    // SAFETY: the caller guarantees the byte occurs before the object ends.
    unsafe {
        while *p != byte {
            p = p.add(1);
        }
    }
    p.cast_mut().cast()
}

/// glibc's fortified `fprintf`. In libseccomp only `seccomp_export_pfc`
/// (a text dump of a filter) prints, and berth never calls it; should it
/// ever, the export fails the way a failed `fprintf` makes it fail,
/// instead of leaving the symbol unresolved or printing unchecked.
#[unsafe(no_mangle)]
extern "C" fn __fprintf_chk(_stream: *mut c_void, _flag: c_int, _format: *const c_char) -> c_int {
    -1
}
