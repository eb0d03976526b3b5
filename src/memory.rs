//! The allocator, and handing freed memory back to the operating system.
//!
//! jemalloc is the global allocator of every binary that links this crate. With glibc's
//! malloc, a profile of embedded mode under load put 28 % of the process's CPU in
//! malloc and free themselves (`_int_malloc`, `malloc_consolidate`, `unlink_chunk`):
//! each batch allocates and frees thousands of short-lived values across threads.
//! jemalloc cut the CPU per alert by about 30 % (docs/PERFORMANCE.md). mimalloc was
//! measured earlier and raised every service's resident set instead.
//!
//! Both allocators keep what a process frees for later: an evaluator that rebuilt its
//! index each time a batch of the 100,000 rules arrived held 100 MB resident for 33 MB
//! of live heap. After dropping a large structure (an old index, an encoded snapshot),
//! and every few seconds, the services hand the free pages back.

/// The Rust side's allocations.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main`: one arena (each arena keeps its own free
/// pages; against two, one gave every service 1-2 MB less and embedded mode 6 MB less
/// at the same throughput, each thread's cache taking most of the traffic); pages freed
/// and not reused are handed back after a second (the default, 10 s, let the
/// evaluator's index rebuilds pile up); and handed back at once rather than lazily
/// (`MADV_FREE`d pages count as resident until the kernel needs them, so an idle
/// service would look as big as its peak).
#[unsafe(export_name = "_rjem_malloc_conf")]
#[used]
static MALLOC_CONF: &[u8; 47] = b"narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// Returns free heap pages to the system: jemalloc's (every arena's unused pages) and
/// glibc's (the C libraries, SQLite and librdkafka, still allocate with `malloc`).
pub fn release_freed() {
    // MALLCTL_ARENAS_ALL: the command applies to every arena.
    const PURGE_ALL_ARENAS: &std::ffi::CStr = c"arena.4096.purge";
    // SAFETY: a purge takes no input and writes no output, so every pointer is null.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            PURGE_ALL_ARENAS.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: malloc_trim takes no pointers and only touches malloc's own state,
        // which it locks; any thread may call it at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// How often a long-running service hands back what it freed. A request's allocations
/// are short-lived but interleave with longer ones (pooled connections, cached
/// statements), so the heap's free pages sit between live ones, where malloc's own
/// trimming (the top of the heap only) never reaches them: the rule-service held 28 MB
/// of heap pages for a 3.4 MB peak of live data while 100,000 rules were created.
pub const RELEASE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Calls [`release_freed`] every [`RELEASE_EVERY`] until the process ends. Each walks
/// its heap for well under a millisecond at these sizes.
pub async fn release_periodically() {
    let mut ticks = tokio::time::interval(RELEASE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        release_freed();
    }
}

#[cfg(test)]
mod tests {
    /// Reads one of jemalloc's numeric settings by name.
    fn setting<T: Default>(name: &std::ffi::CStr) -> T {
        let mut value = T::default();
        let mut size = std::mem::size_of::<T>();
        // SAFETY: `value` is a writable T and `size` its size, as mallctl expects.
        let status = unsafe {
            tikv_jemalloc_sys::mallctl(
                name.as_ptr(),
                (&raw mut value).cast(),
                &mut size,
                std::ptr::null_mut(),
                0,
            )
        };
        assert_eq!(status, 0, "mallctl {name:?}");
        value
    }

    #[test]
    fn jemalloc_runs_with_our_options() {
        // mallctl initialises jemalloc (reading its options) if nothing allocated yet.
        assert_eq!(setting::<u32>(c"opt.narenas"), 1);
        assert_eq!(setting::<isize>(c"opt.dirty_decay_ms"), 1000);
        assert_eq!(setting::<isize>(c"opt.muzzy_decay_ms"), 0);
    }

    /// This process's resident set (`VmRSS`, in KiB whatever the page size).
    #[cfg(target_os = "linux")]
    fn resident_bytes() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let kib: usize = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/self/status");
        kib * 1024
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn freed_pages_go_back_to_the_system_at_once() {
        // Many blocks of 1 MiB: jemalloc hands back a single very large block (8 MiB
        // and up) when it is freed, but keeps smaller ones for reuse.
        const SIZE: usize = 64 << 20;
        // The resident set is the whole process's, and the other tests of this binary
        // allocate on their threads meanwhile: one attempt of three must show it.
        let mut seen = Vec::new();
        for _ in 0..3 {
            let blocks: Vec<Vec<u8>> = (0..SIZE >> 20)
                .map(|_| std::hint::black_box(vec![1u8; 1 << 20]))
                .collect();
            let with = resident_bytes();
            drop(blocks);
            // Freed, jemalloc keeps the pages for a second; released, they go back now.
            super::release_freed();
            let without = resident_bytes();
            if with.saturating_sub(without) >= SIZE * 3 / 4 {
                return;
            }
            seen.push((with, without));
        }
        panic!("resident (with the buffer, after releasing it): {seen:?}");
    }
}
