// Everything live comes from Socket.IO. The page loads the list through REST once, at
// the first `authenticated`, and again only when the server says `resync` (events
// were lost); it never polls. A reconnect (a network blip, a server restart) sends the
// last `seq` seen, so missed events are replayed in order.

import { io, type Socket } from 'socket.io-client';
import { api } from './api';
import { accessToken, onSession, renew } from './auth';
import {
  apply,
  changed,
  replaceAll,
  sampleTotals,
  setConnection,
  showDetails,
  store,
} from './store';
import type { Details, Envelope, Torrent } from './types';

const EVENTS = [
  'torrent:added',
  'torrent:metadata',
  'torrent:progress',
  'torrent:piece',
  'torrent:complete',
  'torrent:seeding',
  'torrent:paused',
  'torrent:resumed',
  'torrent:priority',
  'torrent:updated',
  'torrent:removed',
  'torrent:error',
  'queue:updated',
];

let socket: Socket | null = null;
let lastSeq: number | undefined;
let loading: Promise<void> | null = null;
let pending: Envelope[] = [];
let sampler: ReturnType<typeof setInterval> | undefined;
let openDetails: string | null = null;

/** One REST load of the list; events arriving meanwhile are applied after it. */
function reload(why: string): Promise<void> {
  console.info(`loading the torrent list (${why})`);
  loading ??= (async () => {
    try {
      const [list, stats] = await Promise.all([
        api<Torrent[]>('GET', '/api/torrents'),
        api<{ activeCount: number; queuedCount: number }>('GET', '/api/statistics'),
      ]);
      replaceAll(list);
      store.queue = { activeCount: stats.activeCount, queuedCount: stats.queuedCount };
      const queued = pending;
      pending = [];
      for (const e of queued) apply(e);
      // Stream progress for every torrent in the list (new ones are added as they come).
      const token = await accessToken();
      if (token) socket?.emit('authenticate', authObject(token));
    } finally {
      loading = null;
    }
  })();
  return loading;
}

function authObject(token: string) {
  const subscriptions = [...store.torrents.keys()];
  // Batches: everything ready for the page comes in one `events` message.
  return { token, lastSeq, subscriptions, batch: true };
}

function onEvent(e: Envelope) {
  if (typeof e.seq === 'number') lastSeq = Math.max(lastSeq ?? 0, e.seq);
  if (loading) {
    pending.push(e);
    return;
  }
  apply(e);
  if (e.type === 'torrent:added' && e.infoHash) {
    socket?.emit('subscribe:torrent', { infoHash: e.infoHash });
  }
}

export function connect() {
  if (socket) return;
  setConnection('connecting');
  socket = io({
    path: '/socket.io/',
    transports: ['websocket', 'polling'],
    auth: (cb) => void accessToken().then((t) => cb(authObject(t ?? ''))),
  });
  socket.on('authenticated', (a: { seq?: number }) => {
    // A fresh stream starts at the head; what came before is in the REST load.
    if (lastSeq === undefined && typeof a?.seq === 'number') lastSeq = a.seq;
    const first = !store.loaded;
    setConnection('live');
    if (first) void reload('first connection');
  });
  socket.on('disconnect', () => setConnection('reconnecting'));
  socket.io.on('reconnect_attempt', () => setConnection('reconnecting'));
  socket.on('resync', (r: { reason?: string; seq?: number }) => {
    // The stream goes on from `seq`; the REST load covers what was lost before it.
    if (typeof r?.seq === 'number') lastSeq = r.seq;
    void reload(`resync: ${r?.reason}`);
  });
  socket.on('error', (e: { code?: string }) => {
    if (e?.code === 'unauthorized') {
      void renew().then((s) => s && socket?.emit('authenticate', authObject(s.accessToken)));
    }
  });
  socket.on('torrent:snapshot', (d: Details) => {
    if (d.infoHash === openDetails) showDetails(d);
  });
  socket.on('events', (batch: Envelope[]) => {
    for (const e of batch) if (EVENTS.includes(e.type)) onEvent(e);
  });
  for (const name of EVENTS) socket.on(name, onEvent);
  sampler = setInterval(sampleTotals, 1000);
}

export function disconnect() {
  socket?.disconnect();
  socket = null;
  clearInterval(sampler);
  lastSeq = undefined;
  store.loaded = false;
  store.torrents.clear();
  changed();
}

/** A renewed token is handed to the socket before the old one expires. */
onSession((s) => {
  if (s && socket?.connected) socket.emit('authenticate', authObject(s.accessToken));
});

/** Asks for a fresh snapshot of one torrent (its files, peers, trackers, pieces). */
export function watchDetails(hash: string | null) {
  openDetails = hash;
  if (!hash) {
    showDetails(null);
    return;
  }
  if (store.details?.infoHash !== hash) showDetails(null);
  socket?.emit('subscribe:torrent', { infoHash: hash });
}
