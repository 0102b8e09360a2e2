//! SIDs: the service's own SID (computed, as Windows does, from the service name), the well-known
//! ones the connector trusts, and (Windows) who a process runs as and whether it is elevated.

use sha1::{Digest, Sha1};

/// `NT AUTHORITY\SYSTEM`.
pub const SYSTEM: &str = "S-1-5-18";
/// `NT AUTHORITY\LOCAL SERVICE`.
pub const LOCAL_SERVICE: &str = "S-1-5-19";
/// `BUILTIN\Administrators`.
pub const ADMINISTRATORS: &str = "S-1-5-32-544";

/// The SID of `NT SERVICE\<service_name>`: `S-1-5-80-` followed by the SHA-1 of the upper-cased
/// service name in UTF-16LE, read as five little-endian 32-bit numbers. It exists before the service
/// runs, so ACLs can name it at install time.
pub fn service_sid(service_name: &str) -> String {
    let mut hasher = Sha1::new();
    for unit in service_name.to_uppercase().encode_utf16() {
        hasher.update(unit.to_le_bytes());
    }
    let digest = hasher.finalize();
    let parts: Vec<String> = digest
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]).to_string())
        .collect();
    format!("S-1-5-80-{}", parts.join("-"))
}

/// `NT SERVICE\TrustedInstaller`, which owns system folders.
pub fn trusted_installer() -> String {
    service_sid("TrustedInstaller")
}

/// Who a process runs as: its token's user and group SIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIdentity {
    /// The token's user.
    pub user: String,
    /// Its groups (a service started with an unrestricted service SID has that SID here).
    pub groups: Vec<String>,
}

impl TokenIdentity {
    /// Whether the token's user or one of its groups is one of `sids`.
    pub fn is_any_of(&self, sids: &[String]) -> bool {
        sids.iter()
            .any(|s| s.eq_ignore_ascii_case(&self.user) || self.groups.iter().any(|g| g == s))
    }
}

#[cfg(windows)]
pub use imp::*;

#[cfg(windows)]
mod imp {
    use super::TokenIdentity;
    use std::ffi::c_void;
    use std::io;
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
    use windows_sys::Win32::Security::{
        GetTokenInformation, PSID, TOKEN_ELEVATION, TOKEN_GROUPS, TOKEN_QUERY, TOKEN_USER,
        TokenElevation, TokenGroups, TokenUser,
    };
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
    };

    /// A handle closed on drop.
    struct Handle(HANDLE);
    impl Drop for Handle {
        fn drop(&mut self) {
            // SAFETY: a handle this module opened.
            unsafe { CloseHandle(self.0) };
        }
    }

    /// The string form of a SID.
    ///
    /// # Safety
    /// `sid` must point to a valid SID.
    pub(crate) unsafe fn sid_string(sid: PSID) -> io::Result<String> {
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: valid SID (caller), valid out pointer; the string is freed by take_local_wide.
        if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: allocated by ConvertSidToStringSidW with LocalAlloc.
        Ok(unsafe { crate::win::take_local_wide(text) })
    }

    /// One token information class, in a buffer of the size the OS asks for.
    fn token_info(token: HANDLE, class: i32) -> io::Result<Vec<u64>> {
        let mut needed = 0u32;
        // SAFETY: a size query with no buffer.
        unsafe { GetTokenInformation(token, class, std::ptr::null_mut(), 0, &mut needed) };
        if needed == 0 {
            return Err(io::Error::last_os_error());
        }
        // u64 cells: the structures hold pointers and need their alignment.
        let mut buffer = vec![0u64; (needed as usize).div_ceil(8)];
        // SAFETY: the buffer holds `needed` bytes.
        let ok = unsafe {
            GetTokenInformation(
                token,
                class,
                buffer.as_mut_ptr() as *mut c_void,
                needed,
                &mut needed,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(buffer)
    }

    fn identity_of_token(token: HANDLE) -> io::Result<TokenIdentity> {
        let user = token_info(token, TokenUser)?;
        // SAFETY: GetTokenInformation(TokenUser) filled the buffer with a TOKEN_USER.
        let user = unsafe { sid_string((*(user.as_ptr() as *const TOKEN_USER)).User.Sid)? };
        let groups = token_info(token, TokenGroups)?;
        let groups = groups.as_ptr() as *const TOKEN_GROUPS;
        // SAFETY: a TOKEN_GROUPS whose array holds GroupCount entries.
        let entries = unsafe {
            std::slice::from_raw_parts((*groups).Groups.as_ptr(), (*groups).GroupCount as usize)
        };
        let groups = entries
            .iter()
            // SAFETY: each entry's SID is valid while the buffer lives.
            .filter_map(|g| unsafe { sid_string(g.Sid) }.ok())
            .collect();
        Ok(TokenIdentity { user, groups })
    }

    fn own_token() -> io::Result<Handle> {
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: the pseudo-handle of this process; valid out pointer.
        if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Handle(token))
    }

    /// Who this process runs as.
    pub fn current_identity() -> io::Result<TokenIdentity> {
        identity_of_token(own_token()?.0)
    }

    /// The SID of this process's user.
    pub fn current_user_sid() -> io::Result<String> {
        Ok(current_identity()?.user)
    }

    /// Who process `pid` runs as (needs PROCESS_QUERY_LIMITED_INFORMATION on it: an administrator
    /// has it on services).
    pub fn process_identity(pid: u32) -> io::Result<TokenIdentity> {
        // SAFETY: plain call; the handle is closed on drop.
        let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if process.is_null() {
            return Err(io::Error::last_os_error());
        }
        let process = Handle(process);
        let mut token: HANDLE = std::ptr::null_mut();
        // SAFETY: a process handle opened above; valid out pointer.
        if unsafe { OpenProcessToken(process.0, TOKEN_QUERY, &mut token) } == 0 {
            return Err(io::Error::last_os_error());
        }
        identity_of_token(Handle(token).0)
    }

    /// Whether this process runs elevated (an administrator's full token, not the filtered one UAC
    /// gives by default).
    pub fn is_elevated() -> io::Result<bool> {
        let info = token_info(own_token()?.0, TokenElevation)?;
        // SAFETY: GetTokenInformation(TokenElevation) filled a TOKEN_ELEVATION.
        Ok(unsafe { (*(info.as_ptr() as *const TOKEN_ELEVATION)).TokenIsElevated } != 0)
    }

    /// Whether this is Wine rather than Windows (its ntdll exports `wine_get_version`). Wine runs
    /// every process, services included, as one user and enforces no DACL, so the few checks that
    /// depend on accounts have a stand-in there, each documented where it is used.
    pub fn running_under_wine() -> bool {
        use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
        let ntdll = crate::win::wide("ntdll.dll");
        // SAFETY: ntdll is loaded in every process; the names are NUL-terminated.
        unsafe {
            let module = GetModuleHandleW(ntdll.as_ptr());
            !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr() as _).is_some()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_sids_match_windows() {
        // Published values: TrustedInstaller's SID, and the one `sc showsid` prints for the name.
        assert_eq!(
            trusted_installer(),
            "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
        );
        // Case does not matter: Windows upper-cases the name first.
        assert_eq!(service_sid("trustedinstaller"), trusted_installer());
        assert_ne!(service_sid("ExchangeConnector"), trusted_installer());
        assert!(service_sid("ExchangeConnector").starts_with("S-1-5-80-"));
    }

    #[test]
    fn identity_matches_user_or_group() {
        let id = TokenIdentity {
            user: "S-1-5-19".into(),
            groups: vec!["S-1-5-80-1-2-3-4-5".into()],
        };
        assert!(id.is_any_of(&["S-1-5-80-1-2-3-4-5".into()]));
        assert!(id.is_any_of(&[LOCAL_SERVICE.into()]));
        assert!(!id.is_any_of(&[SYSTEM.into()]));
    }
}
