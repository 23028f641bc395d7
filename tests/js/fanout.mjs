// Socket.IO fan-out benchmark client: N sockets of the official `socket.io-client` in
// one Node.js process, driven over stdio by examples/bench_events.rs (see there, and
// scripts/bench-events.sh, for how the figures are used).
//
// Usage: node fanout.mjs        (everything arrives on stdin)
//
// stdin, one JSON object per line:
//   {"url": "http://127.0.0.1:PORT", "token": "...", "subscriptions": [HASH...],
//    "clients": N, "run": RUN, "expected": E, "transport": "websocket",
//    "connectTimeoutMs": 120000}
//       opens N sockets (handshake `auth: {token, subscriptions}`, no reconnection)
//       and answers `ready` once every one of them got `authenticated`;
//   {"done": {"t0": MS, "waitMs": MS, "idleMs": MS}}
//       the source has emitted all E events, the first at MS (ms since the epoch):
//       wait until every socket has E distinct events (by `id`), at most `waitMs`, and
//       giving up early when nothing new arrived for `idleMs`; then answer `result`;
//   quit (or stdin closing): disconnect everything and exit.
// stdout, one JSON object per line: {"ready": {...}}, {"result": {...}}, {"error": {...}}.
//
// Only `torrent:progress` events whose `name` starts with `bench-RUN-` are counted; anything else the
// server sends is counted apart (`other`). A `resync` means the server dropped events
// for that socket (it fell behind the bus).

import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { io } from 'socket.io-client';

const CONNECT_CONCURRENCY = 100;
const MAX_LATENCY_MS = 600_000;

function print(kind, data) {
  process.stdout.write(JSON.stringify({ [kind]: data }) + '\n');
}

// Wall clock in ms since the epoch, sub-millisecond: comparable with the `ts` of the
// envelope and the `t0` of the source (same machine, same clock).
const nowMs = () => performance.timeOrigin + performance.now();

let cfg = null;
let clients = [];
let doneInfo = null;
let finished = false;
let lastNewAt = 0;
let firstAt = 0;
let complete = 0;
// Latency histogram: receipt time minus the envelope's `ts`, 1 ms buckets.
const latency = new Uint32Array(MAX_LATENCY_MS + 1);
let idleTimer = null;
let waitTimer = null;

function fail(message) {
  print('error', { message });
  quit(1);
}

function newClient(index) {
  return {
    index,
    socket: null,
    ids: new Set(),
    duplicates: 0,
    outOfOrder: 0,
    lastSeq: 0,
    resyncs: 0,
    errors: 0,
    disconnects: 0,
    other: 0,
  };
}

function onProgress(c, e) {
  if (!e || typeof e.name !== 'string' || !e.name.startsWith(`bench-${cfg.run}-`)) {
    c.other += 1;
    return;
  }
  if (c.ids.has(e.id)) {
    c.duplicates += 1;
    return;
  }
  c.ids.add(e.id);
  if (e.seq <= c.lastSeq) c.outOfOrder += 1;
  c.lastSeq = e.seq;
  const now = nowMs();
  if (!firstAt) firstAt = now;
  lastNewAt = now;
  const lat = Math.min(MAX_LATENCY_MS, Math.max(0, Math.round(now - e.ts)));
  latency[lat] += 1;
  if (c.ids.size === cfg.expected) {
    complete += 1;
    if (complete === clients.length) maybeFinish();
  }
}

function connectOne(c) {
  return new Promise((resolve, reject) => {
    const socket = io(cfg.url, {
      auth: { token: cfg.token, subscriptions: cfg.subscriptions, batch: !!cfg.batch },
      transports: [cfg.transport || 'websocket'],
      reconnection: false,
      forceNew: true,
      timeout: cfg.connectTimeoutMs,
    });
    c.socket = socket;
    let settled = false;
    socket.on('authenticated', () => {
      if (!settled) {
        settled = true;
        resolve();
      }
    });
    socket.on('connect_error', (err) => {
      if (!settled) {
        settled = true;
        reject(new Error(`client ${c.index}: connect_error: ${err.message}`));
      }
    });
    socket.on('error', (err) => {
      c.errors += 1;
      if (!settled) {
        settled = true;
        reject(new Error(`client ${c.index}: error: ${JSON.stringify(err)}`));
      }
    });
    socket.on('disconnect', () => {
      c.disconnects += 1;
    });
    socket.on('resync', () => {
      c.resyncs += 1;
    });
    socket.on('torrent:progress', (e) => onProgress(c, e));
    // Batches: an array of envelopes, each counted as if it came alone.
    socket.on('events', (batch) => {
      for (const e of batch) {
        if (e.type === 'torrent:progress') onProgress(c, e);
        else c.other += 1;
      }
    });
  });
}

async function connectAll() {
  const t0 = nowMs();
  clients = Array.from({ length: cfg.clients }, (_, i) => newClient(i));
  let next = 0;
  const worker = async () => {
    while (next < clients.length) {
      const c = clients[next++];
      await connectOne(c);
    }
  };
  const timeout = new Promise((_, reject) => {
    const t = setTimeout(
      () => reject(new Error(`not all ${cfg.clients} clients authenticated within ${cfg.connectTimeoutMs} ms`)),
      cfg.connectTimeoutMs,
    );
    t.unref();
  });
  await Promise.race([
    Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, clients.length) }, worker)),
    timeout,
  ]);
  print('ready', { clients: clients.length, connectMs: Math.round(nowMs() - t0) });
}

function percentile(p, total) {
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let ms = 0; ms < latency.length; ms++) {
    seen += latency[ms];
    if (seen >= rank) return ms;
  }
  return MAX_LATENCY_MS;
}

function sparseHistogram() {
  const pairs = [];
  for (let ms = 0; ms < latency.length; ms++) if (latency[ms]) pairs.push([ms, latency[ms]]);
  return pairs;
}

function maybeFinish(reason = 'complete') {
  if (finished || !doneInfo) return;
  if (reason === 'complete' && complete < clients.length) return;
  finished = true;
  clearTimeout(idleTimer);
  clearTimeout(waitTimer);
  let received = 0;
  let min = Infinity;
  let max = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let resyncs = 0;
  let errors = 0;
  let disconnected = 0;
  let other = 0;
  for (const c of clients) {
    const n = c.ids.size;
    received += n;
    min = Math.min(min, n);
    max = Math.max(max, n);
    duplicates += c.duplicates;
    outOfOrder += c.outOfOrder;
    resyncs += c.resyncs;
    errors += c.errors;
    if (c.disconnects > 0) disconnected += 1;
    other += c.other;
  }
  const expectedTotal = cfg.expected * clients.length;
  const seconds = lastNewAt ? (lastNewAt - doneInfo.t0) / 1000 : null;
  print('result', {
    reason,
    clients: clients.length,
    expected: cfg.expected,
    received,
    lost: expectedTotal - received,
    minPerClient: clients.length ? min : 0,
    maxPerClient: max,
    duplicates,
    outOfOrder,
    resyncs,
    errors,
    disconnected,
    other,
    firstAfterMs: firstAt ? firstAt - doneInfo.t0 : null,
    seconds,
    latencyMs: { p50: percentile(50, received), p99: percentile(99, received), max: percentile(100, received) },
    // The whole histogram, [ms, count] pairs, so results of several processes merge.
    latencyHist: sparseHistogram(),
  });
}

function armIdle() {
  if (finished) return;
  const since = nowMs() - (lastNewAt || doneInfo.seenAt);
  if (since >= doneInfo.idleMs) return maybeFinish('idle');
  idleTimer = setTimeout(armIdle, Math.max(10, doneInfo.idleMs - since));
}

function onDone(info) {
  doneInfo = { idleMs: 10_000, waitMs: 60_000, ...info, seenAt: nowMs() };
  waitTimer = setTimeout(() => maybeFinish('timeout'), doneInfo.waitMs);
  armIdle();
  maybeFinish();
}

function quit(code = 0) {
  for (const c of clients) c.socket?.disconnect();
  // Let stdout drain before leaving: the caller reads every line.
  process.stdout.write('', () => process.exit(code));
}

function run(line) {
  const text = line.trim();
  if (!text) return;
  if (text === 'quit') return quit();
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return fail(`bad command: ${text}`);
  }
  if (msg.done) return onDone(msg.done);
  if (msg.url) {
    if (cfg) return fail('configured twice');
    cfg = { transport: 'websocket', connectTimeoutMs: 120_000, ...msg };
    if (!Number.isInteger(cfg.clients) || cfg.clients < 1) return fail('clients must be a positive integer');
    if (!Number.isInteger(cfg.expected) || cfg.expected < 0) return fail('expected must be a whole number');
    connectAll().catch((e) => fail(e.message));
    return;
  }
  fail(`unknown command: ${text}`);
}

createInterface({ input: process.stdin }).on('line', run).on('close', () => quit());
