// Live charts of the console (uPlot), fed by a Server-Sent Events stream.
//
//   <div class="chart" data-chart-stream="{{links.flow}}" data-chart-event="flow"
//        data-chart-title="packets per second"></div>
//
// Every event of the stream is JSON with `ts` (ns since the epoch) and
// `series`, {label: number}: one line per label, added when a label first
// appears. The chart keeps the last `data-chart-window` points (default
// 120) and closes its stream once htmx swaps it out of the page. Each
// update's cost is kept in window.adamChartTimings (ms), which the browser
// test reads. And form errors are shown next to the field they name.
(() => {
  'use strict';
  window.adamChartTimings = [];
  const palette = ['#2f7d32', '#c62828', '#1565c0', '#ef6c00', '#6a1b9a', '#00838f', '#5d4037', '#9e9d24'];

  function start(el) {
    if (el.dataset.chartStarted) return;
    el.dataset.chartStarted = 'true';
    const windowSize = Number(el.dataset.chartWindow || 120);
    const labels = [];
    const columns = [[]];  // columns[0]: seconds since the epoch; then one per label
    let plot = null;

    function build() {
      if (plot) plot.destroy();
      const series = [{}].concat(labels.map((label, i) => ({
        label, stroke: palette[i % palette.length], width: 2, points: { show: false },
      })));
      plot = new uPlot({
        title: el.dataset.chartTitle || '',
        width: Math.max(el.clientWidth, 320),
        height: Number(el.dataset.chartHeight || 180),
        series,
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
      }, columns, el);
    }

    const source = new EventSource(el.dataset.chartStream);
    source.addEventListener(el.dataset.chartEvent || 'message', (message) => {
      if (!el.isConnected) {
        source.close();
        return;
      }
      const t0 = performance.now();
      const point = JSON.parse(message.data);
      const values = point.series || {};
      let grown = false;
      for (const label of Object.keys(values)) {
        if (labels.includes(label)) continue;
        labels.push(label);
        columns.push(columns[0].map(() => null));  // no value before it appeared
        grown = true;
      }
      columns[0].push(point.ts / 1e9);
      labels.forEach((label, i) => columns[i + 1].push(label in values ? values[label] : null));
      if (columns[0].length > windowSize) columns.forEach((c) => c.shift());
      if (grown || !plot) build();
      else plot.setData(columns);
      el.dataset.chartPoints = String(columns[0].length);
      window.adamChartTimings.push(performance.now() - t0);
      if (window.adamChartTimings.length > 1000) window.adamChartTimings.shift();
    });
    // A stream that cannot be opened (the plugin stopped, a proxy error) says
    // so on the chart instead of retrying forever.
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED || !el.isConnected) source.close();
      el.dataset.chartState = source.readyState === EventSource.OPEN ? 'open' : 'reconnecting';
    });
    source.addEventListener('open', () => { el.dataset.chartState = 'open'; });
  }

  // Form errors next to their field: an error fragment (error.mustache)
  // with data-field names it ("interfaces[0]", "match.dst_port[1]"). It goes,
  // in the form that sent the request and instead of into #errors, into the
  // form's own slot for that field (a .field-error with that data-field, as
  // a rule condition declares), else beside the input of that name; for
  // either, the nearest enclosing field counts ("match.dst_port[1]" →
  // "match.dst_port" → "match"). The form's next request clears it.
  function enclosingFields(field) {
    const names = [];
    for (let name = field; name; name = name.replace(/(\[\d+\]|\.[^.[]*)$/, '')) {
      names.push(name);
      if (!/(\[\d+\]|\.[^.[]*)$/.test(name)) break;
    }
    return names;
  }
  function fieldSlot(form, field) {
    for (const name of enclosingFields(field)) {
      const declared = form.querySelector(`.field-error[data-field="${CSS.escape(name)}"]`);
      if (declared) return { slot: declared, input: null };
      const input = Array.from(form.elements).find((e) => e.name === name);
      if (!input) continue;
      let slot = form.querySelector(`.field-error[data-error-for="${CSS.escape(name)}"]`);
      if (!slot) {
        slot = document.createElement('span');
        slot.className = 'field-error';
        slot.dataset.errorFor = name;
        input.insertAdjacentElement('afterend', slot);
      }
      return { slot, input };
    }
    return null;
  }
  function clearFieldErrors(form) {
    form.querySelectorAll('.field-error').forEach((e) => { e.replaceChildren(); });
    form.querySelectorAll('[aria-invalid="true"]').forEach((e) => e.removeAttribute('aria-invalid'));
  }
  document.addEventListener('htmx:beforeRequest', (e) => {
    const form = e.detail.elt.closest && e.detail.elt.closest('form');
    if (form) clearFieldErrors(form);
  });
  document.addEventListener('htmx:beforeSwap', (e) => {
    const form = e.detail.requestConfig && e.detail.requestConfig.elt && e.detail.requestConfig.elt.closest('form');
    if (!form || !e.detail.isError) return;
    const fragment = document.createElement('template');
    fragment.innerHTML = e.detail.serverResponse || '';
    const error = fragment.content.querySelector('.error[data-field]');
    const found = error && fieldSlot(form, error.dataset.field);
    if (!found) return;
    found.slot.replaceChildren(error);  // the server's fragment: its text is escaped
    found.slot.setAttribute('role', 'alert');
    if (found.input) found.input.setAttribute('aria-invalid', 'true');
    e.detail.shouldSwap = false;
  });

  function startAll(root) {
    root.querySelectorAll('[data-chart-stream]').forEach(start);
  }
  document.addEventListener('DOMContentLoaded', () => startAll(document));
  document.addEventListener('htmx:load', (e) => startAll(e.target));
})();
