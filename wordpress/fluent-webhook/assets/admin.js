/* FluentCart Webhooks admin: repeatable rows, smartcode dropdowns, the Enabled toggle and
 * delete confirmation. The forms also work without it, minus the conveniences. */
(function () {
  'use strict';
  const settings = window.fluentWebhookAdmin || {};

  // "+ Add more": a copy of the list's last row, emptied, with the next row index.
  function addRow(list) {
    const body = document.querySelector('table.fw-rows[data-list="' + list + '"] tbody');
    const last = body.querySelector('tr.fw-row:last-child');
    const row = last.cloneNode(true);
    const index = body.querySelectorAll('tr.fw-row').length;
    row.querySelectorAll('input, select').forEach(function (field) {
      if (field.name) {
        field.name = field.name.replace(/\[\d+\]/, '[' + index + ']');
      }
      field.value = '';
      if (field.classList.contains('fw-header-value')) {
        field.removeAttribute('placeholder'); // a new row has no saved value to keep
      }
    });
    body.appendChild(row);
    row.querySelector('input').focus();
  }

  function removeRow(button) {
    const row = button.closest('tr.fw-row');
    const body = row.parentNode;
    if (body.querySelectorAll('tr.fw-row').length > 1) {
      row.remove();
    } else {
      row.querySelectorAll('input, select').forEach(function (field) { field.value = ''; });
    }
  }

  // No Headers / With Headers and All Data / Selected Fields show or hide their rows.
  function syncSwitch(fieldset) {
    const chosen = fieldset.querySelector('input[type=radio]:checked');
    const target = document.getElementById(fieldset.dataset.target);
    if (target) {
      target.hidden = !chosen || chosen.value !== fieldset.dataset.showWhen;
    }
  }

  function toggleFeed(checkbox) {
    const enabled = checkbox.checked;
    const state = checkbox.closest('label').querySelector('.fw-toggle-state');
    const body = new URLSearchParams({
      action: 'fluent_webhook_toggle',
      nonce: settings.toggleNonce,
      id: checkbox.dataset.feedId,
      enabled: enabled ? '1' : '0',
    });
    checkbox.disabled = true;
    fetch(settings.ajaxUrl, { method: 'POST', credentials: 'same-origin', body: body })
      .then(function (response) { return response.json(); })
      .then(function (result) {
        if (!result.success) {
          throw new Error(result.data && result.data.message ? result.data.message : 'error');
        }
        state.textContent = enabled ? settings.on : settings.off;
        checkbox.closest('tr').dataset.enabled = enabled ? '1' : '0';
        if (result.data.cancel_failed) {
          window.alert(settings.cancelFailed);
        }
      })
      .catch(function (error) {
        checkbox.checked = !enabled;
        window.alert((settings.toggleFailed || '%s').replace('%s', error.message));
      })
      .finally(function () { checkbox.disabled = false; });
  }

  document.addEventListener('click', function (event) {
    const add = event.target.closest('.fw-add-row');
    if (add) {
      addRow(add.dataset.list);
    }
    const remove = event.target.closest('.fw-remove-row');
    if (remove) {
      removeRow(remove);
    }
  });

  document.addEventListener('change', function (event) {
    const target = event.target;
    if (target.matches('.fw-smartcode') && target.value) {
      target.parentNode.querySelector('.fw-field-value').value = target.value;
    }
    if (target.matches('.fw-switch input[type=radio]')) {
      syncSwitch(target.closest('.fw-switch'));
    }
    if (target.matches('.fw-enabled-toggle')) {
      toggleFeed(target);
    }
  });

  document.addEventListener('submit', function (event) {
    if (event.target.matches('.fw-delete') && !window.confirm(settings.confirmDelete)) {
      event.preventDefault();
    }
  });

  document.querySelectorAll('.fw-switch').forEach(syncSwitch);
})();
