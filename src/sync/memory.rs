//! Handing a run's memory back. A full sync of 50,000 devices holds tens of MiB of listings at its
//! peak; once the run drops them, glibc's allocator keeps the freed pages in its arenas (one per
//! thread that allocated), so a worker that sleeps until the next run would keep its peak resident.
//! `malloc_trim(0)` returns the free pages of every arena to the kernel.
//!
//! Trimming frees whole free pages only. Two of glibc's defaults kept a worker's RSS far above its
//! live data (bench, 50,000 devices: idle 32–37 MiB with 3–6 MiB in use, peak 172–180 MiB): an arena per
//! thread (up to 8 per core; a run's records land in several, each keeping its own free pages), and
//! a threshold for serving big blocks with `mmap` that rises each time one is freed, so the 1 MB
//! page texts and the big vectors of a run end up in the arenas, where the small records that
//! outlive the run pin them. [`tune_allocator`] sets both at start.

/// Sets glibc's allocator up for a worker that sleeps between bursts: two arenas, blocks of 128 KiB
/// and more always from `mmap` (given back the moment they are freed), and the heap's top kept
/// during a run (trimmed at its end). Call first thing in `main`, before any thread starts.
/// Elsewhere nothing to do (Windows' heap returns big blocks to the system itself).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        const M_ARENA_MAX: std::ffi::c_int = -8;
        unsafe extern "C" {
            /// glibc: sets an allocator parameter; returns 1 on success.
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        // SAFETY: `mallopt` takes two integers and changes the allocator's parameters under its
        // own lock; these three parameters are documented for use at any time.
        unsafe {
            mallopt(M_ARENA_MAX, 2);
            mallopt(M_MMAP_THRESHOLD, 128 * 1024);
            // A fixed mmap threshold also fixes the trim threshold at 128 KiB, and the heap's top
            // would then go back to the kernel and be faulted in again all through a run. The run's
            // end trims explicitly (`release_freed_memory`), so the top may stay during a run.
            mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024);
        }
    }
}

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
