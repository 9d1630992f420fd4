// Small inline SVG line charts, drawn by our code: no library.

const SVG = 'http://www.w3.org/2000/svg';

/**
 * The SVG path of `values` scaled into a `w`×`h` box (y grows downward; `max` at the top).
 * Missing values (null) break the line.
 * @param {(number | null)[]} values
 * @param {number} w
 * @param {number} h
 * @param {number} max
 * @returns {string}
 */
export function linePath(values, w, h, max) {
  if (values.length === 0) return '';
  const step = values.length > 1 ? w / (values.length - 1) : 0;
  const top = max > 0 ? max : 1;
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) { pen = false; return; }
    const x = Math.round(i * step * 10) / 10;
    const y = Math.round((h - (Math.min(v, top) / top) * h) * 10) / 10;
    d += `${pen ? 'L' : 'M'}${x} ${y}`;
    pen = true;
  });
  return d;
}

/**
 * The top of the scale for the series: their maximum, at least `floor`.
 * @param {(number | null)[][]} series
 * @param {number} [floor]
 * @returns {number}
 */
export function scaleMax(series, floor = 1) {
  let m = floor;
  for (const s of series) for (const v of s) if (v !== null && Number.isFinite(v) && v > m) m = v;
  return m;
}

/** HTMLElement where there is a DOM (node's unit tests import the pure functions above). */
const Base = /** @type {typeof HTMLElement} */ (globalThis.HTMLElement ?? class {});

/**
 * `<writ-chart label="…">`: set `.series = [{name, values, cls}]` and `.format = fn`.
 */
export class WritChart extends Base {
  constructor() {
    super();
    /** @type {{name: string, values: (number | null)[], cls: string}[]} */
    this._series = [];
    /** @type {(v: number) => string} */
    this.format = (v) => String(v);
  }

  /** @param {{name: string, values: (number | null)[], cls: string}[]} s */
  set series(s) { this._series = s; this.render(); }

  render() {
    const w = 240;
    const hgt = 48;
    const max = scaleMax(this._series.map((s) => s.values));
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    const last = this._series
      .map((s) => {
        const v = [...s.values].reverse().find((x) => x !== null && Number.isFinite(x));
        return `${s.name} ${v === undefined || v === null ? '—' : this.format(v)}`;
      })
      .join(', ');
    const label = `${this.getAttribute('label') ?? 'chart'}: now ${last}; scale to ${this.format(max)}`;
    svg.setAttribute('aria-label', label);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = label;
    svg.appendChild(title);
    for (const s of this._series) {
      const p = document.createElementNS(SVG, 'path');
      p.setAttribute('d', linePath(s.values, w, hgt, max));
      p.setAttribute('class', `line ${s.cls}`);
      p.setAttribute('vector-effect', 'non-scaling-stroke');
      svg.appendChild(p);
    }
    const legend = document.createElement('p');
    legend.className = 'legend';
    for (const s of this._series) {
      const v = [...s.values].reverse().find((x) => x !== null && Number.isFinite(x));
      const item = document.createElement('span');
      item.className = `key ${s.cls}`;
      item.textContent = `${s.name}: ${v === undefined || v === null ? '—' : this.format(v)}`;
      legend.appendChild(item);
    }
    this.replaceChildren(svg, legend);
  }
}

if (globalThis.customElements && !customElements.get('writ-chart')) {
  customElements.define('writ-chart', WritChart);
}
