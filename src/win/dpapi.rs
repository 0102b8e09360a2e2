//! DPAPI (`CryptProtectData`) under the calling account: only a process running as the same account
//! on the same machine can decrypt. Without `CRYPTPROTECT_LOCAL_MACHINE` (which would let any local
//! process decrypt) and with `CRYPTPROTECT_UI_FORBIDDEN` (a service has no desktop to prompt on).

use std::io;
use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Cryptography::{
    CRYPT_INTEGER_BLOB, CRYPTPROTECT_UI_FORBIDDEN, CryptProtectData, CryptUnprotectData,
};

/// Bound into every blob as extra entropy: a blob of another program under the same account does not
/// decrypt as ours.
const ENTROPY: &[u8] = b"ExchangeConnector/secret/v1";

fn blob(bytes: &[u8]) -> CRYPT_INTEGER_BLOB {
    CRYPT_INTEGER_BLOB {
        cbData: bytes.len() as u32,
        pbData: bytes.as_ptr() as *mut u8,
    }
}

/// Copies an output blob and frees it.
///
/// # Safety
/// `out` must have been filled by CryptProtectData / CryptUnprotectData.
unsafe fn take(out: CRYPT_INTEGER_BLOB) -> Vec<u8> {
    if out.pbData.is_null() {
        return Vec::new();
    }
    // SAFETY: the OS allocated cbData bytes at pbData.
    let bytes = unsafe { std::slice::from_raw_parts(out.pbData, out.cbData as usize) }.to_vec();
    // SAFETY: allocated with LocalAlloc by the OS.
    unsafe { LocalFree(out.pbData as _) };
    bytes
}

/// The signature CryptProtectData and CryptUnprotectData share for what is used here: input,
/// entropy, flags, output.
type DpapiCall =
    unsafe fn(&CRYPT_INTEGER_BLOB, &CRYPT_INTEGER_BLOB, &mut CRYPT_INTEGER_BLOB) -> i32;

fn call(input: &[u8], f: DpapiCall) -> io::Result<Vec<u8>> {
    let input = blob(input);
    let entropy = blob(ENTROPY);
    let mut out = blob(&[]);
    // SAFETY: the input blobs point to live slices; the output is taken (and freed) below.
    if unsafe { f(&input, &entropy, &mut out) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: filled by the DPAPI call.
    Ok(unsafe { take(out) })
}

/// Encrypts `plain` for the calling account.
pub fn protect(plain: &[u8]) -> io::Result<Vec<u8>> {
    /// # Safety
    /// Valid blobs (see [`call`]).
    unsafe fn seal(
        input: &CRYPT_INTEGER_BLOB,
        entropy: &CRYPT_INTEGER_BLOB,
        out: &mut CRYPT_INTEGER_BLOB,
    ) -> i32 {
        let description = crate::win::wide("ExchangeConnector secret");
        // SAFETY: valid blobs (caller) and a NUL-terminated description.
        unsafe {
            CryptProtectData(
                input,
                description.as_ptr(),
                entropy,
                std::ptr::null(),
                std::ptr::null(),
                CRYPTPROTECT_UI_FORBIDDEN,
                out,
            )
        }
    }
    call(plain, seal)
}

/// Decrypts a blob [`protect`] made under the same account.
pub fn unprotect(sealed: &[u8]) -> io::Result<Vec<u8>> {
    /// # Safety
    /// Valid blobs (see [`call`]).
    unsafe fn open(
        input: &CRYPT_INTEGER_BLOB,
        entropy: &CRYPT_INTEGER_BLOB,
        out: &mut CRYPT_INTEGER_BLOB,
    ) -> i32 {
        // SAFETY: valid blobs (caller); no description is asked for.
        unsafe {
            CryptUnprotectData(
                input,
                std::ptr::null_mut(),
                entropy,
                std::ptr::null(),
                std::ptr::null(),
                CRYPTPROTECT_UI_FORBIDDEN,
                out,
            )
        }
    }
    call(sealed, open)
}
