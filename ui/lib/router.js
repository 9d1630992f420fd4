// Client-side routes under /ui/. The server answers the shell for every one of them.

/**
 * @typedef {{page: 'console' | 'health' | 'notfound', path: string}} Route
 */

/**
 * @param {string} pathname
 * @returns {Route}
 */
export function route(pathname) {
  const p = pathname.replace(/\/+$/, '') || '/';
  if (p === '/ui' || p === '/') return { page: 'console', path: '/ui/' };
  if (p === '/ui/health') return { page: 'health', path: '/ui/health' };
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
