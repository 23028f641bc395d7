// The torrent catalog: search (with title suggestions as you type), pages of entries
// newest first, an upload form, and an entry's details: files, live swarm counts,
// comments, Download .torrent and Add to downloads. Routes: #/catalog, #/catalog/<id>.

import { useEffect, useState } from 'preact/hooks';
import { api, describe } from '../api';
import { accessToken, session } from '../auth';
import { bytes } from '../format';

interface Summary {
  id: string;
  infoHash: string;
  title: string;
  description: string;
  category: string | null;
  tags: string[];
  uploaderId: string;
  createdAt: number;
  totalBytes: number;
  fileCount: number;
}

interface Page {
  entries: Summary[];
  page: number;
  perPage: number;
  total: number;
}

interface Entry extends Omit<Summary, 'fileCount'> {
  files: { path: string; length: number }[];
  uploaderName: string | null;
  swarm: { seeders: number; leechers: number; completed: number };
}

interface Comment {
  id: string;
  authorId: string;
  authorName: string | null;
  body: string;
  createdAt: number;
}

const PER_PAGE = 20;

async function attempt(f: () => Promise<unknown>, done?: () => void) {
  try {
    await f();
    done?.();
  } catch (e) {
    alert(describe(e));
  }
}

function UploadForm({ onDone }: { onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    setBusy(true);
    void attempt(() => api('POST', '/api/catalog', new FormData(form)), () => {
      form.reset();
      onDone();
    }).finally(() => setBusy(false));
  }
  return (
    <form class="catalog-upload" onSubmit={submit} aria-label="Publish a torrent">
      <input type="file" name="file" accept=".torrent,application/x-bittorrent" aria-label="Torrent file" required />
      <input name="title" placeholder="Title (default: the torrent's name)" aria-label="Title" maxLength={200} />
      <input name="category" placeholder="Category" aria-label="Category" maxLength={40} />
      <input name="tags" placeholder="Tags, comma separated" aria-label="Tags" />
      <textarea name="description" placeholder="Description" aria-label="Description" rows={3} />
      <button type="submit" disabled={busy}>Publish</button>
    </form>
  );
}

function SearchBox({ onSearch }: { onSearch: (q: string) => void }) {
  const [q, setQ] = useState('');
  const [suggestions, setSuggestions] = useState<string[]>([]);
  useEffect(() => {
    const typed = q.trim();
    if (!typed) return setSuggestions([]);
    // A short pause: one request per pause in typing, not per key.
    const t = setTimeout(() => {
      void api<{ suggestions: string[] }>('GET', `/api/catalog/suggest?q=${encodeURIComponent(typed)}`)
        .then((r) => setSuggestions(r.suggestions), () => setSuggestions([]));
    }, 150);
    return () => clearTimeout(t);
  }, [q]);
  function submit(e: Event) {
    e.preventDefault();
    onSearch(q.trim());
  }
  return (
    <form class="inline catalog-search" role="search" onSubmit={submit}>
      <input type="search" value={q} list="catalog-suggestions" onInput={(e) => setQ(e.currentTarget.value)}
        placeholder="Search titles, descriptions, file names" aria-label="Search the catalog" />
      <datalist id="catalog-suggestions">
        {suggestions.map((s) => <option value={s} />)}
      </datalist>
      <button type="submit">Search</button>
      {suggestions.length > 0 && (
        <ul class="suggestions plain" aria-label="Suggestions">
          {suggestions.map((s) => (
            <li><button type="button" class="link" onClick={() => { setQ(s); onSearch(s); }}>{s}</button></li>
          ))}
        </ul>
      )}
    </form>
  );
}

export function Catalog() {
  const [query, setQuery] = useState('');
  const [page, setPage] = useState(1);
  const [result, setResult] = useState<Page | null>(null);
  const load = () => {
    const path = query
      ? `/api/catalog/search?q=${encodeURIComponent(query)}&page=${page}&perPage=${PER_PAGE}`
      : `/api/catalog?page=${page}&perPage=${PER_PAGE}`;
    return api<Page>('GET', path).then(setResult, (e) => alert(describe(e)));
  };
  useEffect(() => void load(), [query, page]);
  const pages = result ? Math.max(1, Math.ceil(result.total / PER_PAGE)) : 1;
  return (
    <section class="catalog" aria-labelledby="catalog-title">
      <h2 id="catalog-title">Catalog</h2>
      <SearchBox onSearch={(q) => { setQuery(q); setPage(1); }} />
      <p class="muted" aria-live="polite">
        {result ? `${result.total} ${query ? `matching “${query}”` : 'published'}` : 'Loading…'}
      </p>
      <ul class="plain catalog-entries">
        {(result?.entries ?? []).map((e) => (
          <li data-entry={e.id}>
            <a href={`#/catalog/${e.id}`}><strong>{e.title}</strong></a>{' '}
            <small>{bytes(e.totalBytes)} · {e.fileCount} file{e.fileCount === 1 ? '' : 's'}{e.category ? ` · ${e.category}` : ''}</small>
            {e.tags.length > 0 && <small class="tags"> {e.tags.map((t) => `#${t}`).join(' ')}</small>}
          </li>
        ))}
        {result && !result.entries.length && <li class="muted">Nothing here yet.</li>}
      </ul>
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>Previous</button>
        <span>Page {page} of {pages}</span>
        <button type="button" disabled={page >= pages} onClick={() => setPage(page + 1)}>Next</button>
      </nav>
      <h3>Publish</h3>
      <UploadForm onDone={() => { setQuery(''); setPage(1); void load(); }} />
    </section>
  );
}

/** Fetches the `.torrent` with the session's token and hands it to the browser. */
async function download(id: string) {
  const res = await fetch(`/api/catalog/${id}/download`, { headers: { authorization: `Bearer ${await accessToken()}` } });
  if (!res.ok) throw new Error(`Download failed (${res.status})`);
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'catalog.torrent';
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function CatalogEntry({ id }: { id: string }) {
  const [entry, setEntry] = useState<Entry | null>(null);
  const [comments, setComments] = useState<Comment[]>([]);
  const [body, setBody] = useState('');
  const me = session();
  const loadComments = () => api<Comment[]>('GET', `/api/catalog/${id}/comments`).then(setComments, (e) => alert(describe(e)));
  useEffect(() => {
    void api<Entry>('GET', `/api/catalog/${id}`).then(setEntry, (e) => alert(describe(e)));
    void loadComments();
  }, [id]);
  if (!entry) return <p class="muted">Loading…</p>;
  const mayDelete = (owner: string) => me?.role === 'admin' || me?.userId === owner;
  function comment(e: Event) {
    e.preventDefault();
    void attempt(() => api('POST', `/api/catalog/${id}/comments`, { body }), () => { setBody(''); void loadComments(); });
  }
  return (
    <section class="catalog-entry" aria-labelledby="entry-title">
      <p><a href="#/catalog">← Catalog</a></p>
      <h2 id="entry-title">{entry.title}</h2>
      <p class="muted">
        {bytes(entry.totalBytes)} · uploaded by {entry.uploaderName ?? entry.uploaderId} · {new Date(entry.createdAt).toLocaleString()}
        {entry.category ? ` · ${entry.category}` : ''}
      </p>
      <p class="swarm" aria-label="Swarm">
        <span data-count="seeders">{entry.swarm.seeders} seeders</span> · <span data-count="leechers">{entry.swarm.leechers} leechers</span> ·{' '}
        <span data-count="completed">{entry.swarm.completed} completed</span>
      </p>
      {entry.description && <p class="description">{entry.description}</p>}
      <p>
        <button type="button" onClick={() => void attempt(() => download(id))}>Download .torrent</button>{' '}
        <button type="button" onClick={() => void attempt(() => api('POST', `/api/catalog/${id}/add`), () => alert('Added to your downloads.'))}>Add to downloads</button>{' '}
        {mayDelete(entry.uploaderId) && (
          <button type="button" class="danger" onClick={() => confirm(`Remove ${entry.title} from the catalog?`) &&
            void attempt(() => api('DELETE', `/api/catalog/${id}`), () => { location.hash = '#/catalog'; })}>Remove</button>
        )}
      </p>
      <h3>Files</h3>
      <ul class="plain files">
        {entry.files.map((f) => <li>{f.path} <small>{bytes(f.length)}</small></li>)}
      </ul>
      <h3>Comments</h3>
      <ul class="plain comments">
        {comments.map((c) => (
          <li data-comment={c.id}>
            <strong>{c.authorName ?? c.authorId}</strong> <small>{new Date(c.createdAt).toLocaleString()}</small>
            <p>{c.body}</p>
            {mayDelete(c.authorId) && (
              <button type="button" class="danger" onClick={() => void attempt(() => api('DELETE', `/api/catalog/${id}/comments/${c.id}`), () => void loadComments())}>Delete</button>
            )}
          </li>
        ))}
        {!comments.length && <li class="muted">No comments yet.</li>}
      </ul>
      <form class="inline" onSubmit={comment} aria-label="Add a comment">
        <input value={body} onInput={(e) => setBody(e.currentTarget.value)} placeholder="Say something" aria-label="Comment" maxLength={5000} required />
        <button type="submit">Comment</button>
      </form>
    </section>
  );
}
