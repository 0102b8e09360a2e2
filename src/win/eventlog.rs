//! The Windows Event Log: an event source registered under the Application log (the MSI writes its
//! registry key; see `wix/main.wxs`), written with `ReportEventW`.

use std::io;
use windows_sys::Win32::Foundation::HANDLE;
use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_ERROR_TYPE, EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
    RegisterEventSourceW, ReportEventW,
};

/// An open event source, deregistered on drop.
#[derive(Debug)]
pub struct EventSource(HANDLE);

// The handle is only passed to ReportEventW, which is thread-safe.
unsafe impl Send for EventSource {}
// Never mutated after RegisterEventSourceW.
unsafe impl Sync for EventSource {}

impl EventSource {
    /// Opens the source `name` on this computer.
    pub fn open(name: &str) -> io::Result<Self> {
        let name = crate::win::wide(name);
        // SAFETY: NUL-terminated name; null server = this computer.
        let handle = unsafe { RegisterEventSourceW(std::ptr::null(), name.as_ptr()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(EventSource(handle))
    }

    /// Writes one event: its level, its id and its text (one insertion string).
    pub fn report(&self, level: crate::logging::EventLevel, id: u32, text: &str) -> io::Result<()> {
        let kind = match level {
            crate::logging::EventLevel::Error => EVENTLOG_ERROR_TYPE,
            crate::logging::EventLevel::Warning => EVENTLOG_WARNING_TYPE,
            crate::logging::EventLevel::Information => EVENTLOG_INFORMATION_TYPE,
        };
        let text = crate::win::wide(text);
        let strings = [text.as_ptr()];
        // SAFETY: a live source handle; one NUL-terminated insertion string; no raw data.
        let ok = unsafe {
            ReportEventW(
                self.0,
                kind,
                0,
                id,
                std::ptr::null_mut(),
                1,
                0,
                strings.as_ptr(),
                std::ptr::null(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for EventSource {
    fn drop(&mut self) {
        // SAFETY: a handle from RegisterEventSourceW.
        unsafe { DeregisterEventSource(self.0) };
    }
}
