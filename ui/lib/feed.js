// The event feed (`GET /v1/events`, server-sent events) read with fetch streaming, because
// EventSource cannot send a bearer header. On a dropped stream it reconnects with a growing
// delay; every connection starts with a `snapshot` event (the governance state in force), so a
// reconnect misses nothing that matters. A `lagged` event (the server dropped events for this
// subscriber) forces a reconnect for a fresh snapshot.

/**
 * @typedef {{event: string, data: string, id?: string}} SseMessage
 * @typedef {{kind: string, data: any, id?: string}} FeedEvent
 * @typedef {'connecting' | 'live' | 'retrying' | 'denied' | 'closed'} FeedStatus
 */

/** Parses the SSE wire format (WHATWG HTML §9.2) incrementally. */
export class SseParser {
  constructor() {
    this.buf = '';
    /** @type {string[]} */
    this.data = [];
    this.event = '';
    /** @type {string | undefined} */
    this.id = undefined;
  }

  /**
   * Feeds a chunk of text; returns the messages it completed.
   * @param {string} chunk
   * @returns {SseMessage[]}
   */
  push(chunk) {
    this.buf += chunk;
    /** @type {SseMessage[]} */
    const out = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone CR at the end may be the first half of CRLF: wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      if (line === '') {
        if (this.data.length > 0) {
          /** @type {SseMessage} */
          const msg = { event: this.event || 'message', data: this.data.join('\n') };
          if (this.id !== undefined) msg.id = this.id;
          out.push(msg);
        }
        this.data = [];
        this.event = '';
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.event = value;
      else if (field === 'id' && !value.includes('\0')) this.id = value;
    }
    return out;
  }
}

/**
 * The delay before reconnect attempt `n` (0-based): 250 ms doubling to at most 8 s.
 * @param {number} n
 * @returns {number}
 */
export function backoff(n) {
  return Math.min(8000, 250 * 2 ** Math.min(n, 5));
}

/**
 * Follows the feed until closed.
 * @param {{
 *   url: string,
 *   token: () => string | null,
 *   onEvent: (ev: FeedEvent) => void,
 *   onStatus?: (s: FeedStatus, detail?: string) => void,
 *   fetch?: typeof fetch,
 *   delay?: (n: number) => number,
 * }} opts
 * @returns {{close: () => void}}
 */
export function openFeed(opts) {
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const delay = opts.delay ?? backoff;
  const status = opts.onStatus ?? (() => {});
  let closed = false;
  /** @type {AbortController | null} */
  let ctl = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let attempt = 0;

  const connect = async () => {
    if (closed) return;
    status('connecting');
    ctl = new AbortController();
    let reason = 'the feed ended';
    try {
      const token = opts.token();
      const resp = await doFetch(opts.url, {
        headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        signal: ctl.signal,
        cache: 'no-store',
      });
      if (resp.status === 401 || resp.status === 403) {
        status('denied', `the feed answered ${resp.status}`);
        closed = true;
        return;
      }
      if (!resp.ok || !resp.body) throw new Error(`the feed answered ${resp.status}`);
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        let lagged = false;
        for (const msg of parser.push(value)) {
          let data = null;
          try { data = JSON.parse(msg.data); } catch { data = msg.data; }
          if (msg.event === 'snapshot') { attempt = 0; status('live'); }
          if (msg.event === 'lagged') { lagged = true; reason = 'the feed fell behind'; }
          /** @type {FeedEvent} */
          const ev = { kind: msg.event, data };
          if (msg.id !== undefined) ev.id = msg.id;
          opts.onEvent(ev);
        }
        if (lagged) { ctl.abort(); break; }
      }
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    if (closed) return;
    status('retrying', reason);
    timer = setTimeout(connect, delay(attempt));
    attempt += 1;
  };
  connect();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      ctl?.abort();
      status('closed');
    },
  };
}
