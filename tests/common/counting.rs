//! A global allocator that counts, exactly, the allocations of the threads that ask for it,
//! each into its own count. Each test binary that counts installs it with
//! `#[global_allocator] static A: counting::Counting = counting::Counting;`.
//!
//! There is no process-wide count on purpose: the tests of one binary run in parallel, and
//! a count shared by all counting threads made one test see another's allocations (the
//! host thread of `tests/alloc.rs` allocating at start-up and shutdown, inside the core
//! test's counted window). [`counted`] and [`Window`] count only the calling thread, and
//! a thread that runs a loop counts into a [`Tally`] of its own ([`count_into`]).
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counting allocator (the system allocator underneath).
pub struct Counting;

/// A count of allocations, fed by the threads that [`count_into`] it.
pub struct Tally(AtomicU64);

impl Tally {
    /// A count at zero (for a `static`).
    pub const fn new() -> Tally {
        Tally(AtomicU64::new(0))
    }

    /// Allocations counted so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where this thread's allocations go.
#[derive(Clone, Copy)]
enum Sink {
    /// Not counted.
    Off,
    /// Into this thread's own count, `HERE` (for [`counted`] and [`Window`]).
    Here,
    /// Into a tally another thread reads.
    Into(&'static Tally),
}

// Both const-initialised and without destructors: reading them from the allocator neither
// allocates nor fails, at any point of a thread's life.
thread_local! {
    static SINK: Cell<Sink> = const { Cell::new(Sink::Off) };
    static HERE: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    match SINK.with(|s| s.get()) {
        Sink::Off => {}
        Sink::Here => HERE.with(|h| h.set(h.get() + 1)),
        Sink::Into(t) => {
            t.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        System.realloc(p, l, n)
    }
}

/// Runs `f` with this thread's allocations counted; returns its result and the number of
/// allocations `f` made on this thread (and only those: other threads, counted or not,
/// never add to it).
pub fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let w = Window::open();
    let r = f();
    (r, w.close())
}

/// [`counted`] for straight-line code: counts this thread's allocations from
/// [`open`](Window::open) to [`close`](Window::close).
#[must_use = "close it to read the count"]
pub struct Window {
    outer: Sink,
    before: u64,
}

impl Window {
    /// Starts counting this thread's allocations, and only this thread's.
    pub fn open() -> Window {
        let outer = SINK.with(|s| s.replace(Sink::Here));
        Window {
            outer,
            before: HERE.with(|h| h.get()),
        }
    }

    /// Stops counting (this thread goes back to what it counted before) and returns the
    /// allocations this thread made since [`open`](Window::open).
    pub fn close(self) -> u64 {
        let after = HERE.with(|h| h.get());
        SINK.with(|s| s.set(self.outer));
        after - self.before
    }
}

/// From now on, counts this thread's allocations into `tally` (for a thread that runs a
/// loop, read from another thread with [`Tally::get`]).
pub fn count_into(tally: &'static Tally) {
    SINK.with(|s| s.set(Sink::Into(tally)));
}

/// Stops counting this thread's allocations.
pub fn stop_counting() {
    SINK.with(|s| s.set(Sink::Off));
}
