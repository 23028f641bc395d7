// The dashboard: sign-in, then the shell (header, navigation, connection indicator)
// around the view the URL's hash names. Routes: #/ list, #/torrent/<hash> details,
// #/library, #/catalog (and #/catalog/<id>), #/overview, #/security (two-factor login),
// #/admin. Room is left in the navigation for views to come.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { onSession, session, signOut, type Session } from './auth';
import { Indicator } from './components';
import { connect, disconnect } from './live';
import { store, useStore } from './store';
import './styles.css';
import { AddDialog } from './views/add';
import { Admin } from './views/admin';
import { Catalog, CatalogEntry } from './views/catalog';
import { TorrentDetails } from './views/details';
import { Library } from './views/library';
import { TorrentList } from './views/list';
import { Login } from './views/login';
import { Overview } from './views/overview';
import { Security } from './views/security';

function useHash(): string {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function useSession(): Session | null {
  const [s, set] = useState(session());
  useEffect(() => onSession(set), []);
  return s;
}

function App() {
  const s = useSession();
  useEffect(() => {
    if (s) connect();
    else disconnect();
  }, [s?.userId]);
  return s ? <Shell session={s} /> : <Login />;
}

function Shell({ session: s }: { session: Session }) {
  useStore();
  const hash = useHash();
  const [adding, setAdding] = useState(false);
  const [dropped, setDropped] = useState<File[]>([]);
  const [dragging, setDragging] = useState(false);

  // .torrent files dropped anywhere on the page are added.
  useEffect(() => {
    const over = (e: DragEvent) => {
      if (!e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      setDragging(true);
    };
    const leave = (e: DragEvent) => {
      if (!e.relatedTarget) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      if (!e.dataTransfer?.files.length) return;
      e.preventDefault();
      setDragging(false);
      setDropped([...e.dataTransfer.files]);
      setAdding(true);
    };
    addEventListener('dragover', over);
    addEventListener('dragleave', leave);
    addEventListener('drop', drop);
    return () => {
      removeEventListener('dragover', over);
      removeEventListener('dragleave', leave);
      removeEventListener('drop', drop);
    };
  }, []);

  const route = hash.slice(1);
  const detail = /^\/torrent\/([0-9a-f]{40})$/.exec(route);
  const entry = /^\/catalog\/([0-9a-zA-Z-]{1,64})$/.exec(route);
  const inCatalog = route === '/catalog' || !!entry;
  let view;
  if (detail) view = <TorrentDetails hash={detail[1]} />;
  else if (entry) view = <CatalogEntry id={entry[1]} />;
  else if (route === '/catalog') view = <Catalog />;
  else if (route === '/overview') view = <Overview />;
  else if (route === '/library') view = <Library />;
  else if (route === '/security') view = <Security />;
  else if (route === '/admin' && s.role === 'admin') view = <Admin />;
  else view = <TorrentList onAdd={() => { setDropped([]); setAdding(true); }} />;

  const link = (href: string, label: string, current: boolean) => (
    <a href={href} aria-current={current ? 'page' : undefined}>{label}</a>
  );
  return (
    <div class={`shell${dragging ? ' dragging' : ''}`}>
      <header class="top">
        <a class="brand" href="#/">TorrentEdge</a>
        <nav aria-label="Main">
          {link('#/', 'Torrents', !detail && !inCatalog && !['/overview', '/admin', '/library', '/security'].includes(route))}
          {link('#/library', 'Library', route === '/library')}
          {link('#/catalog', 'Catalog', inCatalog)}
          {link('#/overview', 'Overview', route === '/overview')}
          {link('#/security', 'Security', route === '/security')}
          {s.role === 'admin' && link('#/admin', 'Admin', route === '/admin')}
        </nav>
        <Indicator connection={store.connection} />
        <span class="user" title={s.role}>{s.username}</span>
        <button type="button" onClick={() => void signOut()}>Sign out</button>
      </header>
      <main>{view}</main>
      {dragging && <div class="dropzone" aria-hidden="true">Drop .torrent files to add them</div>}
      <AddDialog open={adding} dropped={dropped} onClose={() => setAdding(false)} />
    </div>
  );
}

render(<App />, document.getElementById('app')!);
