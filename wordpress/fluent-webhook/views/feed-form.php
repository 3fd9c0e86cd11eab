<?php
/**
 * Add/Edit Webhook, field by field as FluentCart's documentation describes the screen.
 *
 * @var array<string, mixed>  $settings
 * @var array<string, string> $errors field => message
 * @var array<string, string> $events name => label
 * @var array<string, array<string, string>> $smartcodes group => code => label
 * @var bool   $isNew
 * @var bool   $hasSecret
 * @var string $action
 * @var string $nonceAction
 */

defined('ABSPATH') || exit;

$error = static function (string $field) use ($errors): void {
    if (isset($errors[$field])) {
        printf('<p class="fw-field-error" id="fw-error-%1$s" role="alert">%2$s</p>', esc_attr($field), esc_html($errors[$field]));
    }
};
$invalid = static fn (string $field): string => isset($errors[$field])
    ? sprintf(' aria-invalid="true" aria-describedby="fw-error-%s"', esc_attr($field)) : '';
$checked = static fn (bool $on): string => $on ? ' checked' : '';
?>
<div class="wrap fluent-webhook">
    <form method="post" action="<?php echo esc_url($action); ?>" id="fw-feed-form" novalidate>
        <?php wp_nonce_field($nonceAction); ?>
        <div class="fw-form-header">
            <h1 class="wp-heading-inline"><?php echo $isNew ? esc_html__('Add Webhook', 'fluent-webhook') : esc_html__('Edit Webhook', 'fluent-webhook'); ?></h1>
            <label class="fw-toggle fw-enable-feed">
                <input type="hidden" name="feed[enabled]" value="0">
                <input type="checkbox" name="feed[enabled]" value="1" id="fw-enabled"<?php echo $checked((bool) $settings['enabled']); ?>>
                <span class="fw-toggle-track" aria-hidden="true"></span>
                <?php esc_html_e('Enable This Feed', 'fluent-webhook'); ?>
            </label>
        </div>
        <?php if (isset($errors['form'])) : ?>
            <div class="notice notice-error inline"><p><?php echo esc_html($errors['form']); ?></p></div>
        <?php elseif ($errors) : ?>
            <div class="notice notice-error inline"><p><?php esc_html_e('The feed was not saved: correct the field marked below.', 'fluent-webhook'); ?></p></div>
        <?php endif; ?>
        <?php $error('enabled'); ?>

        <table class="form-table" role="presentation">
            <tr>
                <th scope="row"><label for="fw-name"><?php esc_html_e('Integration Title', 'fluent-webhook'); ?></label></th>
                <td>
                    <input type="text" class="regular-text" id="fw-name" name="feed[name]" value="<?php echo esc_attr($settings['name']); ?>"
                        placeholder="<?php esc_attr_e('Send New Sales to Slack', 'fluent-webhook'); ?>"<?php echo $invalid('name'); ?>>
                    <?php $error('name'); ?>
                </td>
            </tr>
            <tr>
                <th scope="row"><label for="fw-request-url"><?php esc_html_e('Request URL', 'fluent-webhook'); ?></label></th>
                <td>
                    <input type="url" class="large-text code" id="fw-request-url" name="feed[request_url]" value="<?php echo esc_attr($settings['request_url']); ?>"
                        placeholder="https://example.com/webhooks/orders"<?php echo $invalid('request_url'); ?>>
                    <?php $error('request_url'); ?>
                </td>
            </tr>
            <tr>
                <th scope="row"><label for="fw-request-method"><?php esc_html_e('Request Method', 'fluent-webhook'); ?></label></th>
                <td>
                    <select id="fw-request-method" name="feed[request_method]"<?php echo $invalid('request_method'); ?>>
                        <?php foreach (\FluentWebhookPlugin\Admin\FeedForm::METHODS as $method) : ?>
                            <option value="<?php echo esc_attr($method); ?>"<?php selected($settings['request_method'], $method); ?>><?php echo esc_html($method); ?></option>
                        <?php endforeach; ?>
                    </select>
                    <?php $error('request_method'); ?>
                </td>
            </tr>
            <tr>
                <th scope="row"><?php esc_html_e('Request Format', 'fluent-webhook'); ?></th>
                <td>
                    <fieldset<?php echo $invalid('request_format'); ?>>
                        <label><input type="radio" name="feed[request_format]" value="JSON"<?php echo $checked($settings['request_format'] === 'JSON'); ?>> <?php esc_html_e('JSON', 'fluent-webhook'); ?></label>
                        <label><input type="radio" name="feed[request_format]" value="FORM"<?php echo $checked($settings['request_format'] === 'FORM'); ?>> <?php esc_html_e('Form Data', 'fluent-webhook'); ?></label>
                    </fieldset>
                    <?php $error('request_format'); ?>
                </td>
            </tr>
            <tr>
                <th scope="row"><?php esc_html_e('Request Headers', 'fluent-webhook'); ?></th>
                <td>
                    <fieldset class="fw-switch" data-target="fw-header-rows" data-show-when="custom_headers"<?php echo $invalid('request_headers'); ?>>
                        <label><input type="radio" name="feed[request_headers]" value="no_headers"<?php echo $checked($settings['request_headers'] !== 'custom_headers'); ?>> <?php esc_html_e('No Headers', 'fluent-webhook'); ?></label>
                        <label><input type="radio" name="feed[request_headers]" value="custom_headers"<?php echo $checked($settings['request_headers'] === 'custom_headers'); ?>> <?php esc_html_e('With Headers', 'fluent-webhook'); ?></label>
                    </fieldset>
                    <div id="fw-header-rows" class="fw-rows-block">
                        <table class="fw-rows widefat striped" data-list="custom_header_values">
                            <thead><tr><th><?php esc_html_e('Header Name', 'fluent-webhook'); ?></th><th><?php esc_html_e('Header Value', 'fluent-webhook'); ?></th><th></th></tr></thead>
                            <tbody>
                            <?php foreach (array_values((array) $settings['custom_header_values']) as $i => $row) : ?>
                                <tr class="fw-row">
                                    <td><input type="text" class="fw-header-name" name="feed[custom_header_values][<?php echo (int) $i; ?>][header_name]" value="<?php echo esc_attr($row['header_name'] ?? ''); ?>" aria-label="<?php esc_attr_e('Header Name', 'fluent-webhook'); ?>"></td>
                                    <td><input type="text" class="fw-header-value" name="feed[custom_header_values][<?php echo (int) $i; ?>][header_value]" value="<?php echo esc_attr($row['header_value'] ?? ''); ?>" aria-label="<?php esc_attr_e('Header Value', 'fluent-webhook'); ?>"
                                        <?php if (!empty($row['kept'])) : ?>placeholder="<?php esc_attr_e('saved value, not shown: leave blank to keep', 'fluent-webhook'); ?>"<?php endif; ?>></td>
                                    <td><button type="button" class="button-link fw-remove-row" aria-label="<?php esc_attr_e('Remove this row', 'fluent-webhook'); ?>">&times;</button></td>
                                </tr>
                            <?php endforeach; ?>
                            </tbody>
                        </table>
                        <p><button type="button" class="button fw-add-row" data-list="custom_header_values"><?php esc_html_e('+ Add more', 'fluent-webhook'); ?></button></p>
                    </div>
                    <?php $error('request_headers'); ?>
                </td>
            </tr>
            <tr>
                <th scope="row"><?php esc_html_e('Request Body', 'fluent-webhook'); ?></th>
                <td>
                    <fieldset class="fw-switch" data-target="fw-field-rows" data-show-when="selected_fields"<?php echo $invalid('request_body'); ?>>
                        <label><input type="radio" name="feed[request_body]" value="all_data"<?php echo $checked($settings['request_body'] !== 'selected_fields'); ?>> <?php esc_html_e('All Data', 'fluent-webhook'); ?></label>
                        <label><input type="radio" name="feed[request_body]" value="selected_fields"<?php echo $checked($settings['request_body'] === 'selected_fields'); ?>> <?php esc_html_e('Selected Fields', 'fluent-webhook'); ?></label>
                    </fieldset>
                    <div id="fw-field-rows" class="fw-rows-block">
                        <table class="fw-rows widefat striped" data-list="selected_field_values">
                            <thead><tr><th><?php esc_html_e('Payload Key', 'fluent-webhook'); ?></th><th><?php esc_html_e('Value', 'fluent-webhook'); ?></th><th></th></tr></thead>
                            <tbody>
                            <?php foreach (array_values((array) $settings['selected_field_values']) as $i => $row) : ?>
                                <tr class="fw-row">
                                    <td><input type="text" class="fw-field-name" name="feed[selected_field_values][<?php echo (int) $i; ?>][field_name]" value="<?php echo esc_attr($row['field_name'] ?? ''); ?>" aria-label="<?php esc_attr_e('Payload Key', 'fluent-webhook'); ?>"></td>
                                    <td>
                                        <select class="fw-smartcode" aria-label="<?php esc_attr_e('Choose a value', 'fluent-webhook'); ?>">
                                            <option value=""><?php esc_html_e('Select a value…', 'fluent-webhook'); ?></option>
                                            <?php foreach ($smartcodes as $group => $codes) : ?>
                                                <optgroup label="<?php echo esc_attr($group); ?>">
                                                    <?php foreach ($codes as $code => $label) : ?>
                                                        <option value="<?php echo esc_attr($code); ?>"<?php selected($row['field_value'] ?? '', $code); ?>><?php echo esc_html($label); ?></option>
                                                    <?php endforeach; ?>
                                                </optgroup>
                                            <?php endforeach; ?>
                                        </select>
                                        <input type="text" class="fw-field-value code" name="feed[selected_field_values][<?php echo (int) $i; ?>][field_value]" value="<?php echo esc_attr($row['field_value'] ?? ''); ?>"
                                            placeholder="{{order.billing.email}}" aria-label="<?php esc_attr_e('Value (smartcode template)', 'fluent-webhook'); ?>">
                                    </td>
                                    <td><button type="button" class="button-link fw-remove-row" aria-label="<?php esc_attr_e('Remove this row', 'fluent-webhook'); ?>">&times;</button></td>
                                </tr>
                            <?php endforeach; ?>
                            </tbody>
                        </table>
                        <p><button type="button" class="button fw-add-row" data-list="selected_field_values"><?php esc_html_e('+ Add more', 'fluent-webhook'); ?></button></p>
                    </div>
                    <?php $error('request_body'); ?>
                </td>
            </tr>
            <tr>
                <th scope="row"><label for="fw-event-trigger"><?php esc_html_e('Event Trigger', 'fluent-webhook'); ?></label></th>
                <td>
                    <select id="fw-event-trigger" name="feed[event_trigger][]" multiple size="<?php echo (int) count($events); ?>"
                        aria-label="<?php esc_attr_e('Select Event', 'fluent-webhook'); ?>"<?php echo $invalid('event_trigger'); ?>>
                        <?php foreach ($events as $event => $label) : ?>
                            <option value="<?php echo esc_attr($event); ?>"<?php selected(in_array($event, (array) $settings['event_trigger'], true)); ?>><?php echo esc_html($label); ?></option>
                        <?php endforeach; ?>
                    </select>
                    <p class="description"><?php esc_html_e('Select Event: one or more (Ctrl or ⌘ + click).', 'fluent-webhook'); ?></p>
                    <?php $error('event_trigger'); ?>
                </td>
            </tr>
            <tr>
                <th scope="row"><?php esc_html_e('Signing Secret', 'fluent-webhook'); ?></th>
                <td>
                    <fieldset<?php echo $invalid('secret'); ?>>
                        <?php if ($hasSecret) : ?>
                            <label><input type="radio" name="signing" value="keep" checked> <?php esc_html_e('Keep signing with the current secret (not shown again)', 'fluent-webhook'); ?></label><br>
                            <label><input type="radio" name="signing" value="generate"> <?php esc_html_e('Generate a new secret', 'fluent-webhook'); ?></label><br>
                            <label><input type="radio" name="signing" value="none"> <?php esc_html_e('Stop signing', 'fluent-webhook'); ?></label>
                        <?php else : ?>
                            <label><input type="radio" name="signing" value="none" checked> <?php esc_html_e('Do not sign requests', 'fluent-webhook'); ?></label><br>
                            <label><input type="radio" name="signing" value="generate" id="fw-signing-generate"> <?php esc_html_e('Sign requests (Standard Webhooks): generate a secret, shown once after saving', 'fluent-webhook'); ?></label>
                        <?php endif; ?>
                    </fieldset>
                    <?php $error('secret'); ?>
                </td>
            </tr>
        </table>
        <p class="submit">
            <button type="submit" class="button button-primary" id="fw-save"><?php echo $isNew ? esc_html__('Create Webhook Feed', 'fluent-webhook') : esc_html__('Save Webhook Feed', 'fluent-webhook'); ?></button>
            <a class="button" href="<?php echo esc_url(\FluentWebhookPlugin\Admin\Screens::url(\FluentWebhookPlugin\Admin\Screens::LIST_PAGE)); ?>"><?php esc_html_e('Cancel', 'fluent-webhook'); ?></a>
        </p>
    </form>
</div>
