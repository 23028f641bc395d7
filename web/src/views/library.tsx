// The library: movies and shows (with seasons and episodes), each movie or episode
// playing one file of a torrent. Add a movie or a show, add episodes, and assign a file
// by picking one of your torrents and one of its files (or paste a magnet: the server
// adds it and picks its single video file).

import { useEffect, useState } from 'preact/hooks';
import { api, describe } from '../api';
import { bytes } from '../format';
import { store, useStore } from '../store';
import type { Details, MediaItem, ShowDetails } from '../types';

async function attempt(f: () => Promise<unknown>, done?: () => void) {
  try {
    await f();
    done?.();
  } catch (e) {
    alert(describe(e));
  }
}

/** Picks a torrent of the user's and one of its files, or takes a magnet link. */
function AssignForm({ path, onDone }: { path: string; onDone: () => void }) {
  useStore();
  const [hash, setHash] = useState('');
  const [magnet, setMagnet] = useState('');
  const [files, setFiles] = useState<Details['files']>([]);
  const [file, setFile] = useState('');
  const torrents = [...store.torrents.values()];

  useEffect(() => {
    setFiles([]);
    setFile('');
    if (!hash) return;
    void api<Details>('GET', `/api/torrents/${hash}`).then((d) => setFiles(d.files), (e) => alert(describe(e)));
  }, [hash]);

  function submit(e: Event) {
    e.preventDefault();
    const body = magnet.trim()
      ? { magnetURI: magnet.trim() }
      : { infoHash: hash, ...(file ? { filePath: file } : {}) };
    void attempt(() => api('POST', path, body), onDone);
  }
  return (
    <form class="assign" onSubmit={submit} aria-label="Assign a file">
      <label>
        Torrent{' '}
        <select value={hash} onChange={(e) => setHash(e.currentTarget.value)} aria-label="Torrent">
          <option value="">—</option>
          {torrents.map((t) => <option value={t.infoHash}>{t.name ?? t.infoHash}</option>)}
        </select>
      </label>
      {files.length > 0 && (
        <label>
          File{' '}
          <select value={file} onChange={(e) => setFile(e.currentTarget.value)} aria-label="File">
            <option value="">the single video file</option>
            {files.map((f) => <option value={f.path}>{f.path} ({bytes(f.length)})</option>)}
          </select>
        </label>
      )}
      <label>
        or magnet{' '}
        <input value={magnet} onInput={(e) => setMagnet(e.currentTarget.value)} placeholder="magnet:?xt=…" aria-label="Magnet link" />
      </label>
      <button type="submit" disabled={!hash && !magnet.trim()}>Assign</button>
    </form>
  );
}

function Assigned({ item, path, onChange }: { item: MediaItem; path: string; onChange: () => void }) {
  const [assigning, setAssigning] = useState(false);
  const a = item.assignment;
  return (
    <div class="assigned">
      {a ? (
        <span>
          <a href={`#/torrent/${a.infoHash}`}>{a.filePath}</a> <small>{bytes(a.size)}</small>{' '}
          <button type="button" onClick={() => void attempt(() => api('DELETE', path), onChange)}>Unassign</button>
        </span>
      ) : <span class="muted">no file</span>}{' '}
      <button type="button" onClick={() => setAssigning(!assigning)}>{assigning ? 'Cancel' : a ? 'Change' : 'Assign'}</button>
      {assigning && <AssignForm path={path} onDone={() => { setAssigning(false); onChange(); }} />}
    </div>
  );
}

function TitleForm({ label, onAdd }: { label: string; onAdd: (title: string, year: number | null) => Promise<unknown> }) {
  const [title, setTitle] = useState('');
  const [year, setYear] = useState('');
  function submit(e: Event) {
    e.preventDefault();
    void attempt(() => onAdd(title, year ? Number(year) : null), () => { setTitle(''); setYear(''); });
  }
  return (
    <form class="inline" onSubmit={submit} aria-label={label}>
      <input value={title} onInput={(e) => setTitle(e.currentTarget.value)} placeholder="Title" aria-label={`${label}: title`} required />
      <input value={year} onInput={(e) => setYear(e.currentTarget.value)} placeholder="Year" aria-label={`${label}: year`} inputMode="numeric" size={5} />
      <button type="submit">{label}</button>
    </form>
  );
}

function Show({ show, onChange }: { show: MediaItem; onChange: () => void }) {
  const [details, setDetails] = useState<ShowDetails | null>(null);
  const [season, setSeason] = useState('1');
  const [episode, setEpisode] = useState('1');
  const load = () => api<ShowDetails>('GET', `/api/shows/${show.id}`).then(setDetails, (e) => alert(describe(e)));
  useEffect(() => void load(), [show.id]);
  function add(e: Event) {
    e.preventDefault();
    void attempt(() => api('POST', `/api/shows/${show.id}/episodes`, { season: Number(season), episode: Number(episode) }), () => {
      setEpisode(String(Number(episode) + 1));
      void load();
    });
  }
  const pad = (n: number | null) => String(n ?? 0).padStart(2, '0');
  return (
    <li class="show" data-item={show.id}>
      <h4>{show.title}{show.year ? ` (${show.year})` : ''}{' '}
        <button type="button" class="danger" onClick={() => confirm(`Remove ${show.title} and its episodes?`) && void attempt(() => api('DELETE', `/api/shows/${show.id}`), onChange)}>Remove</button>
      </h4>
      <ul class="plain">
        {(details?.episodes ?? []).map((ep) => (
          <li data-item={ep.id}>
            <strong>S{pad(ep.season)}E{pad(ep.episode)}</strong> {ep.title}
            <Assigned item={ep} path={`/api/shows/${show.id}/episodes/${ep.id}/assign`} onChange={() => void load()} />
          </li>
        ))}
      </ul>
      <form class="inline" onSubmit={add} aria-label={`Add an episode to ${show.title}`}>
        <input value={season} onInput={(e) => setSeason(e.currentTarget.value)} aria-label="Season" inputMode="numeric" size={3} />
        <input value={episode} onInput={(e) => setEpisode(e.currentTarget.value)} aria-label="Episode" inputMode="numeric" size={3} />
        <button type="submit">Add episode</button>
      </form>
    </li>
  );
}

export function Library() {
  const [movies, setMovies] = useState<MediaItem[]>([]);
  const [shows, setShows] = useState<MediaItem[]>([]);
  const load = () =>
    Promise.all([api<MediaItem[]>('GET', '/api/movies'), api<MediaItem[]>('GET', '/api/shows')]).then(
      ([m, s]) => {
        setMovies(m);
        setShows(s);
      },
      (e) => alert(describe(e)),
    );
  useEffect(() => void load(), []);
  return (
    <section class="library" aria-labelledby="library-title">
      <h2 id="library-title">Library</h2>
      <p class="hint">Mount it in a player over WebDAV at <code>{location.origin}/dav/</code> with your user name and password or an app password.</p>
      <h3>Movies</h3>
      <TitleForm label="Add movie" onAdd={(title, year) => api('POST', '/api/movies', { title, year }).then(load)} />
      <ul class="plain">
        {movies.map((m) => (
          <li class="movie" data-item={m.id}>
            <strong>{m.title}{m.year ? ` (${m.year})` : ''}</strong>{' '}
            <Assigned item={m} path={`/api/movies/${m.id}/assign`} onChange={() => void load()} />
            <button type="button" class="danger" onClick={() => confirm(`Remove ${m.title}?`) && void attempt(() => api('DELETE', `/api/movies/${m.id}`), () => void load())}>Remove</button>
          </li>
        ))}
        {!movies.length && <li class="muted">No movies yet.</li>}
      </ul>
      <h3>Shows</h3>
      <TitleForm label="Add show" onAdd={(title, year) => api('POST', '/api/shows', { title, year }).then(load)} />
      <ul class="plain">
        {shows.map((s) => <Show show={s} onChange={() => void load()} />)}
        {!shows.length && <li class="muted">No shows yet.</li>}
      </ul>
    </section>
  );
}
