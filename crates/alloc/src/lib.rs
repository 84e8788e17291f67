//! The global allocator of the binaries (`asg-lifecycle`, `lifecycle-handler`) and the
//! benchmarks: mimalloc 2.
//!
//! The handler allocates small, short-lived values at each step, which glibc's malloc serves at
//! about twice mimalloc's cost. The `mimalloc` crate's allocator passes every request to
//! `mi_malloc_aligned`, whose checks cost a few dozen instructions per call even for an alignment
//! of 1 (about 5% of a launch event's instructions). Every mimalloc block is aligned to at least
//! a word (its size classes are multiples of it), so a request asking no more than that goes to
//! `mi_malloc` itself; larger alignments keep the aligned entry points.
//!
//! ```
//! #[global_allocator]
//! static GLOBAL: asg_lifecycle_alloc::Allocator = asg_lifecycle_alloc::Allocator;
//! # fn main() { assert_eq!(vec![1u8; 3].len(), 3); }
//! ```

#![cfg_attr(not(test), no_std)]

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_realloc, mi_realloc_aligned, mi_zalloc,
    mi_zalloc_aligned,
};

/// The alignment every block mimalloc returns has: its size classes are multiples of a word.
const WORD: usize = core::mem::size_of::<usize>();

/// mimalloc as a [`GlobalAlloc`]; see the crate documentation.
pub struct Allocator;

// SAFETY: every method passes the layout's size (and, above a word, its alignment) to mimalloc,
// which returns null on failure, a block of at least that size aligned to at least a word, and
// frees or reallocates blocks it returned.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi_malloc(layout.size()).cast()
            } else {
                mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi_zalloc(layout.size()).cast()
            } else {
                mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: see the impl.
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Allocator;
    use core::alloc::{GlobalAlloc, Layout};

    fn fill(block: *mut u8, size: usize) {
        for k in 0..size {
            // SAFETY: `block` holds at least `size` bytes.
            unsafe { *block.add(k) = k as u8 };
        }
    }

    fn holds(block: *const u8, size: usize) -> bool {
        // SAFETY: `block` holds at least `size` bytes.
        (0..size).all(|k| unsafe { *block.add(k) } == k as u8)
    }

    /// Sizes and alignments a Rust value may ask, up to a few pages: each block is aligned,
    /// zeroed when asked, keeps its bytes when grown and shrunk, and is freed.
    #[test]
    fn blocks_are_aligned_as_asked_and_keep_their_bytes_when_reallocated() {
        for align in (0..13).map(|shift| 1usize << shift) {
            let sizes = (1..=64).chain([100, 255, 256, 1000, 4096, 10_000, 70_000]);
            for size in sizes.map(|s: usize| s.next_multiple_of(align)) {
                let layout = Layout::from_size_align(size, align).unwrap();
                let grown = Layout::from_size_align(size * 3, align).unwrap();
                // SAFETY: non-zero sizes; every block is freed once, with the layout it has.
                unsafe {
                    let zeroed = Allocator.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0, "zeroed {size}, align {align}");
                    assert!((0..size).all(|k| *zeroed.add(k) == 0));
                    Allocator.dealloc(zeroed, layout);

                    let block = Allocator.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "size {size}, align {align}");
                    fill(block, size);
                    let block = Allocator.realloc(block, layout, grown.size());
                    assert_eq!(block as usize % align, 0, "grown {size}, align {align}");
                    assert!(holds(block, size));
                    fill(block, grown.size());
                    let block = Allocator.realloc(block, grown, size);
                    assert_eq!(block as usize % align, 0, "shrunk {size}, align {align}");
                    assert!(holds(block, size));
                    Allocator.dealloc(block, layout);
                }
            }
        }
    }
}
