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

/// Frees what a run no longer needs on a thread of its own, then trims the heap
/// ([`release_freed_memory`]): after a converged full sync of 50,000 devices that is ~0.1 s of
/// single-threaded `free` (half a million strings) and a heap walk that nobody waits for. The next
/// run waits for them before it starts ([`Janitor::settle`]), so runs never share the allocator
/// with the previous run's chores, and an idle worker has given its memory back.
#[derive(Clone)]
pub(crate) struct Janitor {
    /// `None` when the thread could not be started: everything is then done in place.
    chores: Option<std::sync::mpsc::Sender<Chore>>,
}

enum Chore {
    Drop(Box<dyn Send>),
    Release,
    Settled(tokio::sync::oneshot::Sender<()>),
}

impl Janitor {
    pub(crate) fn new() -> Self {
        let (chores, pending) = std::sync::mpsc::channel::<Chore>();
        let started = std::thread::Builder::new()
            .name("sync-memory".into())
            // It only frees and trims: a small stack.
            .stack_size(256 * 1024)
            .spawn(move || {
                for chore in pending {
                    match chore {
                        Chore::Drop(value) => drop(value),
                        Chore::Release => release_freed_memory(),
                        Chore::Settled(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
        match started {
            Ok(_) => Janitor {
                chores: Some(chores),
            },
            Err(e) => {
                tracing::debug!(error = %e, "no memory thread: a run frees its memory itself");
                Janitor { chores: None }
            }
        }
    }

    /// Drops `value` on the janitor's thread (here if it has none).
    pub(crate) fn discard<T: Send + 'static>(&self, value: T) {
        if let Some(chores) = &self.chores {
            // Sent back when the thread is gone: dropped here, as the caller would have.
            let _ = chores.send(Chore::Drop(Box::new(value)));
        }
    }

    /// Trims the heap once what was discarded before is freed.
    pub(crate) fn release(&self) {
        match &self.chores {
            Some(chores) => {
                if chores.send(Chore::Release).is_err() {
                    release_freed_memory();
                }
            }
            None => release_freed_memory(),
        }
    }

    /// Waits until everything discarded and released before is done.
    pub(crate) async fn settle(&self) {
        let Some(chores) = &self.chores else { return };
        let (done, settled) = tokio::sync::oneshot::channel();
        if chores.send(Chore::Settled(done)).is_ok() {
            let _ = settled.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Janitor;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// What is discarded is dropped, off the caller's thread, by the time `settle` returns.
    #[tokio::test]
    async fn discarded_values_are_dropped_by_the_time_the_janitor_settles() {
        let janitor = Janitor::new();
        let dropped = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            janitor.discard(vec![Counted(dropped.clone()), Counted(dropped.clone())]);
        }
        janitor.release();
        janitor.settle().await;
        assert_eq!(dropped.load(Ordering::SeqCst), 200);
        let without_thread = Janitor { chores: None };
        without_thread.discard(Counted(dropped.clone()));
        without_thread.release();
        without_thread.settle().await;
        assert_eq!(dropped.load(Ordering::SeqCst), 201);
    }
}
