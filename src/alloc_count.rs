//! Counts heap allocations when built with the `alloc-count` feature, so that benchmarks and
//! tests can show the packet path allocates nothing in steady state, and tracks the bytes on
//! the heap (now and at the peak), so that `scripts/bench-heap` can show what the agent needs on
//! a phone. Without the feature every figure is zero and costs nothing.
//!
//! The wrapper uses relaxed atomics only (no lock, nothing that could allocate): the bytes are
//! the sizes the program asked for (`Layout::size`), not what the system allocator rounds them
//! up to, nor its own bookkeeping. Under concurrent allocations the peak may miss a transient
//! high by the size of the allocations in flight; the agent's work is on one thread.

/// True in an `alloc-count` build.
pub const ENABLED: bool = cfg!(feature = "alloc-count");

#[cfg(feature = "alloc-count")]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    pub static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
    /// Bytes allocated and not yet freed.
    pub static HEAP_NOW: AtomicUsize = AtomicUsize::new(0);
    /// The highest `HEAP_NOW` seen.
    pub static HEAP_PEAK: AtomicUsize = AtomicUsize::new(0);

    fn grew(bytes: usize) {
        let now = HEAP_NOW.fetch_add(bytes, Ordering::Relaxed) + bytes;
        HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
    }

    fn shrank(bytes: usize) {
        HEAP_NOW.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// The system allocator, counting allocations and reallocations and the bytes they hold.
    pub struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping is
    // atomics only and never allocates.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            let p = unsafe { System.alloc_zeroed(layout) };
            if !p.is_null() {
                grew(layout.size());
            }
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) };
            shrank(layout.size());
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            // On failure the old block is untouched and still counted.
            if !p.is_null() {
                let old = layout.size();
                if new_size >= old {
                    grew(new_size - old);
                } else {
                    shrank(old - new_size);
                }
            }
            p
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

/// Allocations so far in this process (0 without the feature).
pub fn allocations() -> u64 {
    #[cfg(feature = "alloc-count")]
    {
        counting::ALLOCATIONS.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(feature = "alloc-count"))]
    {
        0
    }
}

/// Bytes on the heap now: allocated and not yet freed (0 without the feature).
pub fn heap_now() -> u64 {
    #[cfg(feature = "alloc-count")]
    {
        counting::HEAP_NOW.load(std::sync::atomic::Ordering::Relaxed) as u64
    }
    #[cfg(not(feature = "alloc-count"))]
    {
        0
    }
}

/// The most bytes on the heap at any time since the process started (0 without the feature).
pub fn heap_peak() -> u64 {
    #[cfg(feature = "alloc-count")]
    {
        counting::HEAP_PEAK.load(std::sync::atomic::Ordering::Relaxed) as u64
    }
    #[cfg(not(feature = "alloc-count"))]
    {
        0
    }
}

#[cfg(all(test, feature = "alloc-count"))]
mod tests {
    use super::*;

    // The counters are process-wide and the test harness runs other tests on other threads,
    // so these only check what a concurrent allocation cannot undo: a live block is in the
    // peak, and growing or shrinking a block moves `heap_now` by at least its own part.
    #[test]
    fn a_live_block_is_counted_and_in_the_peak() {
        let block: Vec<u8> = Vec::with_capacity(8 << 20);
        assert!(heap_peak() >= 8 << 20, "peak {}", heap_peak());
        assert!(heap_now() <= heap_peak());
        drop(block);
    }

    #[test]
    fn realloc_moves_the_peak_by_the_new_size() {
        let mut v: Vec<u8> = Vec::with_capacity(1 << 20);
        v.push(1);
        v.reserve_exact(16 << 20);
        assert!(heap_peak() >= 16 << 20, "peak {}", heap_peak());
        v.shrink_to_fit();
        assert_eq!(v.capacity(), 1);
        assert!(allocations() >= 3);
    }
}
