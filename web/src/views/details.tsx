// One torrent: its numbers, a live speed chart, the pieces map (filled by
// `torrent:piece`), files with their progress, peers, trackers and recent events.
// The snapshot comes over the socket (`subscribe:torrent`); it is asked for again when
// a pushed event says the peers or the state changed, never on a timer.

import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describe } from '../api';
import { PieceMap, ProgressBar, SpeedChart, StateBadge } from '../components';
import { bytes, eta, ratio, speed, time } from '../format';
import { watchDetails } from '../live';
import { hasPiece, store, useStore } from '../store';
import { PRIORITIES, type Details as D, type FileView, type SignedLink } from '../types';

const PLAYABLE = /\.(mp4|m4v|webm|ogv|mkv|mov|mp3|m4a|aac|ogg|opus|flac|wav)$/i;

/** Play and copy-link buttons of one file: both ask for a signed stream link. */
function FileActions({ hash, file, onPlay }: { hash: string; file: FileView; onPlay: (url: string, name: string) => void }) {
  const [link, setLink] = useState<string | null>(null);
  async function signed(): Promise<string | null> {
    try {
      const l = await api<SignedLink>('GET', `/api/torrents/${hash}/files/${file.index}/link`);
      return l.url;
    } catch (e) {
      alert(describe(e));
      return null;
    }
  }
  async function copy() {
    const url = await signed();
    if (!url) return;
    setLink(url);
    try {
      await navigator.clipboard.writeText(url);
    } catch {
      // No clipboard (plain http, or refused): the link is shown to copy by hand.
    }
  }
  async function play() {
    const url = await signed();
    if (url) onPlay(url, file.path);
  }
  return (
    <div class="file-actions">
      {PLAYABLE.test(file.path) && <button type="button" onClick={() => void play()} aria-label={`Play ${file.path}`}>Play</button>}
      <button type="button" onClick={() => void copy()} aria-label={`Copy a stream link of ${file.path}`}>Copy link</button>
      {link && <input class="link" readOnly value={link} aria-label={`Stream link of ${file.path}`} onFocus={(e) => e.currentTarget.select()} />}
    </div>
  );
}

/** Per-file progress from the pieces bitfield and each file's offset in the torrent. */
function fileProgress(d: D, bits: Uint8Array | null): FileView[] {
  const length = d.pieces.length;
  if (!bits || !length) return d.files;
  return d.files.map((f) => {
    const start = f.offset;
    if (f.length === 0) return { ...f, percentage: 100 };
    let have = 0;
    const firstPiece = Math.floor(start / length);
    const lastPiece = Math.floor((start + f.length - 1) / length);
    for (let p = firstPiece; p <= lastPiece; p++) {
      if (!hasPiece(bits, p)) continue;
      const from = Math.max(start, p * length);
      const to = Math.min(start + f.length, (p + 1) * length);
      have += to - from;
    }
    return { ...f, downloaded: have, percentage: (have / f.length) * 100 };
  });
}

export function TorrentDetails({ hash }: { hash: string }) {
  useStore();
  const t = store.torrents.get(hash);
  const d = store.details?.infoHash === hash ? store.details : null;
  const asked = useRef({ peers: -1, state: '' });
  const [playing, setPlaying] = useState<{ url: string; name: string } | null>(null);

  useEffect(() => {
    watchDetails(hash);
    return () => watchDetails(null);
  }, [hash]);

  // A pushed change of peers or state asks for a fresh snapshot (peers, trackers, files).
  useEffect(() => {
    if (!t) return;
    const a = asked.current;
    if (a.peers !== t.peers.connected || a.state !== t.state) {
      const first = a.peers === -1;
      asked.current = { peers: t.peers.connected, state: t.state };
      if (!first) watchDetails(hash);
    }
  }, [t?.peers.connected, t?.state]);

  if (!t) {
    return (
      <section class="details">
        <p><a href="#/">← Torrents</a></p>
        <p class="empty">{store.loaded ? 'This torrent is not in your list (removed, or not yours).' : 'Loading…'}</p>
      </section>
    );
  }
  const name = t.name ?? t.infoHash;
  const events = store.events.get(hash) ?? [];
  const files = d ? fileProgress(d, store.pieces) : [];

  async function act(path: string, method = 'POST', body?: object) {
    try {
      await api(method, path, body);
    } catch (e) {
      alert(describe(e));
    }
  }

  return (
    <section class="details" aria-labelledby="details-title">
      <p><a href="#/">← Torrents</a></p>
      <header class="details-head">
        <h2 id="details-title">{name}</h2>
        <StateBadge state={t.state} />
      </header>
      <div class="toolbar">
        {t.paused || t.state === 'paused' || t.state === 'completed'
          ? <button type="button" onClick={() => act(`/api/torrents/${hash}/resume`)}>Resume</button>
          : <button type="button" onClick={() => act(`/api/torrents/${hash}/pause`)}>Pause</button>}
        <label>
          Priority{' '}
          <select value={t.priority} onChange={(e) => act(`/api/torrents/${hash}/priority`, 'PUT', { priority: (e.currentTarget as HTMLSelectElement).value })}>
            {PRIORITIES.map((p) => <option value={p}>{p}</option>)}
          </select>
        </label>
      </div>
      <ProgressBar value={t.percentage} label={`${name} progress`} />
      <dl class="facts">
        <div><dt>Size</dt><dd>{bytes(t.totalBytes)}</dd></div>
        <div><dt>Done</dt><dd>{bytes(t.completedBytes)}</dd></div>
        <div><dt>Download</dt><dd>{speed(t.downloadSpeed)}</dd></div>
        <div><dt>Upload</dt><dd>{speed(t.uploadSpeed)}</dd></div>
        <div><dt>Peers</dt><dd>{t.peers.connected} of {t.peers.total}</dd></div>
        <div><dt>ETA</dt><dd>{t.state === 'downloading' ? eta(t.eta) : '–'}</dd></div>
        <div><dt>Ratio</dt><dd>{ratio(t.ratio)}</dd></div>
        <div><dt>Downloaded</dt><dd>{bytes(t.downloaded)}</dd></div>
        <div><dt>Uploaded</dt><dd>{bytes(t.uploaded)}</dd></div>
        <div><dt>Queue</dt><dd>{t.queuePosition ?? '–'}</dd></div>
        <div><dt>Added</dt><dd>{new Date(t.addedAt).toLocaleString()}</dd></div>
        <div><dt>Info hash</dt><dd class="mono">{t.infoHash}</dd></div>
        {t.streamOnly && <div><dt>Streaming</dt><dd>{t.idle ? 'idle until read' : `${t.streams ?? 0} open`}</dd></div>}
      </dl>
      {t.error && <p class="error" role="alert">{t.error}</p>}

      <h3>Speed</h3>
      <SpeedChart samples={store.speeds.get(hash) ?? []} label={`Download and upload speed of ${name}`} />

      <h3>Pieces {d && <small>{d.pieces.have} of {d.pieces.total}</small>}</h3>
      {d && store.pieces ? <PieceMap bits={store.pieces} total={d.pieces.total} have={d.pieces.have} /> : <p class="empty">Waiting for metadata…</p>}

      <h3>Files</h3>
      <table class="simple">
        <thead><tr><th scope="col">Path</th><th scope="col">Size</th><th scope="col">Progress</th><th scope="col">Stream</th></tr></thead>
        <tbody>
          {files.map((f) => (
            <tr data-file={f.index}>
              <td class="wrap">{f.path}</td>
              <td>{bytes(f.length)}</td>
              <td><ProgressBar value={f.percentage} label={`${f.path} progress`} /></td>
              <td><FileActions hash={hash} file={f} onPlay={(url, name) => setPlaying({ url, name })} /></td>
            </tr>
          ))}
        </tbody>
      </table>
      {playing && (
        <figure class="player">
          <video controls autoplay src={playing.url} aria-label={`Playing ${playing.name}`} />
          <figcaption>
            {playing.name} <button type="button" onClick={() => setPlaying(null)}>Close</button>
          </figcaption>
        </figure>
      )}

      <h3>Peers</h3>
      {d?.peerList?.length ? (
        <table class="simple">
          <thead><tr><th scope="col">Address</th><th scope="col">Client</th><th scope="col">Received</th><th scope="col">Sent</th></tr></thead>
          <tbody>
            {d.peerList.map((p) => (
              <tr><td class="mono">{p.address}</td><td>{p.client ?? '–'}</td><td>{bytes(p.downloaded)}</td><td>{bytes(p.uploaded)}</td></tr>
            ))}
          </tbody>
        </table>
      ) : <p class="empty">No connected peers.</p>}

      <h3>Trackers</h3>
      <ul class="plain">
        {(d?.trackers ?? []).map((u) => <li class="mono">{u}</li>)}
        {(d?.droppedTrackers ?? []).map((x) => <li class="mono muted">{x.url} — not used: {x.reason}</li>)}
        {d && !d.trackers.length && !d.droppedTrackers.length && <li class="muted">None (peers from DHT or given ones)</li>}
      </ul>

      <h3>Recent events</h3>
      <ol class="events plain">
        {events.map((e) => <li><time>{time(e.ts)}</time> <code>{e.type}</code></li>)}
        {!events.length && <li class="muted">None since this page opened.</li>}
      </ol>
    </section>
  );
}
