//! The C stack left to the Fiber the PHP thread runs in. PHP's own encoder takes about a third
//! of the stack per level of nesting that our walk takes, so a Fiber made with a small
//! `fiber.stack_size` could hold data that json_encode() encodes and the walk would overflow
//! (a segfault). The walk asks before each level (src/php/convert.rs).

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
    // SAFETY: the executor globals are PHP's, read on the PHP thread; the fiber context and its
    // stack are PHP's while the Fiber runs, which it does, since this code runs in it.
    unsafe {
        let globals = ext_php_rs_executor_globals().as_ref()?;
        let current = globals.current_fiber_context.cast::<FiberContext>();
        if current.is_null() || current == globals.main_fiber_context.cast::<FiberContext>() {
            return None;
        }
        let stack = (*current).stack.as_ref()?;
        let low = stack.pointer as usize;
        // Not within the Fiber's stack: the layout is not what this file says. Claim nothing.
        (low..low.saturating_add(stack.size)).contains(&here).then(|| here - low)
    }
}
