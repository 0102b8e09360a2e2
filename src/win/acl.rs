//! DACLs of folders and files, in SDDL: the data folder's (SYSTEM and Administrators full control, the
//! service modify, nobody else, protected from inheritance), an owner-only file's, and the check that
//! no one else can write a folder the service loads policy or templates from.

/// Rights that let someone plant or replace a file in a folder (or rewrite its rights): add file, add
/// subfolder, delete child, delete, write DAC, write owner, generic write, generic all.
pub const WRITE_RIGHTS: u32 =
    0x2 | 0x4 | 0x40 | 0x1_0000 | 0x4_0000 | 0x8_0000 | 0x4000_0000 | 0x1000_0000;

/// "Modify" in the Explorer's words: read, write, execute and delete, without changing rights.
const MODIFY: &str = "0x1301bf";

/// The data folder's DACL: protected (`P`: nothing inherited from `%ProgramData%`, whose DACL lets
/// Users create files), inherited by everything below it (`OICI`).
pub fn data_folder_sddl(service_sid: &str) -> String {
    format!("D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;{MODIFY};;;{service_sid})")
}

/// An owner-only file's DACL: its owner (the creating account) and SYSTEM, nothing inherited.
pub fn owner_only_sddl(owner_sid: &str) -> String {
    format!("D:P(A;;FA;;;{owner_sid})(A;;FA;;;SY)")
}

#[cfg(windows)]
pub use imp::*;

#[cfg(windows)]
mod imp {
    use super::WRITE_RIGHTS;
    use std::ffi::c_void;
    use std::io;
    use std::path::Path;
    use windows_sys::Win32::Foundation::{ERROR_SUCCESS, LocalFree};
    use windows_sys::Win32::Security::Authorization::{
        ConvertSecurityDescriptorToStringSecurityDescriptorW,
        ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
        SDDL_REVISION_1, SE_FILE_OBJECT, SetNamedSecurityInfoW,
    };
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation,
        DACL_SECURITY_INFORMATION, GetAce, GetAclInformation, GetSecurityDescriptorDacl,
        PROTECTED_DACL_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR,
    };

    /// ACE type of an access-allowed entry; flag of an entry that applies only to children.
    const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
    const INHERIT_ONLY_ACE: u8 = 0x8;

    /// A security descriptor the OS allocated with `LocalAlloc`, freed on drop.
    struct Descriptor(PSECURITY_DESCRIPTOR);
    impl Drop for Descriptor {
        fn drop(&mut self) {
            // SAFETY: allocated by the OS with LocalAlloc.
            unsafe { LocalFree(self.0 as _) };
        }
    }

    fn win32(code: u32) -> io::Result<()> {
        if code == ERROR_SUCCESS {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(code as i32))
        }
    }

    /// Replaces the DACL of `path` with the one in `sddl` (a `D:` string), protected from inherited
    /// entries; children of a folder receive its inheritable entries.
    pub fn set_protected_dacl(path: &Path, sddl: &str) -> io::Result<()> {
        let text = crate::win::wide(sddl);
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: NUL-terminated string, valid out pointer; freed by Descriptor.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut descriptor,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        let descriptor = Descriptor(descriptor);
        let (mut present, mut defaulted) = (0, 0);
        let mut dacl: *mut ACL = std::ptr::null_mut();
        // SAFETY: a valid descriptor; valid out pointers. The DACL lives inside the descriptor.
        if unsafe {
            GetSecurityDescriptorDacl(descriptor.0, &mut present, &mut dacl, &mut defaulted)
        } == 0
        {
            return Err(io::Error::last_os_error());
        }
        let name = crate::win::wide(path.as_os_str());
        // SAFETY: NUL-terminated name; the DACL is valid while `descriptor` lives.
        win32(unsafe {
            SetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                dacl,
                std::ptr::null(),
            )
        })
    }

    fn named_dacl(path: &Path) -> io::Result<(Descriptor, *mut ACL)> {
        let name = crate::win::wide(path.as_os_str());
        let mut dacl: *mut ACL = std::ptr::null_mut();
        let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: NUL-terminated name, valid out pointers; the descriptor is freed by Descriptor.
        win32(unsafe {
            GetNamedSecurityInfoW(
                name.as_ptr(),
                SE_FILE_OBJECT,
                DACL_SECURITY_INFORMATION,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut dacl,
                std::ptr::null_mut(),
                &mut descriptor,
            )
        })?;
        Ok((Descriptor(descriptor), dacl))
    }

    /// The DACL of `path` as SDDL (`D:P(A;...)...`), as the OS reads it back.
    pub fn dacl_sddl(path: &Path) -> io::Result<String> {
        let (descriptor, _) = named_dacl(path)?;
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: a valid descriptor, valid out pointer; the text is freed by take_local_wide.
        let ok = unsafe {
            ConvertSecurityDescriptorToStringSecurityDescriptorW(
                descriptor.0,
                SDDL_REVISION_1,
                DACL_SECURITY_INFORMATION,
                &mut text,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: allocated by the OS with LocalAlloc.
        Ok(unsafe { crate::win::take_local_wide(text) })
    }

    /// The accounts, other than `trusted`, that may create, replace or delete files in `path` or
    /// change its rights. A missing DACL grants everyone everything: reported as `Everyone`.
    pub fn others_who_can_write(path: &Path, trusted: &[String]) -> io::Result<Vec<String>> {
        let (_descriptor, dacl) = named_dacl(path)?;
        if dacl.is_null() {
            return Ok(vec!["Everyone (the folder has no DACL)".into()]);
        }
        let mut size = ACL_SIZE_INFORMATION {
            AceCount: 0,
            AclBytesInUse: 0,
            AclBytesFree: 0,
        };
        // SAFETY: a valid ACL; the buffer is an ACL_SIZE_INFORMATION.
        let ok = unsafe {
            GetAclInformation(
                dacl,
                &mut size as *mut _ as *mut c_void,
                std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
                AclSizeInformation,
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut others = Vec::new();
        for index in 0..size.AceCount {
            let mut ace: *mut c_void = std::ptr::null_mut();
            // SAFETY: index < AceCount of a valid ACL.
            if unsafe { GetAce(dacl, index, &mut ace) } == 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: every ACE starts with an ACE_HEADER.
            let header = unsafe { &*(ace as *const ACE_HEADER) };
            if header.AceType != ACCESS_ALLOWED_ACE_TYPE || header.AceFlags & INHERIT_ONLY_ACE != 0
            {
                continue;
            }
            // SAFETY: an access-allowed ACE; its SID starts at SidStart.
            let allowed = unsafe { &*(ace as *const ACCESS_ALLOWED_ACE) };
            if allowed.Mask & WRITE_RIGHTS == 0 {
                continue;
            }
            // SAFETY: SidStart is the first DWORD of a valid SID inside the ACE.
            let sid = unsafe { crate::win::sid::sid_string(&allowed.SidStart as *const u32 as _)? };
            if !trusted.iter().any(|t| t.eq_ignore_ascii_case(&sid)) && !others.contains(&sid) {
                others.push(sid);
            }
        }
        Ok(others)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sddl_strings() {
        let sddl = data_folder_sddl("S-1-5-80-1-2-3-4-5");
        assert!(sddl.starts_with("D:P("), "protected: {sddl}");
        assert!(sddl.contains("(A;OICI;FA;;;SY)") && sddl.contains("(A;OICI;FA;;;BA)"));
        assert!(sddl.contains("(A;OICI;0x1301bf;;;S-1-5-80-1-2-3-4-5)"));
        // Users, Authenticated Users and Everyone get nothing.
        for loose in ["BU", "AU", "WD"] {
            assert!(!sddl.contains(&format!(";;;{loose})")), "{sddl}");
        }
        assert_eq!(
            owner_only_sddl("S-1-5-21-1"),
            "D:P(A;;FA;;;S-1-5-21-1)(A;;FA;;;SY)"
        );
    }
}
