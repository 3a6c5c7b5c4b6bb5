// The firewall console page's behaviour (templates/page.mustache), served
// as /ui/assets/firewall.js: the rule form's condition rows, copying the
// checked rules to a machine, importing a ruleset file. No framework: htmx
// events and fetch. (Field errors go next to their field by web/console.js.)
(() => {
  'use strict';
  if (window.adamFirewallPage) return;  // the listeners are the document's: once
  window.adamFirewallPage = true;

  // The rule form's conditions: add a row from the form's <template>,
  // remove one, and keep each row's error slot named after its field.
  document.addEventListener('click', (e) => {
    const form = e.target.closest('#fw-rule-form');
    if (!form) return;
    if (e.target.matches('.fw-add-condition')) {
      const row = form.querySelector('.fw-condition-template').content.cloneNode(true);
      form.querySelector('.fw-conditions').append(row);
    } else if (e.target.matches('.fw-remove-condition')) {
      e.target.closest('.fw-condition').remove();
    }
  });
  document.addEventListener('change', (e) => {
    if (!e.target.matches('#fw-rule-form select[name="field"]')) return;
    e.target.closest('.fw-condition').querySelector('.field-error').dataset.field = `match.${e.target.value}`;
  });
  // After an add: the table's page holding the new rule (highlighted, and
  // in its counters poll), and an empty form again. After an edit: the add
  // form again.
  let addForm = null;
  document.addEventListener('htmx:afterRequest', (e) => {
    const form = e.detail.elt;
    if (form.id !== 'fw-rule-form' || !e.detail.successful) return;
    if (form.hasAttribute('hx-post')) {
      form.reset();
      const row = new DOMParser().parseFromString(`<table>${e.detail.xhr.responseText}</table>`, 'text/html')
        .querySelector('tr[id^="fw-rule-"]');
      const table = document.getElementById('fw-table');
      if (!row || !table) return;
      const url = new URL(table.getAttribute('hx-get'), window.location.href);
      url.searchParams.delete('offset');
      url.searchParams.set('containing', row.id.slice('fw-rule-'.length));
      htmx.ajax('GET', url.pathname + url.search, { source: table, target: '#fw-table', swap: 'outerHTML' });
    } else if (addForm) {
      form.outerHTML = addForm;
      htmx.process(document.getElementById('fw-rule-form'));
    }
  });
  // Kept before any swap (an edit form's among them) replaces it.
  document.addEventListener('htmx:beforeSwap', () => {
    const form = document.getElementById('fw-rule-form');
    if (form?.hasAttribute('hx-post')) addForm = form.outerHTML;
  });

  // A PUT or POST of JSON from the page, as htmx would send it (HX-Request:
  // the router's CSRF check for cookie sessions); shows the error fragment's
  // text in `error` and returns null when it fails.
  async function send(method, url, body, error) {
    const response = await fetch(url, {
      method,
      headers: { 'Content-Type': 'application/json', 'HX-Request': 'true' },
      body,
    });
    if (response.ok) return response;
    const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
    error.textContent = doc.querySelector('.error')?.textContent ?? `HTTP ${response.status}`;
    return null;
  }

  // Copy the checked rules to a machine: its links.copy gets each rule's
  // links.self and the rules collection there (the fleet's copy route).
  document.addEventListener('submit', async (e) => {
    if (e.target.id !== 'fw-copy') return;
    e.preventDefault();
    const form = e.target;
    const error = document.getElementById('fw-copy-error');
    const result = document.getElementById('fw-copy-result');
    error.textContent = result.textContent = '';
    const resources = [...document.querySelectorAll('#fw-rules .fw-select:checked')].map((box) => box.value);
    if (!resources.length) {
      error.textContent = 'check the rules to copy first';
      return;
    }
    const target = form.querySelector('select[name="target"]');
    const body = JSON.stringify({ resources, into: form.dataset.into });
    if (await send('POST', target.value, body, error))
      result.textContent = `copied ${resources.length} rule(s) to ${target.selectedOptions[0].textContent}`;
  });

  // Import: the file read here and sent as the body of a PUT: a JSON
  // ruleset as it is, anything else as ClassBench text. Errors name the
  // field or the line.
  document.addEventListener('click', async (e) => {
    if (e.target.id !== 'fw-import') return;
    const button = e.target;
    const file = document.getElementById('fw-import-file').files[0];
    const error = document.getElementById('fw-import-error');
    const result = document.getElementById('fw-import-result');
    error.textContent = result.textContent = '';
    if (!file) {
      error.textContent = 'choose a file first';
      return;
    }
    const text = await file.text();
    const json = text.trimStart().startsWith('{');
    const url = json ? button.dataset.json : button.dataset.classbench;
    if (!(await send('PUT', url, json ? text : JSON.stringify({ classbench: text }), error))) return;
    result.textContent = `imported ${file.name}`;
    htmx.trigger('#fw-table', 'fw-reload');
  });
})();
