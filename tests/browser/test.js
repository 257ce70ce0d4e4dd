// Browser side of the gowt browser tests (tests/browser/run.py).
//
// The page gets the servers from its query string:
//   wt, hash     gowt_web_demo's WebTransport port and certificate SHA-256
//   http         gowt_web_demo's HTTP port (demo page, embedded in a frame)
//   bport, bhash gowt_baton's port and certificate SHA-256 (may be absent)
//   bytes        size of the big transfers (default 50 MB)
//   repeat       number of server closes to verify (default 20)
//   only         comma-separated check names to run (default: all)
// Every check reports {name, ok, detail, data} to POST /progress as soon as
// it ends; the full verdict goes to POST /result. The runner adds the
// evidence of the C servers (their EVENT lines) to each check.
'use strict';

const P = new URLSearchParams(location.search);
const WT_PORT = P.get('wt');
const WT_HASH = P.get('hash');
const HTTP_PORT = P.get('http');
const BATON_PORT = P.get('bport');
const BATON_HASH = P.get('bhash');
const BIG = parseInt(P.get('bytes') || String(50 * 1000 * 1000), 10);
const REPEAT = parseInt(P.get('repeat') || '20', 10);
const ONLY = P.get('only') ? P.get('only').split(',') : null;

const enc = new TextEncoder();
const dec = new TextDecoder();
const logEl = document.getElementById('log');
const T0 = performance.now();

function log(text) {
  const line = ((performance.now() - T0) / 1000).toFixed(2) + 's ' + text;
  logEl.textContent += line + '\n';
  console.log('gowt-test: ' + line);
}

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

function toHex(buf) {
  return Array.from(new Uint8Array(buf), b => b.toString(16).padStart(2, '0')).join('');
}

function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error((what || 'operation') + ' timed out after ' + ms + ' ms')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function errText(e) {
  if (e === undefined || e === null) return String(e);
  let s = (e.name ? e.name + ': ' : '') + (e.message !== undefined ? e.message : String(e));
  if (e.source !== undefined) s += ' [source=' + e.source + ']';
  if (e.streamErrorCode !== undefined && e.streamErrorCode !== null) s += ' [streamErrorCode=' + e.streamErrorCode + ']';
  return s;
}

// The byte pattern shared with gowt_web_demo and run.py.
function patternByte(i) { return (i ^ (i >>> 8) ^ (i >>> 16) ^ (i >>> 24)) & 0xff; }
let patternCache = null;
function pattern(n) {
  if (patternCache === null || patternCache.length < n) {
    patternCache = new Uint8Array(n);
    for (let i = 0; i < n; i++) patternCache[i] = patternByte(i);
  }
  return patternCache.subarray(0, n);
}

async function sha256Hex(bytes) { return toHex(await crypto.subtle.digest('SHA-256', bytes)); }

// Open a session to gowt_web_demo. The promises are given handlers at once
// so a failing session never shows up as an unhandled rejection.
// protocols: offered sub-protocols (WebTransportOptions.protocols), or none.
function connect(pathAndQuery, port, hash, protocols) {
  const url = 'https://127.0.0.1:' + (port || WT_PORT) + pathAndQuery;
  const opts = {serverCertificateHashes: [{algorithm: 'sha-256', value: hexToBytes(hash || WT_HASH)}]};
  if (protocols) opts.protocols = protocols;
  const wt = new WebTransport(url, opts);
  wt.ready.catch(() => {});
  wt.closed.catch(() => {});
  return wt;
}

async function open(pathAndQuery) {
  const wt = connect(pathAndQuery);
  await withTimeout(wt.ready, 10000, 'session ' + pathAndQuery);
  return wt;
}

function closeQuietly(wt) {
  try { wt.close(); } catch (_) { /* already closed */ }
}

async function readAll(readable, limit) {
  const reader = readable.getReader();
  const chunks = [];
  let n = 0;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.length;
    if (limit && n > limit) throw new Error('more than ' + limit + ' bytes');
  }
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.length; }
  return out;
}

async function writeAll(writable, bytes, close) {
  const w = writable.getWriter();
  await w.write(bytes);
  if (close) await w.close(); else w.releaseLock();
}

async function nextStream(readableOfStreams, what) {
  const reader = readableOfStreams.getReader();
  try {
    const {value, done} = await withTimeout(reader.read(), 10000, what);
    if (done) throw new Error(what + ': no more streams');
    return value;
  } finally {
    reader.releaseLock();
  }
}

// A WebTransportError with a stream error code, in the spec's form
// (message, {streamErrorCode}) or the older Chromium form ({streamErrorCode}).
function streamError(code) {
  try {
    const e = new WebTransportError('gowt test', {source: 'stream', streamErrorCode: code});
    if (e.streamErrorCode === code) return e;
  } catch (_) { /* older constructor */ }
  return new WebTransportError({streamErrorCode: code, message: 'gowt test'});
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

const checks = [];
function check(name, timeoutMs, fn, optIn) { checks.push({name, timeoutMs, fn, optIn: !!optIn}); }

check('session_open', 15000, async () => {
  const t = performance.now();
  const wt = await open('/echo?tag=open1');
  const ms = performance.now() - t;
  wt.close({closeCode: 0, reason: 'done'});
  await withTimeout(wt.closed, 5000, 'close');
  return {ok: true, detail: 'ready after ' + ms.toFixed(1) + ' ms', data: {ms}};
});

check('sessions_parallel_10', 30000, async () => {
  const t = performance.now();
  const all = [];
  for (let i = 0; i < 10; i++) all.push(connect('/echo?tag=par' + i));
  const settled = await Promise.allSettled(all.map(wt => withTimeout(wt.ready, 15000, 'ready')));
  const readyCount = settled.filter(s => s.status === 'fulfilled').length;
  const readyMs = performance.now() - t;
  // While all ten are open, echo something on each one.
  let echoed = 0;
  const errors = [];
  await Promise.all(all.map(async (wt, i) => {
    if (settled[i].status !== 'fulfilled') { errors.push('par' + i + ': ' + errText(settled[i].reason)); return; }
    try {
      const s = await wt.createBidirectionalStream();
      const msg = 'parallel session ' + i;
      const back = readAll(s.readable, 1000);
      await writeAll(s.writable, enc.encode(msg), true);
      if (dec.decode(await withTimeout(back, 10000, 'echo')) === msg) echoed++;
      else errors.push('par' + i + ': wrong echo');
    } catch (e) { errors.push('par' + i + ': ' + errText(e)); }
  }));
  for (const wt of all) closeQuietly(wt);
  return {
    ok: readyCount === 10 && echoed === 10,
    detail: readyCount + '/10 ready (second and tenth included) in ' + readyMs.toFixed(0) + ' ms, ' +
      echoed + '/10 echoed concurrently' + (errors.length ? '; ' + errors.join('; ') : ''),
    data: {readyCount, echoed, second: settled[1].status, tenth: settled[9].status},
  };
});

check('bidi_echo', 20000, async () => {
  const wt = await open('/echo?tag=bidi');
  const sizes = [1, 13, 1000, 65536, 300000];
  const results = await Promise.all(sizes.map(async (size, k) => {
    const msg = new Uint8Array(size);
    for (let i = 0; i < size; i++) msg[i] = (i * 7 + k) & 0xff;
    const s = await wt.createBidirectionalStream();
    const back = readAll(s.readable, size + 1);
    const w = s.writable.getWriter();
    // In a few writes, to see the pieces come back in order.
    const step = Math.max(1, Math.ceil(size / 3));
    for (let off = 0; off < size; off += step) await w.write(msg.slice(off, off + step));
    await w.close();
    const got = await withTimeout(back, 15000, 'echo of ' + size + ' bytes');
    return got.length === size && got.every((b, i) => b === msg[i]);
  }));
  wt.close({closeCode: 0, reason: 'done'});
  const good = results.filter(Boolean).length;
  return {ok: good === sizes.length, detail: good + '/' + sizes.length + ' concurrent bidi streams echoed exactly (' + sizes.join(', ') + ' bytes)',
          data: {sizes}};
});

check('uni_client_to_server', 15000, async () => {
  const wt = await open('/echo?tag=uni');
  const text = 'uni-from-browser-' + Math.random().toString(36).slice(2);
  const s = await wt.createUnidirectionalStream();
  await writeAll(s, enc.encode(text), true);
  // The server answers on a new uni stream with the same bytes.
  const back = await nextStream(wt.incomingUnidirectionalStreams, 'server uni answer');
  const got = dec.decode(await withTimeout(readAll(back, 10000), 10000, 'read'));
  wt.close({closeCode: 0, reason: 'done'});
  return {ok: got === text, detail: 'sent "' + text + '", server answered "' + got + '"', data: {text}};
});

check('server_streams', 15000, async () => {
  const wt = await open('/open?tag=open');
  const uniP = (async () => {
    const s = await nextStream(wt.incomingUnidirectionalStreams, 'server uni stream');
    return dec.decode(await withTimeout(readAll(s, 1000), 10000, 'read uni'));
  })();
  const bidiP = (async () => {
    const s = await nextStream(wt.incomingBidirectionalStreams, 'server bidi stream');
    const got = dec.decode(await withTimeout(readAll(s.readable, 1000), 10000, 'read bidi'));
    await writeAll(s.writable, enc.encode('browser reply on server bidi'), true);
    return got;
  })();
  const [uni, bidi] = await Promise.all([uniP, bidiP]);
  await sleep(200); // let the reply reach the server before closing
  wt.close({closeCode: 0, reason: 'done'});
  return {
    ok: uni === 'gowt server uni open\n' && bidi === 'gowt server bidi open\n',
    detail: 'uni ' + JSON.stringify(uni) + ', bidi ' + JSON.stringify(bidi),
    data: {uni, bidi, reply: 'browser reply on server bidi'},
  };
});

// Collects a session's incoming datagrams from the start, so none is dropped
// by Chromium's small incoming queue while the page is busy writing.
function datagramCollector(wt) {
  const hwm = {before: wt.datagrams.incomingHighWaterMark};
  try { wt.datagrams.incomingHighWaterMark = 1024; } catch (_) { /* not supported */ }
  hwm.after = wt.datagrams.incomingHighWaterMark;
  const reader = wt.datagrams.readable.getReader();
  const c = {got: [], seen: 0, waiter: null, hwm};
  (async () => {
    for (;;) {
      let r;
      try { r = await reader.read(); } catch (_) { break; }
      if (r.done) break;
      c.got.push(r.value);
      if (c.waiter) { const w = c.waiter; c.waiter = null; w(); }
    }
  })();
  c.next = ms => new Promise(resolve => {
    if (c.seen < c.got.length) { resolve(); return; }
    const t = setTimeout(() => { c.waiter = null; resolve(); }, ms);
    c.waiter = () => { clearTimeout(t); resolve(); };
  });
  return c;
}

// Send datagrams and wait for their echoes; returns the number echoed.
async function datagramRound(collector, writer, payloads, waitMs) {
  const key = p => toHex(p.subarray(0, 8)) + ':' + p.length;
  const want = new Map(payloads.map(p => [key(p), p]));
  for (const p of payloads) await writer.write(p);
  let got = 0;
  const deadline = performance.now() + waitMs;
  while (want.size > 0) {
    while (collector.seen < collector.got.length) {
      const v = collector.got[collector.seen++];
      const p = want.get(key(v));
      if (p && p.every((b, i) => b === v[i])) { want.delete(key(v)); got++; }
    }
    const left = deadline - performance.now();
    if (want.size === 0 || left <= 0) break;
    await collector.next(left);
  }
  return got;
}

check('datagrams_both_ways', 20000, async () => {
  const wt = await open('/echo?tag=dgram');
  const collector = datagramCollector(wt);
  const writer = wt.datagrams.writable.getWriter();
  const payloads = [];
  for (let i = 0; i < 20; i++) payloads.push(enc.encode('datagram #' + String(i).padStart(2, '0') + ' ' + 'x'.repeat(i * 10)));
  const got = await datagramRound(collector, writer, payloads, 3000);
  wt.close({closeCode: 0, reason: 'done'});
  return {ok: got >= 18, detail: got + '/20 datagrams echoed (loopback: expect all; incomingHighWaterMark ' +
          collector.hwm.before + ' -> ' + collector.hwm.after + ')', data: {sent: 20, echoed: got}};
});

check('datagram_max_size', 20000, async () => {
  const wt = await open('/echo?tag=dgmax');
  if (!('maxDatagramSize' in wt.datagrams)) {
    wt.close();
    return {ok: false, detail: 'wt.datagrams.maxDatagramSize does not exist'};
  }
  const max = wt.datagrams.maxDatagramSize;
  const collector = datagramCollector(wt);
  const writer = wt.datagrams.writable.getWriter();
  // The largest size that makes the round trip, starting at maxDatagramSize.
  let largest = 0;
  const tried = [];
  for (const size of [max, max - 1, max - 8, max - 32, max - 64, max - 128, 1200, 1000]) {
    if (size <= 0 || size > max) continue;
    const p = new Uint8Array(size);
    for (let i = 0; i < size; i++) p[i] = (i * 13 + size) & 0xff;
    p[0] = size & 0xff; p[1] = size >> 8; // distinct keys per size
    let got = 0;
    for (let attempt = 0; attempt < 3 && !got; attempt++) got = await datagramRound(collector, writer, [p], 700);
    tried.push(size + (got ? ' ok' : ' lost'));
    if (got) { largest = size; break; }
  }
  wt.close({closeCode: 0, reason: 'done'});
  return {
    ok: typeof max === 'number' && max > 0 && largest === max,
    detail: 'maxDatagramSize=' + max + ', largest echoed ' + largest + ' (' + tried.join(', ') + ')',
    data: {max, largest},
  };
});

check('upload_50mb', 90000, async () => {
  const data = pattern(BIG);
  const digest = sha256Hex(data);
  const wt = await open('/sink?tag=upload');
  const s = await wt.createBidirectionalStream();
  const answerP = readAll(s.readable, 1000);
  answerP.catch(() => {});
  const w = s.writable.getWriter();
  const t = performance.now();
  const CH = 256 * 1024;
  for (let off = 0; off < BIG; off += CH) {
    await w.ready;
    w.write(data.subarray(off, Math.min(BIG, off + CH))).catch(() => {});
  }
  await w.close();
  const answer = dec.decode(await withTimeout(answerP, 60000, 'server answer'));
  const secs = (performance.now() - t) / 1000;
  const want = 'bytes=' + BIG + ' sha256=' + await digest + '\n';
  wt.close({closeCode: 0, reason: 'done'});
  return {
    ok: answer === want,
    detail: (BIG / 1e6).toFixed(0) + ' MB in ' + secs.toFixed(2) + ' s (' + (BIG / 1e6 / secs).toFixed(1) +
      ' MB/s); server counted ' + JSON.stringify(answer.trim()) + (answer === want ? '' : ', expected ' + JSON.stringify(want.trim())),
    data: {bytes: BIG, sha256: await digest, mbps: BIG / 1e6 / secs},
  };
});

check('download_50mb', 90000, async () => {
  const wt = await open('/source?tag=download&bytes=' + BIG);
  const t = performance.now();
  const s = await nextStream(wt.incomingUnidirectionalStreams, 'server uni stream');
  const buf = new Uint8Array(BIG);
  const reader = s.getReader();
  let n = 0, bad = -1;
  for (;;) {
    const {value, done} = await withTimeout(reader.read(), 30000, 'read');
    if (done) break;
    if (n + value.length > BIG) { bad = n; break; }
    for (let i = 0; i < value.length && bad < 0; i++) if (value[i] !== patternByte(n + i)) bad = n + i;
    buf.set(value, n);
    n += value.length;
    if (bad >= 0) break;
  }
  const secs = (performance.now() - t) / 1000;
  const digest = await sha256Hex(buf.subarray(0, n));
  wt.close({closeCode: 0, reason: 'done'});
  return {
    ok: n === BIG && bad < 0,
    detail: n + ' bytes in ' + secs.toFixed(2) + ' s (' + (n / 1e6 / secs).toFixed(1) + ' MB/s)' +
      (bad >= 0 ? ', first wrong byte at ' + bad : ', every byte matches the pattern') + ', sha256 ' + digest,
    data: {bytes: n, sha256: digest, mbps: n / 1e6 / secs},
  };
});

check('browser_close', 15000, async () => {
  const wt = await open('/echo?tag=bclose');
  // A stream in flight, so the close has something to tear down.
  const s = await wt.createBidirectionalStream();
  const w = s.writable.getWriter();
  await w.write(enc.encode('pending'));
  const reason = 'browser closes \u2713';
  const readP = readAll(s.readable);
  readP.catch(() => {});
  await sleep(50);
  wt.close({closeCode: 4242, reason});
  const info = await withTimeout(wt.closed, 5000, 'closed');
  return {ok: true, detail: 'wt.close({closeCode: 4242, reason: ' + JSON.stringify(reason) + '}); local closed: ' + JSON.stringify(info),
          data: {code: 4242, reason}};
});

check('server_close_x' + REPEAT, 60000, async () => {
  const fails = [];
  const cases = [];
  for (let i = 0; i < REPEAT; i++) {
    const code = i === REPEAT - 1 ? 4294967295 : 1000 + i * 7919;
    const reason = 'server close #' + i + ' \u00e9\u2713';
    const viaDatagram = i % 2 === 0;
    const tag = 'sclose' + i;
    const wt = connect('/close?tag=' + tag + '&code=' + code + '&reason=' + encodeURIComponent(reason));
    let outcome;
    try {
      await withTimeout(wt.ready, 10000, 'ready');
      // Open streams with data in flight, so the server has streams to tear
      // down when it closes (the ordering pitfall needs them). On a slow
      // host the server's 200 ms timer can close the session first; the
      // page then cannot open streams, but the close must still be exact.
      try {
        const b = await wt.createBidirectionalStream();
        const bw = b.writable.getWriter();
        bw.write(enc.encode('bidi data before close')).catch(() => {});
        b.readable.getReader().read().catch(() => {});
        const u = await wt.createUnidirectionalStream();
        const uw = u.getWriter();
        uw.write(enc.encode('uni data before close')).catch(() => {});
        if (viaDatagram) {
          const dw = wt.datagrams.writable.getWriter();
          dw.write(enc.encode('close please')).catch(() => {});
          dw.releaseLock();
        }
      } catch (e) {
        if (!(e && e.name === 'InvalidStateError')) throw e;
      }
      const info = await withTimeout(wt.closed, 5000, 'closed');
      outcome = {closeCode: info.closeCode, reason: info.reason};
      if (info.closeCode !== code || info.reason !== reason) {
        fails.push(tag + ': got ' + JSON.stringify(outcome) + ', want ' + JSON.stringify({closeCode: code, reason}));
      }
    } catch (e) {
      outcome = {error: errText(e)};
      fails.push(tag + ': ' + errText(e));
      closeQuietly(wt);
    }
    cases.push({tag, code, reason, viaDatagram, outcome});
  }
  return {
    ok: fails.length === 0,
    detail: (REPEAT - fails.length) + '/' + REPEAT + ' server closes seen as {closeCode, reason}' +
      (fails.length ? '; ' + fails.slice(0, 5).join('; ') : ''),
    data: {cases},
  };
});

async function refused(path) {
  const wt = connect(path);
  try {
    await withTimeout(wt.ready, 10000, 'ready');
  } catch (e) {
    let closed = 'pending';
    try { await withTimeout(wt.closed, 2000, 'closed'); closed = 'resolved'; } catch (e2) { closed = 'rejected: ' + errText(e2); }
    const isWtError = typeof WebTransportError !== 'undefined' && e instanceof WebTransportError;
    return {ok: isWtError, detail: 'ready rejected with ' + errText(e) + '; closed ' + closed};
  }
  closeQuietly(wt);
  return {ok: false, detail: 'ready resolved: the session was accepted'};
}
check('refused_404', 15000, () => refused('/refuse404?tag=r404'));
check('refused_400', 15000, () => refused('/refuse400?tag=r400'));

check('browser_reset_stop_sending', 15000, async () => {
  const wt = await open('/echo?tag=breset');
  // uni stream: some data, then abort -> RESET_STREAM code 33
  const u = await wt.createUnidirectionalStream();
  const uw = u.getWriter();
  await uw.write(enc.encode('uni data, then reset'));
  await sleep(50);
  await uw.abort(streamError(33));
  // bidi stream: echo once, then cancel the reader -> STOP_SENDING 34 and
  // abort the writer -> RESET_STREAM 35
  const b = await wt.createBidirectionalStream();
  const bw = b.writable.getWriter();
  const br = b.readable.getReader();
  await bw.write(enc.encode('ping'));
  const first = await withTimeout(br.read(), 5000, 'echo');
  await br.cancel(streamError(34));
  await bw.abort(streamError(35));
  await sleep(500); // let the frames reach the server before the session ends
  wt.close({closeCode: 0, reason: 'done'});
  const e = streamError(33);
  return {
    ok: !first.done && dec.decode(first.value) === 'ping',
    detail: 'writer.abort(code 33) on a uni stream, reader.cancel(code 34) + writer.abort(code 35) on a bidi stream ' +
      '(WebTransportError constructor gives streamErrorCode=' + e.streamErrorCode + ')',
    data: {uniReset: 33, bidiStopSending: 34, bidiReset: 35},
  };
});

check('server_reset_stop_sending', 15000, async () => {
  const wt = await open('/reset?tag=sreset');
  const s = await wt.createBidirectionalStream();
  const w = s.writable.getWriter();
  const r = s.readable.getReader();
  await w.write(enc.encode('trigger'));
  let readErr = null, writeErr = null;
  try {
    const x = await withTimeout(r.read(), 5000, 'read');
    readErr = {unexpected: 'read gave ' + (x.done ? 'FIN' : x.value.length + ' bytes')};
  } catch (e) { readErr = e; }
  // The server's STOP_SENDING errors the writable side.
  try {
    const deadline = performance.now() + 5000;
    while (performance.now() < deadline) {
      await withTimeout(w.write(enc.encode('more')), 5000, 'write');
      await sleep(20);
    }
    writeErr = {unexpected: 'writes kept succeeding for 5 s'};
  } catch (e) { writeErr = e; }
  wt.close({closeCode: 0, reason: 'done'});
  const readCode = readErr && readErr.streamErrorCode;
  const writeCode = writeErr && writeErr.streamErrorCode;
  const isWt = e => typeof WebTransportError !== 'undefined' && e instanceof WebTransportError;
  return {
    ok: isWt(readErr) && readCode === 77 && isWt(writeErr) && writeCode === 78,
    detail: 'read: ' + (readErr.unexpected || errText(readErr)) + '; write: ' + (writeErr.unexpected || errText(writeErr)),
    data: {readCode, writeCode},
  };
});

// ---------------------------------------------------------------------------
// Devious baton (draft-frindell-webtrans-devious-baton-00), client side
// ---------------------------------------------------------------------------

function varintEncode(v) {
  if (v < 0x40) return [v];
  if (v < 0x4000) return [0x40 | (v >> 8), v & 0xff];
  return [0x80 | (v >>> 24) & 0x3f, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

function batonMessage(value, padding) {
  const head = varintEncode(padding);
  const m = new Uint8Array(head.length + padding + 1);
  m.set(head, 0);
  m[m.length - 1] = value;
  return m;
}

// Parse a whole message; throws on a malformed one. Returns the value, or
// null for an empty stream (picoquic's empty FIN after a 0).
function batonParse(bytes) {
  if (bytes.length === 0) return null;
  const first = bytes[0];
  const len = 1 << (first >> 6);
  if (bytes.length < len) throw new Error('truncated padding length');
  let pad = first & 0x3f;
  for (let i = 1; i < len; i++) pad = pad * 256 + bytes[i];
  if (bytes.length !== len + pad + 1) {
    throw new Error('message of ' + bytes.length + ' bytes, padding ' + pad + ': ' +
      (bytes.length < len + pad + 1 ? 'FIN before the baton' : 'bytes after the baton'));
  }
  return bytes[bytes.length - 1];
}

// opts.protocols: offered sub-protocols, as harnesses written for
// pico_baton do ({protocols: ['devious-baton-00']}); opts.wantProtocol: the
// value transport.protocol must then have.
async function batonGame(baton, count, opts) {
  opts = opts || {};
  const url = '/webtransport/devious-baton?version=0&baton=' + baton + '&count=' + count;
  const wt = connect(url, BATON_PORT, BATON_HASH, opts.protocols);
  await withTimeout(wt.ready, 10000, 'baton session');
  const g = {
    lanes: [], turns: 0, sentBytes: 0, dgramsSent: 0, dgramsReceived: 0,
    errors: [], weClosed: false, lastZeroReceived: false,
    protocol: wt.protocol, sentValues: [], dgramSentValues: [], dgramValues: [],
  };
  if (opts.wantProtocol !== undefined && wt.protocol !== opts.wantProtocol) {
    // Play all the same: the detail then shows whether only the
    // negotiation failed.
    g.errors.push('transport.protocol is ' + JSON.stringify(wt.protocol) + ', want ' +
                  JSON.stringify(opts.wantProtocol));
  }
  const lanesDone = () => g.lanes.length === count && g.lanes.every(l => l.done);
  let finish;
  const finished = new Promise(r => { finish = r; });

  const fail = (why, code) => {
    g.errors.push(why);
    if (!g.weClosed) { g.weClosed = true; try { wt.close({closeCode: code || 2, reason: why.slice(0, 200)}); } catch (_) { /* closed */ } }
  };
  // A received baton: find its lane (one more than our last value on a lane
  // waiting for an answer), or start a new lane.
  const receive = v => {
    g.turns++;
    let lane = g.lanes.find(l => !l.done && l.waiting && ((l.lastSent + 1) & 0xff) === v);
    if (!lane) {
      if (g.lanes.length >= count) { fail('baton ' + v + ' fits no lane'); return null; }
      lane = {first: v, lastSent: null, lastReceived: null, waiting: false, done: false};
      g.lanes.push(lane);
    }
    lane.lastReceived = v;
    lane.waiting = false;
    if (v === 0) {
      lane.done = true;
      g.lastZeroReceived = true;
      if (lanesDone()) {
        // We received the last 0: we close the session.
        g.weClosed = true;
        wt.close({closeCode: 0, reason: 'Have a nice day'});
      }
    }
    return lane;
  };
  const padding = () => (g.sentBytes <= 65536 ? 0x3fff : 0);
  const send = async (lane, v, writable) => {
    lane.lastSent = v;
    if (v === 0) lane.done = true; else lane.waiting = true;
    if (v === 0) g.lastZeroReceived = false;
    g.sentValues.push(v);
    const m = batonMessage(v, padding());
    g.sentBytes += m.length;
    await writeAll(writable, m, true);
  };
  const maybeDatagram = v => {
    if (v % 7 !== 1) return;
    const dw = wt.datagrams.writable.getWriter();
    dw.write(batonMessage(v, 0)).catch(() => {});
    dw.releaseLock();
    g.dgramsSent++;
    g.dgramSentValues.push(v);
  };
  const guard = p => p.catch(e => { if (!g.weClosed && !g.closedSeen) fail('stream error: ' + errText(e)); });

  // A baton on a bidi stream we opened: pass it on on a new uni stream.
  const onOwnBidi = async (s) => {
    const v = batonParse(await readAll(s.readable, 70000));
    if (v === null) return; // empty FIN after our 0
    const lane = receive(v);
    if (!lane) return;
    maybeDatagram(v);
    if (v !== 0) {
      const u = await wt.createUnidirectionalStream();
      await send(lane, (v + 1) & 0xff, u);
    }
  };
  // A baton on a uni stream: pass it on on a new bidi stream.
  const onUni = async (s) => {
    const v = batonParse(await readAll(s, 70000));
    if (v === null) { fail('empty uni stream'); return; }
    const lane = receive(v);
    if (!lane) return;
    maybeDatagram(v);
    if (v !== 0) {
      const b = await wt.createBidirectionalStream();
      const answered = onOwnBidi(b);
      await send(lane, (v + 1) & 0xff, b.writable);
      await answered;
    }
  };
  // A baton on a bidi stream the server opened: answer on the same stream
  // (an empty FIN after a 0, as picoquic does).
  const onPeerBidi = async (s) => {
    const v = batonParse(await readAll(s.readable, 70000));
    if (v === null) { fail('empty bidi stream'); return; }
    const lane = receive(v);
    if (!lane) return;
    maybeDatagram(v);
    if (v !== 0) await send(lane, (v + 1) & 0xff, s.writable);
    else await s.writable.getWriter().close();
  };
  const accept = async (streams, handler) => {
    const reader = streams.getReader();
    for (;;) {
      let r;
      try { r = await reader.read(); } catch (_) { return; }
      if (r.done) return;
      guard(handler(r.value));
    }
  };
  accept(wt.incomingUnidirectionalStreams, onUni);
  accept(wt.incomingBidirectionalStreams, onPeerBidi);
  (async () => {
    const reader = wt.datagrams.readable.getReader();
    for (;;) {
      let r;
      try { r = await reader.read(); } catch (_) { return; }
      if (r.done) return;
      try {
        const v = batonParse(r.value);
        g.dgramsReceived++;
        g.dgramValues.push(v);
      } catch (_) { /* ignored like picoquic */ }
    }
  })();
  wt.closed.then(info => { g.closedSeen = true; g.closeInfo = {closeCode: info.closeCode, reason: info.reason}; finish(); },
                 e => { g.closedSeen = true; g.closeError = errText(e); finish(); });
  try {
    await withTimeout(finished, 30000, 'baton game');
  } catch (e) {
    // Leave a trace on the server: BORED (0x04), as the draft suggests.
    fail('page gave up: ' + e.message + ' after ' + g.turns + ' turns, ' + g.lanes.filter(l => l.done).length + '/' + count + ' lanes done', 4);
    throw new Error(g.errors.join('; '));
  }
  const ok = !g.closeError && g.closeInfo.closeCode === 0 && lanesDone() && g.turns > 0 && g.errors.length === 0 &&
    g.lanes.every(l => l.lastSent === 0 || l.lastSent === 0xff);
  // The server echoes, as a datagram, every stream baton it receives with
  // v % 7 == 0 (v != 0): the values we sent on streams.
  const dgramsExpected = g.sentValues.filter(v => v !== 0 && v % 7 === 0);
  const lanes = g.lanes.map((l, i) => 'lane ' + i + ' first 0x' + l.first.toString(16) + ' last sent 0x' +
    (l.lastSent === null ? '--' : l.lastSent.toString(16)) + ' last received 0x' +
    (l.lastReceived === null ? '--' : l.lastReceived.toString(16)));
  return {
    ok,
    detail: 'baton=' + baton + ' count=' + count + ': ' + g.turns + ' turns, ' +
      g.lanes.filter(l => l.done).length + '/' + count + ' lanes done, ' +
      (g.closeError ? 'closed with error ' + g.closeError : 'closed ' + JSON.stringify(g.closeInfo) + ' by ' + (g.weClosed ? 'the page' : 'the server')) +
      ', datagrams sent ' + g.dgramsSent + ' received ' + g.dgramsReceived +
      (g.errors.length ? '; errors: ' + g.errors.join('; ') : '') + '; ' + lanes.join(', '),
    data: {turns: g.turns, closeInfo: g.closeInfo || null, weClosed: g.weClosed, baton, count,
           protocol: g.protocol, dgramsExpected, dgramValues: g.dgramValues, dgramSentValues: g.dgramSentValues},
  };
}

check('baton', 35000, async () => {
  if (!BATON_PORT || !BATON_HASH) return {ok: false, detail: 'no gowt_baton server (see the runner)'};
  // Odd start: the page sends the last 0 and the server closes the session.
  return batonGame(129, 4);
});

check('baton_page_ends', 35000, async () => {
  if (!BATON_PORT || !BATON_HASH) return {ok: false, detail: 'no gowt_baton server (see the runner)'};
  // Even start: the server sends the last 0 and the page closes the session.
  return batonGame(200, 4);
});

// What browser harnesses written for pico_baton do: offer the sub-protocol
// devious-baton-00 and require transport.protocol to be it, then play.
check('baton_protocol', 35000, async () => {
  if (!BATON_PORT || !BATON_HASH) return {ok: false, detail: 'no gowt_baton server (see the runner)'};
  // 75: the page's last 0 goes on a bidi stream the page opened (see
  // server_close_games for the other ending).
  const r = await batonGame(75, 3, {protocols: ['devious-baton-00'], wantProtocol: 'devious-baton-00'});
  r.detail = 'transport.protocol ' + JSON.stringify(r.data.protocol) + '; ' + r.detail;
  return r;
});

// Their datagram scenario: the same negotiated game, judged on its datagram
// batons (the page echoes received stream batons with v % 7 == 1, the
// server those with v % 7 == 0): every datagram the page gets must be a
// well-formed baton message with a value the server had to echo, and nearly
// all of them must arrive (loopback); the runner checks the server got the
// page's.
check('baton_protocol_datagrams', 35000, async () => {
  if (!BATON_PORT || !BATON_HASH) return {ok: false, detail: 'no gowt_baton server (see the runner)'};
  // 75 as in baton_protocol: a start whose game ends on a stream the page
  // opened, as in baton_protocol).
  const r = await batonGame(75, 3, {protocols: ['devious-baton-00'], wantProtocol: 'devious-baton-00'});
  const want = r.data.dgramsExpected.slice().sort((a, b) => a - b);
  const got = r.data.dgramValues.slice().sort((a, b) => a - b);
  const pool = want.slice();
  const stray = [];
  for (const v of got) {
    const i = pool.indexOf(v);
    if (i < 0) stray.push(v); else pool.splice(i, 1);
  }
  const enough = want.length > 0 && got.length >= Math.ceil(want.length * 0.9);
  r.ok = r.ok && enough && stray.length === 0 && r.data.dgramSentValues.length > 0;
  r.detail = 'transport.protocol ' + JSON.stringify(r.data.protocol) + '; datagram batons received ' +
    got.length + '/' + want.length + ' expected' + (stray.length ? ', unexpected values ' + stray.join(',') : '') +
    ', sent ' + r.data.dgramSentValues.length + '; ' + r.detail;
  return r;
});

check('demo_page', 30000, async () => {
  if (!HTTP_PORT) return {ok: false, detail: 'no demo HTTP port'};
  const got = new Promise(resolve => {
    window.addEventListener('message', ev => { if (ev.data && ev.data.gowtDemo) resolve(ev.data.results); });
  });
  const frame = document.createElement('iframe');
  frame.src = 'http://127.0.0.1:' + HTTP_PORT + '/';
  document.getElementById('frames').appendChild(frame);
  const results = await withTimeout(got, 25000, 'demo page results');
  frame.remove();
  const bad = results.filter(r => !r.ok);
  return {
    ok: results.length >= 4 && bad.length === 0,
    detail: results.map(r => (r.ok ? 'ok ' : 'FAILED ') + r.name + (r.detail ? ' (' + r.detail + ')' : '')).join('; '),
  };
});

// Server-closed sessions in a row (rounds, default 100): negotiated games
// baton=77&count=3, where the page's last 0 is its answer on a bidi stream
// gowt_baton opened and gowt_baton closes the session as soon as it reads it.
// Every one must end in wt.closed = {closeCode: 0, reason: "Have a nice
// day"}, none in "Connection lost" (what Chromium 156 reported in about a
// quarter of them until gowt's close waited closeQuiet after the session's
// last received bytes: core/session.go).
check('server_close_games', 150000, async () => {
  if (!BATON_PORT || !BATON_HASH) return {ok: false, detail: 'no gowt_baton server (see the runner)'};
  const rounds = parseInt(P.get('rounds') || '100', 10);
  const bad = [];
  for (let i = 0; i < rounds; i++) {
    let r;
    try {
      r = await batonGame(77, 3, {protocols: ['devious-baton-00'], wantProtocol: 'devious-baton-00'});
    } catch (e) {
      r = {ok: false, detail: errText(e)};
    }
    if (!r.ok) bad.push('game ' + (i + 1) + ': ' + r.detail.slice(0, 160));
  }
  return {ok: bad.length === 0,
          detail: (rounds - bad.length) + '/' + rounds + ' games closed as {closeCode: 0, reason}' +
            (bad.length ? '; ' + bad.slice(0, 3).join('; ') : ''),
          data: {rounds, failed: bad.length}};
});

// Opt-in (--only stress_server_close_while_opening): reproduces the Chromium
// renderer crash described in README.md: the server closes sessions (/close, after 200 ms)
// while the page keeps opening bidi streams. Not in the default run.
check('stress_server_close_while_opening', 120000, async () => {
  const rounds = parseInt(P.get('rounds') || '60', 10);
  for (let i = 0; i < rounds; i++) {
    const wt = await open('/close?tag=stress' + i + '&code=5&reason=stress');
    let closed = false;
    wt.closed.finally(() => { closed = true; }).catch(() => {});
    const opener = async () => {
      while (!closed) {
        try {
          const b = await wt.createBidirectionalStream();
          const w = b.writable.getWriter();
          w.write(new Uint8Array([0, 7])).catch(() => {});
          w.close().catch(() => {});
          readAll(b.readable).catch(() => {});
        } catch (_) { await sleep(1); }
      }
    };
    opener(); opener(); opener(); opener();
    await withTimeout(wt.closed.catch(() => {}), 5000, 'closed');
  }
  return {ok: true, detail: rounds + ' server closes while opening bidi streams: the renderer survived'};
}, true);

// ---------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------

async function post(path, body) {
  try {
    await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
  } catch (e) {
    log('POST ' + path + ' failed: ' + errText(e));
  }
}

async function main() {
  const results = [];
  // Heartbeat: lets the runner tell a crashed or hung renderer from a slow check.
  setInterval(() => { post('/heartbeat', {t: Math.round(performance.now() - T0)}); }, 2000);
  log('user agent ' + navigator.userAgent);
  if (typeof WebTransport === 'undefined') {
    await post('/result', {error: 'WebTransport is not available (secure context: ' + isSecureContext + ')', results, userAgent: navigator.userAgent});
    return;
  }
  for (const c of checks) {
    if (ONLY ? !ONLY.includes(c.name) : c.optIn) continue;
    log('running ' + c.name);
    const t = performance.now();
    let r;
    try {
      r = await withTimeout(c.fn(), c.timeoutMs, c.name);
    } catch (e) {
      r = {ok: false, detail: 'exception: ' + errText(e)};
    }
    const res = {name: c.name, ok: !!r.ok, detail: r.detail || '', data: r.data || null,
                 ms: Math.round(performance.now() - t)};
    results.push(res);
    log((res.ok ? 'PASS ' : 'FAIL ') + c.name + ' (' + res.ms + ' ms): ' + res.detail);
    await post('/progress', res);
  }
  await post('/result', {results, userAgent: navigator.userAgent, ms: Math.round(performance.now() - T0)});
  log('done');
}

main();
