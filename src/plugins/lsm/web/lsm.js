// The Enforcement page's behaviour (templates/page.mustache), served as
// /ui/assets/lsm.js: the add form shows only the match fields of the kind
// chosen (the schema says which kinds each belongs to). No framework.
(() => {
  'use strict';
  const update = (form) => {
    const kinds = JSON.parse(form.dataset.fieldKinds || '{}');
    const kind = form.querySelector('[name="kind"]').value;
    for (const [name, allowed] of Object.entries(kinds)) {
      const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
      if (!input) continue;
      const label = input.closest('label');
      const shown = !kind || allowed.includes(kind);
      label.hidden = !shown;
      input.disabled = !shown;  // a hidden field is not posted
    }
  };
  const init = () => document.querySelectorAll('#lsm-add').forEach(update);
  if (!window.adamLsmPage) {
    window.adamLsmPage = true;  // the listeners are the document's: once
    document.addEventListener('change', (e) => {
      const form = e.target.closest('#lsm-add');
      if (form && e.target.name === 'kind') update(form);
    });
    document.addEventListener('htmx:afterSettle', init);
  }
  init();
})();
