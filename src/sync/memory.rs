//! Handing a run's memory back. A full sync of 50,000 devices holds tens of MiB of listings at its
//! peak; once the run drops them, glibc's allocator keeps the freed pages in its arenas (one per
//! thread that allocated), so a worker that sleeps until the next run would keep its peak resident.
//! `malloc_trim(0)` returns the free pages of every arena to the kernel.

/// Returns freed heap memory to the operating system, where the allocator keeps it otherwise (glibc
/// on Linux); elsewhere nothing to do (Windows' heap and musl give pages back themselves).
pub(crate) fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            /// glibc: releases free memory at the top of the heap and in every arena.
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: `malloc_trim` only walks the allocator's own free lists, under the allocator's
        // locks; it takes no pointer from us and is safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}
