// The Processes page's behaviour (templates/processes.mustache), served as
// /ui/assets/monitor.js: a process row's toggle folds its subtree (the rows
// after it that are deeper), as a tree view would. No framework.
(() => {
  'use strict';
  if (window.adamMonitorPage) return;  // the listener is the document's: once
  window.adamMonitorPage = true;

  document.addEventListener('click', (e) => {
    const toggle = e.target.closest('#mon-tree .toggle');
    if (!toggle) return;
    const row = toggle.closest('tr');
    const depth = Number(row.dataset.depth);
    const expand = toggle.getAttribute('aria-expanded') !== 'true';
    toggle.setAttribute('aria-expanded', String(expand));
    toggle.textContent = expand ? '▾' : '▸';
    // Expanding shows the direct children again with their own fold states:
    // a row stays hidden while an ancestor between it and this row is folded.
    const folded = [];
    for (let next = row.nextElementSibling; next; next = next.nextElementSibling) {
      const d = Number(next.dataset.depth);
      if (d <= depth) break;
      while (folded.length && folded[folded.length - 1] >= d) folded.pop();
      next.hidden = !expand || folded.length > 0;
      const own = next.querySelector('.toggle');
      if (own && own.getAttribute('aria-expanded') === 'false') folded.push(d);
    }
  });
})();
