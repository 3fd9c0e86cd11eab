//! This process's id without a system call each time, and the fork-safety of SQLite.
//!
//! `dispatch()` compares the id with the one its engine and its random bytes were made in, to
//! tell a forked child from its parent; `getpid()` is a system call (glibc no longer caches
//! it), and it took 3 % of `dispatch()`. The cached id is forgotten by a handler that glibc's
//! `fork()` runs in the child (which is what `pcntl_fork()` calls). A child made another way
//! and then running PHP (a raw `clone` or `vfork` through FFI) would keep its parent's id, and
//! with it the parent's engine and random bytes; nothing in PHP or WordPress does that.
//!
//! A child has only the thread that forked. A lock another thread held at that moment stays
//! held in the child for ever: SQLite's own (its allocator's, its initialisation's) left the
//! child's spool thread waiting for good at its first SQLite call, and the child's deliveries
//! with it. So our threads use SQLite only inside a [`sqlite_section`], and `fork()` waits
//! (in a `pthread_atfork` handler) until none is inside one, and keeps them out until it has
//! forked. A fork therefore waits for the one SQLite call under way (each of the spool's
//! methods is a section of its own): usually microseconds, at most its busy wait for another
//! process's lock or a checkpoint it finishes (README, "Fork"). PHP threads of a threaded
//! (ZTS) build are not gated.

use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Once;

/// 0 until asked, and again in a child just forked.
static PID: AtomicU32 = AtomicU32::new(0);
static WATCHING: AtomicBool = AtomicBool::new(false);
static WATCH: Once = Once::new();
/// Whether before_fork took the gate (not when the forking thread is in a section itself).
static GATE_TAKEN: AtomicBool = AtomicBool::new(false);

/// Held shared inside SQLite, exclusive by fork(); see the module's comment.
struct Gate(UnsafeCell<libc::pthread_rwlock_t>);

// SAFETY: a pthread rwlock is made to be shared between threads; it is only used through
// pthread calls.
unsafe impl Sync for Gate {}

static GATE: Gate = Gate(UnsafeCell::new(libc::PTHREAD_RWLOCK_INITIALIZER));

/// glibc's PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP: a fork waiting for the gate keeps new
/// readers out, or a busy spool thread, in and out of it all the time, could hold it off.
const PREFER_WRITER: libc::c_int = 2;

thread_local! {
    /// Sections this thread is in: only the outermost takes the gate, so a section inside
    /// another cannot wait behind a fork that waits for the outer one.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Sets up the gate and the fork handlers, once.
fn watch() {
    // The library stays loaded until the process ends (crate::php::lifecycle pins it), so the
    // handlers stay valid for every later fork.
    WATCH.call_once(|| {
        // SAFETY: the gate is initialised before any thread uses it (every use calls watch()
        // first, and call_once waits); the handlers only lock, unlock or initialise it and
        // write an atomic, which a child of a multithreaded process may do.
        let registered = unsafe {
            init_gate();
            libc::pthread_atfork(Some(before_fork), Some(after_fork_in_parent), Some(after_fork_in_child)) == 0
        };
        WATCHING.store(registered, Ordering::Relaxed);
    });
}

/// # Safety
/// No thread may be using the gate.
unsafe fn init_gate() {
    let mut attributes: libc::pthread_rwlockattr_t = std::mem::zeroed();
    libc::pthread_rwlockattr_init(&mut attributes);
    libc::pthread_rwlockattr_setkind_np(&mut attributes, PREFER_WRITER);
    libc::pthread_rwlock_init(GATE.0.get(), &attributes);
    libc::pthread_rwlockattr_destroy(&mut attributes);
}

/// This process's id.
pub fn id() -> u32 {
    watch();
    match PID.load(Ordering::Relaxed) {
        // Without the handler a child would keep its parent's id: ask every time.
        _ if !WATCHING.load(Ordering::Relaxed) => std::process::id(),
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// While it lives, this thread may call SQLite: a fork waits for it to end. Not `Send`: it
/// must end on the thread that began it.
pub struct SqliteSection(PhantomData<*const ()>);

pub fn sqlite_section() -> SqliteSection {
    watch();
    if DEPTH.get() == 0 {
        // SAFETY: the gate is initialised (watch); the lock is released by the section's drop
        // on this thread.
        unsafe { libc::pthread_rwlock_rdlock(GATE.0.get()) };
    }
    DEPTH.set(DEPTH.get() + 1);
    SqliteSection(PhantomData)
}

/// A section, unless a fork is waiting or under way: for work that can be skipped.
pub fn try_sqlite_section() -> Option<SqliteSection> {
    watch();
    // SAFETY: as in sqlite_section.
    if DEPTH.get() == 0 && unsafe { libc::pthread_rwlock_tryrdlock(GATE.0.get()) } != 0 {
        return None;
    }
    DEPTH.set(DEPTH.get() + 1);
    Some(SqliteSection(PhantomData))
}

impl Drop for SqliteSection {
    fn drop(&mut self) {
        DEPTH.set(DEPTH.get() - 1);
        if DEPTH.get() == 0 {
            // SAFETY: this thread took the gate shared when its outermost section began.
            unsafe { libc::pthread_rwlock_unlock(GATE.0.get()) };
        }
    }
}

extern "C" fn before_fork() {
    // A thread forking from inside a section would wait for itself; none of ours forks, and
    // the PHP thread is in none, but it must not hang if that changes.
    let take = DEPTH.get() == 0;
    if take {
        // SAFETY: initialised before the handler was registered.
        unsafe { libc::pthread_rwlock_wrlock(GATE.0.get()) };
    }
    GATE_TAKEN.store(take, Ordering::Relaxed);
}

extern "C" fn after_fork_in_parent() {
    if GATE_TAKEN.load(Ordering::Relaxed) {
        // SAFETY: taken exclusive by before_fork, on this thread.
        unsafe { libc::pthread_rwlock_unlock(GATE.0.get()) };
    }
}

extern "C" fn after_fork_in_child() {
    PID.store(0, Ordering::Relaxed);
    // Made anew rather than unlocked: the lock records its writer by thread id, and the child's
    // one thread has another. No other thread exists to be using it.
    // SAFETY: the child is single-threaded here; a section this thread is in gets its shared
    // hold back, for its drop to release.
    unsafe {
        init_gate();
        if DEPTH.get() > 0 {
            libc::pthread_rwlock_rdlock(GATE.0.get());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_forked_child_has_its_own_id() {
        let parent = super::id();
        assert_eq!(parent, std::process::id());
        let mut pipe = [0; 2];
        // SAFETY: the child only calls id(), writes four bytes to a pipe and exits.
        unsafe {
            assert_eq!(libc::pipe(pipe.as_mut_ptr()), 0);
            let child = libc::fork();
            assert!(child >= 0);
            if child == 0 {
                let seen = super::id().to_ne_bytes();
                let right = u32::from_ne_bytes(seen) == libc::getpid() as u32;
                libc::write(pipe[1], seen.as_ptr().cast(), 4);
                libc::_exit(i32::from(!right));
            }
            let mut seen = [0u8; 4];
            assert_eq!(libc::read(pipe[0], seen.as_mut_ptr().cast(), 4), 4);
            let mut status = 0;
            libc::waitpid(child, &mut status, 0);
            assert_eq!(u32::from_ne_bytes(seen), child as u32, "the child's own pid, not the parent's");
            assert_eq!(libc::WEXITSTATUS(status), 0);
        }
        assert_eq!(super::id(), parent);
    }

    #[test]
    fn fork_waits_for_threads_inside_sqlite_and_the_child_can_enter_at_once() {
        let (entered, entered_rx) = std::sync::mpsc::channel();
        let inside = std::thread::spawn(move || {
            let _section = super::sqlite_section();
            entered.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(300));
        });
        entered_rx.recv().unwrap();
        let started = std::time::Instant::now();
        // SAFETY: the child only takes and leaves a section, then exits.
        unsafe {
            let child = libc::fork();
            assert!(child >= 0);
            if child == 0 {
                drop(super::sqlite_section());
                libc::_exit(0);
            }
            let waited = started.elapsed();
            let mut status = 0;
            libc::waitpid(child, &mut status, 0);
            assert!(waited >= std::time::Duration::from_millis(200), "fork went ahead after {waited:?}");
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the child could not enter");
        }
        inside.join().unwrap();
        drop(super::sqlite_section());
    }

    #[test]
    fn a_thread_in_a_section_can_fork_and_both_sides_leave_it() {
        let section = super::sqlite_section();
        // SAFETY: the child only takes and leaves sections, then exits.
        unsafe {
            let child = libc::fork();
            assert!(child >= 0);
            if child == 0 {
                drop(super::sqlite_section());
                drop(section);
                drop(super::sqlite_section());
                libc::_exit(0);
            }
            let mut status = 0;
            libc::waitpid(child, &mut status, 0);
            assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        drop(section);
    }
}
