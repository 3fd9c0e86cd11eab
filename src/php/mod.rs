//! The PHP shell: everything that touches ext-php-rs. It converts PHP values to owned Rust
//! data on the PHP thread and calls the core; nothing here decides what a webhook contains.

mod convert;
mod exceptions;
mod feed_class;
mod fiber;
mod functions;
mod ini;
mod json;
mod lifecycle;
mod log;
mod number;
mod text;

use ext_php_rs::prelude::*;

#[php_module]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    let module = module
        .name("fluent_webhook")
        .version(env!("CARGO_PKG_VERSION"))
        .startup_function(lifecycle::module_startup)
        .shutdown_function(lifecycle::module_shutdown)
        .request_shutdown_function(lifecycle::request_shutdown)
        .info_function(lifecycle::module_info)
        .class::<feed_class::PhpFeed>();
    functions::register(module)
}
