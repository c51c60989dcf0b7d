//! A global allocator that counts the allocations of the threads that ask for it. Each test
//! binary that counts installs it with
//! `#[global_allocator] static A: counting::Counting = counting::Counting;`.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counting allocator (the system allocator underneath).
pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTED.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNTED.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        System.realloc(p, l, n)
    }
}

/// Runs `f` with this thread's allocations counted; returns its result and the count.
pub fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = total();
    count_this_thread(true);
    let r = f();
    count_this_thread(false);
    (r, total() - before)
}

/// Starts or stops counting this thread's allocations (for a thread that runs a loop).
pub fn count_this_thread(on: bool) {
    COUNTED.with(|c| c.set(on));
}

/// Allocations counted so far, over all counted threads.
pub fn total() -> u64 {
    ALLOCS.load(Ordering::SeqCst)
}
