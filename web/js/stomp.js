// A small STOMP 1.2 client over the browser's WebSocket, written for Liar (docs/protocol.md).
//
// - frames: encode/decode with 1.2 header escaping, content-length aware, heart-beat EOLs;
// - heart-beats both ways; a silent server is treated as a dropped connection;
// - automatic reconnect with backoff; every subscription is re-sent on reconnect, each with
//   headers computed at that moment (the room topic passes `since-seq` to resume);
// - `send()` always asks for a receipt and resolves on RECEIPT or rejects with the error
//   message from /user/queue/errors that carries the same receipt id;
// - fatal refusals (a replaced or revoked session) stop reconnecting and are reported.

const NUL = '\0';
/** Codes of an ERROR frame after which reconnecting cannot help. */
const FATAL = new Set(['SESSION_REPLACED', 'SESSION_REVOKED', 'REFRESH_REUSED', 'UNAUTHENTICATED', 'INVALID_TOKEN']);
const RECEIPT_TIMEOUT_MS = 10000;

export class StompError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.code = code;
    Object.assign(this, extra);
  }
}

function escapeHeader(s) {
  return String(s).replace(/\\/g, '\\\\').replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/:/g, '\\c');
}

function unescapeHeader(s) {
  return s.replace(/\\(.)/g, (_, c) => ({ r: '\r', n: '\n', c: ':', '\\': '\\' })[c] ?? c);
}

/** Serialises one frame. CONNECT headers are not escaped (STOMP 1.2 §Value Encoding). */
export function encodeFrame(command, headers = {}, body = '') {
  const esc = command === 'CONNECT' || command === 'STOMP' ? String : escapeHeader;
  let out = `${command}\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || v === null) continue;
    out += `${esc(k)}:${esc(v)}\n`;
  }
  if (body) out += `content-length:${new TextEncoder().encode(body).length}\n`;
  return `${out}\n${body}${NUL}`;
}

/**
 * Splits a buffer of received text into frames. Returns {frames, rest}; `rest` is an
 * incomplete tail to prepend to the next chunk. Heart-beat EOLs between frames are skipped
 * and counted in `beats`.
 */
export function decodeFrames(buffer) {
  const frames = [];
  let i = 0;
  let beats = 0;
  for (;;) {
    while (i < buffer.length && (buffer[i] === '\n' || buffer[i] === '\r')) {
      i++;
      beats++;
    }
    if (i >= buffer.length) return { frames, rest: '', beats };
    const headEnd = buffer.indexOf('\n\n', i);
    const headEndCr = buffer.indexOf('\r\n\r\n', i);
    let sepAt = headEnd;
    let sepLen = 2;
    if (headEndCr !== -1 && (headEnd === -1 || headEndCr < headEnd)) {
      sepAt = headEndCr;
      sepLen = 4;
    }
    if (sepAt === -1) return { frames, rest: buffer.slice(i), beats };
    const lines = buffer.slice(i, sepAt).split(/\r?\n/);
    const command = lines.shift();
    const headers = {};
    for (const line of lines) {
      const c = line.indexOf(':');
      if (c < 0) continue;
      const k = unescapeHeader(line.slice(0, c));
      // The first occurrence of a repeated header wins (STOMP 1.2).
      if (!(k in headers)) headers[k] = unescapeHeader(line.slice(c + 1));
    }
    const bodyStart = sepAt + sepLen;
    let bodyEnd;
    if (headers['content-length'] !== undefined) {
      // content-length counts bytes; find the character offset of that many UTF-8 bytes.
      const want = Number(headers['content-length']);
      let bytes = 0;
      let j = bodyStart;
      while (j < buffer.length && bytes < want) {
        const cp = buffer.codePointAt(j);
        bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        j += cp >= 0x10000 ? 2 : 1;
      }
      if (bytes < want || j >= buffer.length) return { frames, rest: buffer.slice(i), beats };
      bodyEnd = j;
    } else {
      bodyEnd = buffer.indexOf(NUL, bodyStart);
      if (bodyEnd === -1) return { frames, rest: buffer.slice(i), beats };
    }
    frames.push({ command, headers, body: buffer.slice(bodyStart, bodyEnd) });
    i = bodyEnd + 1; // past the NUL
  }
}

export class StompClient extends EventTarget {
  /**
   * @param {object} opts
   * @param {string} opts.url            ws:// or wss:// URL of /ws
   * @param {() => Promise<object>} opts.connectHeaders  headers for CONNECT (fresh token)
   * @param {(frame) => Promise<boolean>|boolean} [opts.onRefused]  a non-fatal ERROR at
   *        connect (e.g. TOKEN_EXPIRED); return false to stop reconnecting
   * @param {(code, message) => void} [opts.onFatal]      session over: no more reconnects
   * @param {(err) => void} [opts.onError]                refusals without a pending receipt
   * @param {(state) => void} [opts.onState]              'connecting' | 'online' | 'offline'
   */
  constructor(opts) {
    super();
    this.opts = opts;
    this.ws = null;
    this.state = 'offline';
    // id -> {dest, onMessage, headers(), onRefused}; the error queue is always first.
    this.subs = new Map([['__errors', { dest: '/user/queue/errors', onMessage: () => {} }]]);
    this.pending = new Map(); // receipt id -> {resolve, reject, timer}
    this.nextId = 1;
    this.buffer = '';
    this.stopped = true;
    this.attempt = 0;
    this.retryTimer = null;
    this.beatTimer = null;
    this.watchTimer = null;
    this.lastSeen = 0;
    this.connectedWaiters = [];
  }

  /** Starts (or restarts) connecting; reconnects by itself until `stop()`. */
  start() {
    this.stopped = false;
    if (!this.ws) this.open();
  }

  /** Closes the connection for good (logout, replaced session). */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.teardown();
    if (this.ws) {
      try {
        this.ws.close(1000);
      } catch {
        /* already closed */
      }
      this.ws = null;
    }
    this.setState('offline');
  }

  /** Drops the socket as a network failure would; reconnects (used by tests and resume). */
  drop() {
    if (this.ws) this.ws.close(4000, 'drop');
  }

  get online() {
    return this.state === 'online';
  }

  /** Resolves once connected. */
  whenOnline() {
    if (this.online) return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.opts.onState?.(s);
    this.dispatchEvent(new CustomEvent('state', { detail: s }));
    if (s === 'online') {
      const w = this.connectedWaiters.splice(0);
      w.forEach((f) => f());
    }
  }

  async open() {
    this.setState('connecting');
    let headers;
    try {
      headers = await this.opts.connectHeaders();
    } catch (e) {
      if (e?.fatal) {
        this.stopped = true;
        this.setState('offline');
        this.opts.onFatal?.(e.code, e.message);
        return;
      }
      this.scheduleRetry();
      return;
    }
    if (this.stopped) return;
    let ws;
    try {
      ws = new WebSocket(this.opts.url, ['v12.stomp', 'v11.stomp', 'v10.stomp']);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    this.buffer = '';
    ws.onopen = () => {
      ws.send(encodeFrame('CONNECT', { 'accept-version': '1.2', host: location.hostname || 'liar', 'heart-beat': '10000,10000', ...headers }));
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      this.lastSeen = Date.now();
      const text = typeof ev.data === 'string' ? ev.data : new TextDecoder().decode(ev.data);
      const { frames, rest } = decodeFrames(this.buffer + text);
      this.buffer = rest;
      for (const f of frames) this.onFrame(f);
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.teardown();
      this.setState(this.stopped ? 'offline' : 'connecting');
      if (!this.stopped) this.scheduleRetry();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  teardown() {
    clearInterval(this.beatTimer);
    clearInterval(this.watchTimer);
    this.beatTimer = null;
    this.watchTimer = null;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new StompError('OFFLINE', 'connection lost'));
      this.pending.delete(id);
    }
  }

  scheduleRetry() {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    const base = Math.min(10000, 300 * 2 ** this.attempt);
    this.attempt++;
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      if (!this.stopped && !this.ws) this.open();
    }, delay);
  }

  onFrame(f) {
    switch (f.command) {
      case 'CONNECTED':
        this.onConnected(f);
        break;
      case 'MESSAGE':
        this.onMessage(f);
        break;
      case 'RECEIPT': {
        const p = this.pending.get(f.headers['receipt-id']);
        if (p) {
          clearTimeout(p.timer);
          this.pending.delete(f.headers['receipt-id']);
          p.resolve();
        }
        break;
      }
      case 'ERROR':
        this.onErrorFrame(f);
        break;
      default:
        break;
    }
  }

  onConnected(f) {
    this.attempt = 0;
    this.userName = f.headers['user-name'];
    this.session = f.headers.session;
    // Heart-beats: send every max(ours, theirs-wanted); expect within max(ours-wanted, theirs).
    const [sx, sy] = (f.headers['heart-beat'] || '0,0').split(',').map(Number);
    const out = sy > 0 ? Math.max(10000, sy) : 0;
    const inc = sx > 0 ? Math.max(10000, sx) : 0;
    if (out) {
      this.beatTimer = setInterval(() => {
        if (this.ws?.readyState === WebSocket.OPEN) this.ws.send('\n');
      }, out);
    }
    if (inc) {
      this.lastSeen = Date.now();
      this.watchTimer = setInterval(() => {
        if (Date.now() - this.lastSeen > inc * 2.5) this.drop();
      }, inc);
    }
    // The error queue first, so refusals of the other subscriptions are seen.
    for (const [id, s] of this.subs) this.sendSubscribe(id, s);
    this.setState('online');
  }

  onMessage(f) {
    const id = f.headers.subscription;
    let body = f.body;
    try {
      body = body ? JSON.parse(body) : null;
    } catch {
      /* leave as text */
    }
    if (id === '__errors') {
      this.onErrorMessage(body);
      return;
    }
    const s = this.subs.get(id);
    if (s) s.onMessage(body, f.headers);
  }

  onErrorMessage(err) {
    const e = new StompError(err?.code || 'ERROR', err?.message, { receiptId: err?.receiptId });
    const p = err?.receiptId ? this.pending.get(err.receiptId) : null;
    if (p) {
      clearTimeout(p.timer);
      this.pending.delete(err.receiptId);
      p.reject(e);
      return;
    }
    // A refused SUBSCRIBE names the subscription's receipt id (`sub:<id>`).
    if (err?.receiptId?.startsWith('sub:')) {
      const id = err.receiptId.slice(4);
      const s = this.subs.get(id);
      if (s) {
        this.subs.delete(id);
        s.onRefused?.(e);
        return;
      }
    }
    this.opts.onError?.(e);
  }

  async onErrorFrame(f) {
    let code = f.headers.message;
    let message = code;
    try {
      const j = JSON.parse(f.body);
      code = j.code || code;
      message = j.message || message;
    } catch {
      /* plain text body */
    }
    if (FATAL.has(code)) {
      this.stop();
      this.opts.onFatal?.(code, message);
      return;
    }
    const go = await this.opts.onRefused?.({ code, message });
    if (go === false) this.stop();
    // Otherwise the server closes the socket and we reconnect.
  }

  sendSubscribe(id, s) {
    const headers = { id, destination: s.dest, ack: 'auto', ...(s.headers?.() ?? {}) };
    if (s.onRefused) headers.receipt = `sub:${id}`;
    this.raw('SUBSCRIBE', headers);
  }

  raw(command, headers, body) {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(encodeFrame(command, headers, body));
      return true;
    }
    return false;
  }

  /**
   * Subscribes (now if online, and again after every reconnect).
   * @returns {() => void} unsubscribe
   */
  subscribe(dest, onMessage, { headers, onRefused, id } = {}) {
    id = id ?? `s${this.nextId++}`;
    const s = { dest, onMessage, headers, onRefused };
    this.subs.set(id, s);
    if (this.online) this.sendSubscribe(id, s);
    return () => {
      if (this.subs.get(id) === s) {
        this.subs.delete(id);
        if (this.online) this.raw('UNSUBSCRIBE', { id });
      }
    };
  }

  /** Sends a command; resolves on its RECEIPT, rejects with a StompError. */
  send(dest, body = {}) {
    if (!this.online) return Promise.reject(new StompError('OFFLINE', 'not connected'));
    const receipt = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(receipt);
        reject(new StompError('TIMEOUT', 'no answer'));
      }, RECEIPT_TIMEOUT_MS);
      this.pending.set(receipt, { resolve, reject, timer });
      this.raw('SEND', { destination: dest, receipt, 'content-type': 'application/json' }, JSON.stringify(body));
    });
  }
}
