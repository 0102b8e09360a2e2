//! Windows security as the connector uses it, in one place: SIDs and process tokens (`sid`), folder
//! and file DACLs (`acl`), DPAPI (`dpapi`), the Windows vault for secrets (`vault`) and the Event Log
//! (`eventlog`).
//!
//! The string forms (service SIDs, SDDL) are built on every platform so they are unit-tested on Linux;
//! the API calls exist on Windows only. Under Wine some of these calls are stand-ins (see
//! [`sid::running_under_wine`] and ARCHITECTURE.md "Windows delivery").

pub mod acl;
pub mod sid;

#[cfg(windows)]
pub mod dpapi;
#[cfg(windows)]
pub mod eventlog;
#[cfg(windows)]
pub mod vault;

/// A NUL-terminated UTF-16 copy of `text`, for the `...W` functions.
#[cfg(windows)]
pub(crate) fn wide(text: impl AsRef<std::ffi::OsStr>) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    text.as_ref()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// Reads a NUL-terminated UTF-16 string the OS allocated with `LocalAlloc`, and frees it.
///
/// # Safety
/// `text` must be null or a valid NUL-terminated string allocated with `LocalAlloc`.
#[cfg(windows)]
pub(crate) unsafe fn take_local_wide(text: *mut u16) -> String {
    if text.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the caller guarantees a NUL-terminated string.
    while unsafe { *text.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: `len` units were just read.
    let value = String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(text, len) });
    // SAFETY: allocated by the OS with LocalAlloc (caller's contract).
    unsafe { windows_sys::Win32::Foundation::LocalFree(text as _) };
    value
}
