//! Process-wide allocator settings for the tensor workloads.
//!
//! A training step allocates and frees the same few megabyte-sized buffers (attention
//! probabilities, their gradients, activations) hundreds of times a second. glibc serves
//! blocks above its mmap threshold with fresh `mmap`s and hands freed heap tops back to the
//! kernel, so every step pays for page faults and for the kernel zeroing those pages again:
//! a quarter of a `--preset default` training step on 2 cores (`perf`, bench/train.sh).
//! Keeping freed memory in the process removes that cost; peak memory is unchanged, since
//! the same buffers are reused. (mimalloc, tried instead, still returned and re-faulted
//! the pages.)

/// Serve large blocks from the heap and keep freed memory for reuse (glibc only; elsewhere
/// the system allocator is left as it is). Call once, before the work starts.
pub fn retain_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it is called before any thread that
    // allocates is started by this crate and has no memory-safety preconditions.
    unsafe {
        // No block from its own mmap (the threshold cannot exceed 32 MiB, below one
        // attention tensor of a 200-token batch), and no trimming below 1 GiB free.
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
