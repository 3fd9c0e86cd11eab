//! The C stack left to the PHP thread: in the Fiber it runs in, or on the thread's own stack.
//! PHP's own encoder takes about a third of the stack per level of nesting that our walk
//! takes, so a Fiber made with a small `fiber.stack_size`, or a main thread whose
//! `RLIMIT_STACK` PHP code lowered (posix_setrlimit()), could hold data that json_encode()
//! encodes and the walk would overflow (a segfault). The walk asks before each level
//! (src/php/convert.rs).

use std::cell::Cell;
use std::ffi::c_void;

use ext_php_rs::ffi::ext_php_rs_executor_globals;

/// PHP 8.2's `zend_fiber_context` (Zend/zend_fibers.h), up to the field read here.
#[repr(C)]
struct FiberContext {
    handle: *mut c_void,
    kind: *mut c_void,
    function: *mut c_void,
    cleanup: *mut c_void,
    stack: *const FiberStack,
}

/// `zend_fiber_stack` (Zend/zend_fibers.c), up to the fields read here: its lowest usable
/// address (above the guard page) and its size.
#[repr(C)]
struct FiberStack {
    pointer: *const u8,
    size: usize,
}

/// Bytes of C stack left below this call when the PHP thread runs in a Fiber; `None` outside
/// one (the thread's own stack, megabytes) or when the Fiber's stack cannot be read.
pub fn stack_left() -> Option<usize> {
    let marker = 0u8;
    let here = std::ptr::from_ref(&marker) as usize;
    let current = current_fiber()?;
    // SAFETY: the fiber context and its stack are PHP's while the Fiber runs, which it does,
    // since this code runs in it.
    unsafe {
        let stack = (*current).stack.as_ref()?;
        let low = stack.pointer as usize;
        // Not within the Fiber's stack: the layout is not what this file says. Claim nothing.
        (low..low.saturating_add(stack.size)).contains(&here).then(|| here - low)
    }
}

/// The context of the Fiber the PHP thread runs in; `None` outside one.
fn current_fiber() -> Option<*const FiberContext> {
    // SAFETY: the executor globals are PHP's, read on the PHP thread.
    let globals = unsafe { ext_php_rs_executor_globals().as_ref()? };
    let current = globals.current_fiber_context.cast::<FiberContext>().cast_const();
    (!current.is_null() && current != globals.main_fiber_context.cast::<FiberContext>().cast_const()).then_some(current)
}

/// Bytes of C stack left below this call on the thread's own stack, outside a Fiber: on the
/// main thread, down to where `RLIMIT_STACK` (read now: PHP code may lower it at any time)
/// lets the stack grow; on another thread, to the low end of its fixed stack. `None` in a
/// Fiber (see [`stack_left`]), without a limit, or when the stack cannot be read. Costs a
/// system call on the main thread.
pub fn thread_stack_left() -> Option<usize> {
    if current_fiber().is_some() {
        return None;
    }
    let marker = 0u8;
    let here = std::ptr::from_ref(&marker) as usize;
    let floor = match thread_stack() {
        ThreadStack::Main { top } => {
            // SAFETY: getrlimit writes the plain struct it is given.
            let limit = unsafe {
                let mut limit: libc::rlimit = std::mem::zeroed();
                (libc::getrlimit(libc::RLIMIT_STACK, &mut limit) == 0).then_some(limit.rlim_cur)?
            };
            if limit == libc::RLIM_INFINITY {
                return None;
            }
            top.saturating_sub(usize::try_from(limit).ok()?)
        }
        ThreadStack::Fixed { low } => low,
        ThreadStack::Unknown => return None,
    };
    // Below the floor (a layout not understood here): claim nothing.
    here.checked_sub(floor)
}

/// Where this thread's stack is, read once per thread.
#[derive(Clone, Copy)]
enum ThreadStack {
    /// The process's first thread, whose stack grows down from `top` as far as RLIMIT_STACK
    /// allows at the time.
    Main {
        top: usize,
    },
    /// A thread with a stack of fixed size, from `low` up.
    Fixed {
        low: usize,
    },
    Unknown,
}

thread_local! {
    static THREAD_STACK: Cell<Option<ThreadStack>> = const { Cell::new(None) };
}

fn thread_stack() -> ThreadStack {
    THREAD_STACK.with(|cached| {
        if let Some(stack) = cached.get() {
            return stack;
        }
        let stack = read_thread_stack();
        cached.set(Some(stack));
        stack
    })
}

fn read_thread_stack() -> ThreadStack {
    // SAFETY: pthread_getattr_np fills an attribute object for the calling thread, destroyed
    // below; pthread_attr_getstack reads it. glibc gives the main thread's stack as the
    // mapping's top and the limit of the time: only the top is kept.
    unsafe {
        let mut attributes: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attributes) != 0 {
            return ThreadStack::Unknown;
        }
        let (mut low, mut size) = (std::ptr::null_mut(), 0usize);
        let read = libc::pthread_attr_getstack(&attributes, &mut low, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attributes);
        match (read, libc::gettid() == libc::getpid()) {
            (false, _) => ThreadStack::Unknown,
            (true, true) => ThreadStack::Main { top: low as usize + size },
            (true, false) => ThreadStack::Fixed { low: low as usize },
        }
    }
}
