// Building DOM without innerHTML: text from the server is only ever set as text.

/**
 * @typedef {string | number | Node | null | undefined | false} Child
 */

/**
 * Creates an element. Attributes named `on…` with a function become event listeners; `false`,
 * `null` and `undefined` attributes are left out; `true` sets an empty attribute.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...(Child | Child[])} kids
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'value' && 'value' in el) {
      /** @type {HTMLInputElement} */ (el).value = String(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, kids);
  return el;
}

/**
 * @param {Node} el
 * @param {(Child | Child[])[]} kids
 */
export function append(el, kids) {
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.appendChild(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
  }
}

/**
 * Replaces the children of `el`.
 * @param {Element} el
 * @param {...(Child | Child[])} kids
 */
export function replace(el, ...kids) {
  el.replaceChildren();
  append(el, kids);
}

/**
 * Asks for confirmation in a modal dialog that names the act's effect; resolves true when
 * confirmed. Keyboard: focus starts on Cancel, Escape cancels.
 * @param {string} title
 * @param {string} effect
 * @param {string} confirmLabel
 * @returns {Promise<boolean>}
 */
export function confirmAct(title, effect, confirmLabel) {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', value: 'cancel' }, 'Cancel');
    const ok = h('button', { type: 'button', class: 'danger', 'data-confirm': true }, confirmLabel);
    const dlg = /** @type {HTMLDialogElement} */ (
      h('dialog', { 'aria-labelledby': 'confirm-title', class: 'confirm' },
        h('h2', { id: 'confirm-title' }, title),
        h('p', null, effect),
        h('div', { class: 'row' }, cancel, ok))
    );
    /** @param {boolean} v */
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    cancel.addEventListener('click', () => done(false));
    ok.addEventListener('click', () => done(true));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.appendChild(dlg);
    dlg.showModal();
    cancel.focus();
  });
}
