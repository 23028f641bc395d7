// The torrent list: sort, filter by state, search, and actions on a selection. Only
// the rows in view are rendered, so a thousand torrents cost what a screenful does.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, describe } from '../api';
import { ProgressBar, StateBadge } from '../components';
import { bytes, eta, ratio, speed } from '../format';
import { store, useStore } from '../store';
import { PRIORITIES, STATES, type Priority, type State, type Torrent } from '../types';

type Key = 'name' | 'size' | 'progress' | 'state' | 'down' | 'up' | 'peers' | 'eta' | 'ratio' | 'priority' | 'queue' | 'added';

const PRIORITY_RANK: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

const COLUMNS: { key: Key; label: string }[] = [
  { key: 'name', label: 'Name' },
  { key: 'size', label: 'Size' },
  { key: 'progress', label: 'Progress' },
  { key: 'state', label: 'State' },
  { key: 'down', label: 'Down' },
  { key: 'up', label: 'Up' },
  { key: 'peers', label: 'Peers' },
  { key: 'eta', label: 'ETA' },
  { key: 'ratio', label: 'Ratio' },
  { key: 'priority', label: 'Priority' },
  { key: 'queue', label: 'Queue' },
];

function sortValue(t: Torrent, k: Key): number | string {
  switch (k) {
    case 'name': return (t.name ?? t.infoHash).toLowerCase();
    case 'size': return t.totalBytes;
    case 'progress': return t.percentage;
    case 'state': return STATES.indexOf(t.state);
    case 'down': return t.downloadSpeed;
    case 'up': return t.uploadSpeed;
    case 'peers': return t.peers.connected;
    case 'eta': return t.eta ?? Number.MAX_SAFE_INTEGER;
    case 'ratio': return t.ratio;
    case 'priority': return PRIORITY_RANK[t.priority];
    case 'queue': return t.queuePosition ?? Number.MAX_SAFE_INTEGER;
    case 'added': return t.addedAt;
  }
}

const ROW_HEIGHT = 44;
const OVERSCAN = 8;

export function TorrentList({ onAdd }: { onAdd: () => void }) {
  const version = useStore();
  const [query, setQuery] = useState('');
  const [state, setState] = useState<State | 'all'>('all');
  const [sort, setSort] = useState<{ key: Key; desc: boolean }>({ key: 'added', desc: true });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [message, setMessage] = useState<string | null>(null);
  const [scroll, setScroll] = useState({ top: 0, height: 600 });
  const box = useRef<HTMLDivElement>(null);

  const all = [...store.torrents.values()];
  const rows = useMemo(() => {
    const q = query.trim().toLowerCase();
    const shown = all.filter(
      (t) => (state === 'all' || t.state === state) && (!q || (t.name ?? '').toLowerCase().includes(q) || t.infoHash.includes(q)),
    );
    const dir = sort.desc ? -1 : 1;
    return shown.sort((a, b) => {
      const x = sortValue(a, sort.key);
      const y = sortValue(b, sort.key);
      return (x < y ? -1 : x > y ? 1 : a.addedAt - b.addedAt) * dir;
    });
  }, [version, query, state, sort]);

  useEffect(() => {
    const el = box.current!;
    const measure = () => setScroll({ top: el.scrollTop, height: el.clientHeight });
    measure();
    const resize = new ResizeObserver(measure);
    resize.observe(el);
    return () => resize.disconnect();
  }, []);

  // Selections of torrents that are gone are dropped.
  useEffect(() => {
    const live = [...selected].filter((h) => store.torrents.has(h));
    if (live.length !== selected.size) setSelected(new Set(live));
  }, [version]);

  const first = Math.max(0, Math.floor(scroll.top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scroll.top + scroll.height) / ROW_HEIGHT) + OVERSCAN);

  function toggle(hash: string) {
    const next = new Set(selected);
    if (next.has(hash)) next.delete(hash);
    else next.add(hash);
    setSelected(next);
  }

  const allShownSelected = rows.length > 0 && rows.every((t) => selected.has(t.infoHash));
  function toggleAll() {
    setSelected(allShownSelected ? new Set() : new Set(rows.map((t) => t.infoHash)));
  }

  async function act(what: string, f: (hash: string) => Promise<unknown>) {
    setMessage(null);
    const failures: string[] = [];
    for (const hash of selected) {
      try {
        await f(hash);
      } catch (e) {
        const name = store.torrents.get(hash)?.name ?? hash.slice(0, 8);
        failures.push(`${name}: ${describe(e)}`);
      }
    }
    if (failures.length) setMessage(`${what} failed for ${failures.join('; ')}`);
  }

  async function remove(deleteFiles: boolean) {
    const n = selected.size;
    const what = deleteFiles ? `Remove ${n} torrent(s) and delete their files?` : `Remove ${n} torrent(s)? Their files stay.`;
    if (!confirm(what)) return;
    await act('Removing', (h) => api('DELETE', `/api/torrents/${h}${deleteFiles ? '?deleteFiles=true' : ''}`));
    setSelected(new Set());
  }

  function header(key: Key, label: string) {
    const active = sort.key === key;
    return (
      <div role="columnheader" class={`cell col-${key}`} aria-sort={active ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
        <button type="button" class="sort" onClick={() => setSort({ key, desc: active ? !sort.desc : key !== 'name' })}>
          {label}{active ? (sort.desc ? ' ▾' : ' ▴') : ''}
        </button>
      </div>
    );
  }

  return (
    <section class="list" aria-label="Torrents">
      <div class="toolbar">
        <button type="button" class="primary" onClick={onAdd}>+ Add</button>
        <label class="grow">
          <span class="sr-only">Search</span>
          <input type="search" placeholder="Search by name or hash" value={query}
            onInput={(e) => setQuery((e.currentTarget as HTMLInputElement).value)} />
        </label>
        <label>
          <span class="sr-only">State</span>
          <select aria-label="Filter by state" value={state} onChange={(e) => setState((e.currentTarget as HTMLSelectElement).value as State | 'all')}>
            <option value="all">All states ({all.length})</option>
            {STATES.map((s) => <option value={s}>{s} ({all.filter((t) => t.state === s).length})</option>)}
          </select>
        </label>
        <label class="phone-only">
          <span class="sr-only">Sort by</span>
          <select aria-label="Sort by" value={sort.key} onChange={(e) => setSort({ key: (e.currentTarget as HTMLSelectElement).value as Key, desc: true })}>
            {[...COLUMNS, { key: 'added' as Key, label: 'Added' }].map((c) => <option value={c.key}>{c.label}</option>)}
          </select>
        </label>
      </div>
      {selected.size > 0 && (
        <div class="bulk" role="toolbar" aria-label="Selected torrents">
          <span>{selected.size} selected</span>
          <button type="button" onClick={() => act('Pausing', (h) => api('POST', `/api/torrents/${h}/pause`))}>Pause</button>
          <button type="button" onClick={() => act('Resuming', (h) => api('POST', `/api/torrents/${h}/resume`))}>Resume</button>
          <label>
            <span class="sr-only">Set priority</span>
            <select aria-label="Set priority" value="" onChange={(e) => {
              const p = (e.currentTarget as HTMLSelectElement).value;
              if (p) void act('Changing priority', (h) => api('PUT', `/api/torrents/${h}/priority`, { priority: p }));
            }}>
              <option value="">Priority…</option>
              {PRIORITIES.map((p) => <option value={p}>{p}</option>)}
            </select>
          </label>
          <button type="button" onClick={() => remove(false)}>Remove</button>
          <button type="button" class="danger" onClick={() => remove(true)}>Remove with files</button>
        </div>
      )}
      {message && <p class="error" role="alert">{message}</p>}
      <div class="table" role="table" aria-label="Torrents" aria-rowcount={rows.length + 1}>
        <div class="thead" role="rowgroup">
          <div class="tr" role="row">
            <div role="columnheader" class="cell col-select">
              <input type="checkbox" aria-label="Select all shown" checked={allShownSelected} onChange={toggleAll} />
            </div>
            {COLUMNS.map((c) => header(c.key, c.label))}
          </div>
        </div>
        <div class="tbody" role="rowgroup" ref={box}
          onScroll={(e) => setScroll({ top: (e.currentTarget as HTMLDivElement).scrollTop, height: (e.currentTarget as HTMLDivElement).clientHeight })}>
          {!store.loaded && <p class="empty">Loading…</p>}
          {store.loaded && rows.length === 0 && (
            <p class="empty">{all.length ? 'No torrent matches.' : 'No torrents yet. Add one, or drop a .torrent file here.'}</p>
          )}
          <div class="spacer" style={{ height: `${rows.length * ROW_HEIGHT}px` }}>
            {rows.slice(first, last).map((t, i) => (
              <Row key={t.infoHash} t={t} top={(first + i) * ROW_HEIGHT} selected={selected.has(t.infoHash)} onToggle={toggle} />
            ))}
          </div>
        </div>
      </div>
    </section>
  );
}

function Row({ t, top, selected, onToggle }: { t: Torrent; top: number; selected: boolean; onToggle: (h: string) => void }) {
  const name = t.name ?? `${t.infoHash.slice(0, 12)}…`;
  return (
    <div class={`tr${selected ? ' selected' : ''}`} role="row" data-hash={t.infoHash} style={{ transform: `translateY(${top}px)` }}>
      <div role="cell" class="cell col-select">
        <input type="checkbox" aria-label={`Select ${name}`} checked={selected} onChange={() => onToggle(t.infoHash)} />
      </div>
      <div role="cell" class="cell col-name"><a href={`#/torrent/${t.infoHash}`} title={name}>{name}</a></div>
      <div role="cell" class="cell col-size">{bytes(t.totalBytes)}</div>
      <div role="cell" class="cell col-progress"><ProgressBar value={t.percentage} label={`${name} progress`} /></div>
      <div role="cell" class="cell col-state"><StateBadge state={t.state} /></div>
      <div role="cell" class="cell col-down" aria-label="Download speed">↓ {speed(t.downloadSpeed)}</div>
      <div role="cell" class="cell col-up" aria-label="Upload speed">↑ {speed(t.uploadSpeed)}</div>
      <div role="cell" class="cell col-peers">{t.peers.connected}/{t.peers.total}</div>
      <div role="cell" class="cell col-eta">{t.state === 'downloading' ? eta(t.eta) : '–'}</div>
      <div role="cell" class="cell col-ratio">{ratio(t.ratio)}</div>
      <div role="cell" class="cell col-priority" data-priority={t.priority}>{t.priority}</div>
      <div role="cell" class="cell col-queue">{t.queuePosition ?? '–'}</div>
    </div>
  );
}
