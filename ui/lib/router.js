// Client-side routes under /ui/. The server answers the shell for every one of them.

/**
 * `param` is the execution id of `/ui/proof/{execution}` and `/ui/lineage/{execution}`.
 * @typedef {{page: 'console' | 'health' | 'proof' | 'lineage' | 'demo' | 'notfound', path: string, param?: string}} Route
 */

/**
 * @param {string} pathname
 * @returns {Route}
 */
export function route(pathname) {
  const p = pathname.replace(/\/+$/, '') || '/';
  if (p === '/ui' || p === '/') return { page: 'console', path: '/ui/' };
  if (p === '/ui/health') return { page: 'health', path: '/ui/health' };
  if (p === '/ui/demo') return { page: 'demo', path: '/ui/demo' };
  for (const page of /** @type {const} */ (['proof', 'lineage'])) {
    if (p === `/ui/${page}`) return { page, path: `/ui/${page}` };
    const m = p.match(new RegExp(`^/ui/${page}/([^/]+)$`));
    if (m) {
      try {
        return { page, path: `/ui/${page}`, param: decodeURIComponent(m[1] ?? '') };
      } catch {
        return { page: 'notfound', path: pathname };
      }
    }
  }
  return { page: 'notfound', path: pathname };
}

/**
 * Follows in-app links without reloading, and back/forward.
 * @param {(r: Route) => void} show
 */
export function startRouter(show) {
  document.addEventListener('click', (e) => {
    const a = e.target instanceof Element ? e.target.closest('a[href^="/ui/"]') : null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    const href = a.getAttribute('href') ?? '/ui/';
    e.preventDefault();
    if (href !== location.pathname) history.pushState(null, '', href);
    show(route(href));
  });
  window.addEventListener('popstate', () => show(route(location.pathname)));
  show(route(location.pathname));
}
