// The dashboard's state: every torrent the user may see, the queue, the connection, and
// short histories (speeds, recent events) built from pushed events. Components read it
// directly and re-render through `useStore`, at most once per animation frame however
// many events arrived.

import { useEffect, useState } from 'preact/hooks';
import type { Details, Envelope, Torrent } from './types';

export type Connection = 'connecting' | 'live' | 'reconnecting';

/** [time in s, download B/s, upload B/s] */
export type Sample = [number, number, number];

const HISTORY_SECONDS = 5 * 60;
const EVENTS_KEPT = 40;

export const store = {
  torrents: new Map<string, Torrent>(),
  loaded: false,
  connection: 'connecting' as Connection,
  queue: { activeCount: 0, queuedCount: 0 },
  /** Total speeds, one sample a second. */
  totals: [] as Sample[],
  /** Per torrent: speeds from its progress events. */
  speeds: new Map<string, Sample[]>(),
  /** Per torrent: its latest events, newest first. */
  events: new Map<string, Envelope[]>(),
  /** The torrent whose details are open: the latest snapshot and its piece bitfield. */
  details: null as Details | null,
  pieces: null as Uint8Array | null,
};

let version = 0;
let frame = 0;
const listeners = new Set<() => void>();

export function changed() {
  version++;
  if (frame) return;
  const flush = () => {
    frame = 0;
    for (const l of listeners) l();
  };
  frame = typeof requestAnimationFrame === 'function' ? requestAnimationFrame(flush) : 0;
  if (!frame) queueMicrotask(flush);
}

/** Re-renders the calling component after each change of the store. */
export function useStore(): number {
  const [, set] = useState(0);
  useEffect(() => {
    const l = () => set(version);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return version;
}

export function setConnection(c: Connection) {
  store.connection = c;
  changed();
}

/** Replaces every torrent with a fresh list (a load or a resync). */
export function replaceAll(list: Torrent[]) {
  store.torrents = new Map(list.map((t) => [t.infoHash, t]));
  store.loaded = true;
  changed();
}

export function upsert(t: Torrent) {
  store.torrents.set(t.infoHash, t);
  changed();
}

export function forget(hash: string) {
  store.torrents.delete(hash);
  store.speeds.delete(hash);
  store.events.delete(hash);
  changed();
}

function trim(samples: Sample[], now: number) {
  while (samples.length && samples[0][0] < now - HISTORY_SECONDS) samples.shift();
}

/** One sample of the total speeds (called once a second from the live store). */
export function sampleTotals() {
  let down = 0;
  let up = 0;
  for (const t of store.torrents.values()) {
    down += t.downloadSpeed;
    up += t.uploadSpeed;
  }
  const now = Date.now() / 1000;
  store.totals.push([now, down, up]);
  trim(store.totals, now);
  changed();
}

/** Applies one pushed event to the state. */
export function apply(e: Envelope) {
  const hash = e.infoHash;
  if (e.type === 'queue:updated') {
    const stats = e.stats as typeof store.queue;
    store.queue = { activeCount: stats.activeCount, queuedCount: stats.queuedCount };
    changed();
    return;
  }
  if (!hash) return;
  remember(hash, e);
  const t = store.torrents.get(hash);
  switch (e.type) {
    case 'torrent:added':
    case 'torrent:resumed':
    case 'torrent:priority':
    case 'torrent:updated':
      upsert(view(e));
      break;
    case 'torrent:paused':
      upsert((e.torrent as Torrent) ?? { ...t!, state: 'paused', paused: true });
      break;
    case 'torrent:removed':
      forget(hash);
      break;
    case 'torrent:progress':
      if (t) {
        upsert({ ...t, ...(fields(e) as Partial<Torrent>) });
        const samples = store.speeds.get(hash) ?? [];
        const now = e.ts / 1000;
        samples.push([now, e.downloadSpeed as number, e.uploadSpeed as number]);
        trim(samples, now);
        store.speeds.set(hash, samples);
      }
      break;
    case 'torrent:metadata':
      if (t) upsert({ ...t, name: e.name as string, totalBytes: e.totalBytes as number });
      break;
    case 'torrent:complete':
      if (t) upsert({ ...t, percentage: 100, completedAt: e.completedAt as number });
      break;
    case 'torrent:seeding':
      if (t) upsert({ ...t, state: 'seeding', ratio: e.ratio as number });
      break;
    case 'torrent:error':
      if (t) upsert({ ...t, state: 'error', error: e.message as string });
      break;
    case 'torrent:piece':
      if (store.details?.infoHash === hash && store.pieces) {
        for (const i of e.indexes as number[]) setPiece(store.pieces, i);
        store.details = { ...store.details, pieces: { ...store.details.pieces, have: e.have as number } };
        changed();
      }
      break;
  }
}

function remember(hash: string, e: Envelope) {
  if (e.type === 'torrent:progress' || e.type === 'torrent:piece') return;
  const list = store.events.get(hash) ?? [];
  list.unshift(e);
  if (list.length > EVENTS_KEPT) list.length = EVENTS_KEPT;
  store.events.set(hash, list);
}

const ENVELOPE = new Set(['id', 'seq', 'type', 'ts', 'infoHash', 'userId']);

function fields(e: Envelope): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) if (!ENVELOPE.has(k)) out[k] = v;
  return out;
}

function view(e: Envelope): Torrent {
  return { ...(fields(e) as unknown as Torrent), infoHash: e.infoHash! };
}

/** Opens the details of a torrent from its snapshot. */
export function showDetails(d: Details | null) {
  store.details = d;
  store.pieces = d ? decodeBitfield(d.pieces.bitfield, d.pieces.total) : null;
  changed();
}

export function decodeBitfield(b64: string | undefined, total: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(total / 8));
  if (!b64) return out;
  const raw = atob(b64);
  for (let i = 0; i < Math.min(raw.length, out.length); i++) out[i] = raw.charCodeAt(i);
  return out;
}

export function hasPiece(bits: Uint8Array, i: number): boolean {
  return (bits[i >> 3] & (0x80 >> (i & 7))) !== 0;
}

function setPiece(bits: Uint8Array, i: number) {
  if (i >> 3 < bits.length) bits[i >> 3] |= 0x80 >> (i & 7);
}
