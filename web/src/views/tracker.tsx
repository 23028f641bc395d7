// The signed-in user's account on the built-in tracker: the announce URL their clients
// should use (with the passkey when the tracker is private), what the tracker accounted
// for them, and a new passkey when the old one leaked.

import { useEffect, useState } from 'preact/hooks';
import { api, describe } from '../api';
import { bytes, ratio } from '../format';

interface Account {
  mode: 'open' | 'catalog' | 'private';
  announcePath: string;
  passkey: string | null;
  stats: { uploaded: number; downloaded: number; ratio: number | null; seeding: number; leeching: number };
}

const MODES: Record<Account['mode'], string> = {
  open: 'Open: it tracks any torrent.',
  catalog: 'Catalog: it tracks the torrents in the catalog.',
  private: 'Private: your clients announce with your passkey, and your transfers are counted.',
};

export function TrackerAccount() {
  const [account, setAccount] = useState<Account | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const load = () => api<Account>('GET', '/api/tracker/me').then(setAccount, (e) => setNote(describe(e)));
  useEffect(() => void load(), []);

  async function reset() {
    if (!confirm('Make a new passkey? Torrents downloaded with the old one stop announcing until you download them again.')) return;
    setNote(null);
    try {
      await api('POST', '/api/tracker/passkey/reset');
      await load();
      setNote('A new passkey is in use; the old one is refused.');
    } catch (e) {
      setNote(describe(e));
    }
  }

  if (!account) return <div class="card form"><h3>Tracker</h3><p>{note ?? 'Loading…'}</p></div>;
  const s = account.stats;
  return (
    <div class="card form" aria-labelledby="tracker-title">
      <h3 id="tracker-title">Tracker</h3>
      <p data-tracker-mode={account.mode}>{MODES[account.mode]}</p>
      <p>Announce URL: <code class="announce" data-announce-url>{location.origin + account.announcePath}</code></p>
      <dl class="facts">
        <div><dt>Uploaded</dt><dd data-stat="uploaded">{bytes(s.uploaded)}</dd></div>
        <div><dt>Downloaded</dt><dd data-stat="downloaded">{bytes(s.downloaded)}</dd></div>
        <div><dt>Ratio</dt><dd data-stat="ratio">{s.ratio === null ? '—' : ratio(s.ratio)}</dd></div>
        <div><dt>Seeding</dt><dd data-stat="seeding">{s.seeding}</dd></div>
        <div><dt>Leeching</dt><dd data-stat="leeching">{s.leeching}</dd></div>
      </dl>
      {account.passkey && (
        <button type="button" class="danger" onClick={() => void reset()}>New passkey</button>
      )}
      {note && <p role="status">{note}</p>}
    </div>
  );
}
