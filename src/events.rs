//! The FluentCart actions a feed can listen to (`event_trigger`), with the labels the admin
//! screen shows. FluentCart fires each as `do_action('fluent_cart/' . $name, $data)`.
//!
//! A feed may name other events too (add-ons fire their own); these are the ones FluentCart
//! itself fires.

/// (trigger name, label) in the order the admin screen lists them.
pub const KNOWN_EVENTS: &[(&str, &str)] = &[
    ("order_paid_done", "Order Paid (Payment / Subscription)"),
    ("order_status_changed_to_canceled", "Order Canceled"),
    ("order_fully_refunded", "Order Refunded (Full)"),
    ("subscription_activated", "Subscription Activated"),
    ("subscription_renewed", "Subscription Renewed"),
    ("subscription_canceled", "Subscription Canceled"),
    ("subscription_eot", "Subscription End of Term"),
    ("subscription_expired_validity", "Subscription Expired"),
    ("shipping_status_changed_to_shipped", "Order Shipped"),
    ("shipping_status_changed_to_delivered", "Order Delivered"),
];

/// The event name without the `fluent_cart/` action prefix, so that a hook's name
/// (`current_action()`) can be passed as it is.
pub fn normalize(event: &str) -> &str {
    let event = event.trim();
    event.strip_prefix("fluent_cart/").unwrap_or(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_prefix_is_optional() {
        assert_eq!(normalize("fluent_cart/order_paid_done"), "order_paid_done");
        assert_eq!(normalize("order_paid_done"), "order_paid_done");
    }
}
