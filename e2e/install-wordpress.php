<?php
// Installs the e2e test site non-interactively and activates the plugin, as WordPress's own
// installer would: php e2e/install-wordpress.php URL USER PASSWORD, with WORDPRESS_CONFIG set
// (Debian's wp-config.php reads /etc/wordpress/config-$WORDPRESS_CONFIG.php).

[, $url, $user, $password] = $argv + [null, null, null, null];
if ($password === null) {
    fwrite(STDERR, "usage: php install-wordpress.php URL USER PASSWORD\n");
    exit(2);
}
$_SERVER['WORDPRESS_CONFIG'] = getenv('WORDPRESS_CONFIG');
$_SERVER['HTTP_HOST'] = parse_url($url, PHP_URL_HOST) . ':' . parse_url($url, PHP_URL_PORT);
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);

require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

$installed = wp_install('fluent-webhook e2e store', $user, 'admin@example.test', false, '', wp_slash($password));
if (is_wp_error($installed) || empty($installed['user_id'])) {
    fwrite(STDERR, "wp_install failed\n");
    exit(1);
}
$activated = activate_plugin('fluent-webhook/fluent-webhook.php');
if (is_wp_error($activated)) {
    fwrite(STDERR, 'activate_plugin: ' . $activated->get_error_message() . "\n");
    exit(1);
}
update_option('permalink_structure', '');
// Avatars come from gravatar.com, which the test machine cannot reach.
update_option('show_avatars', 0);
echo "installed, user {$installed['user_id']}, plugin active\n";
