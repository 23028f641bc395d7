// Adding torrents: a magnet link or an http(s) URL, .torrent files from the file
// picker, or files dropped anywhere on the page. Each with a priority and start paused.

import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describe } from '../api';
import { PRIORITIES, type Priority } from '../types';

interface Options {
  priority: Priority;
  paused: boolean;
}

export async function addLink(link: string, o: Options) {
  const trimmed = link.trim();
  const body = /^magnet:/i.test(trimmed) ? { magnetURI: trimmed } : { url: trimmed };
  await api('POST', '/api/torrents', { ...body, priority: o.priority, paused: o.paused });
}

export async function addFile(file: File, o: Options) {
  const form = new FormData();
  form.append('file', file, file.name);
  form.append('priority', o.priority);
  form.append('paused', String(o.paused));
  await api('POST', '/api/torrents', form);
}

/** What happened to each thing added: shown in the dialog, in words. */
interface Outcome {
  what: string;
  error?: string;
}

export function AddDialog({ open, onClose, dropped }: { open: boolean; onClose: () => void; dropped: File[] }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [outcomes, setOutcomes] = useState<Outcome[]>([]);
  const [busy, setBusy] = useState(false);
  const [priority, setPriority] = useState<Priority>('normal');
  const [paused, setPaused] = useState(false);

  useEffect(() => {
    const d = dialog.current!;
    if (open && !d.open) {
      setOutcomes([]);
      d.showModal();
    } else if (!open && d.open) d.close();
  }, [open]);

  useEffect(() => {
    if (open && dropped.length) void run(dropped.map((f) => ({ what: f.name, go: () => addFile(f, { priority, paused }) })));
  }, [dropped]);

  async function run(jobs: { what: string; go: () => Promise<void> }[]) {
    setBusy(true);
    const results: Outcome[] = [];
    for (const job of jobs) {
      try {
        await job.go();
        results.push({ what: job.what });
      } catch (e) {
        results.push({ what: job.what, error: describe(e) });
      }
    }
    setOutcomes(results);
    setBusy(false);
    if (results.every((r) => !r.error)) onClose();
  }

  function submit(ev: Event) {
    ev.preventDefault();
    const form = ev.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const link = String(data.get('link') ?? '').trim();
    const files = (data.getAll('files') as File[]).filter((f) => f.size > 0 || f.name);
    const o = { priority, paused };
    const jobs = [
      ...(link ? [{ what: link.slice(0, 60), go: () => addLink(link, o) }] : []),
      ...files.filter((f) => f.name).map((f) => ({ what: f.name, go: () => addFile(f, o) })),
    ];
    if (!jobs.length) {
      setOutcomes([{ what: 'Nothing to add', error: 'Paste a magnet link or URL, or choose a .torrent file.' }]);
      return;
    }
    void run(jobs).then(() => form.reset());
  }

  return (
    <dialog ref={dialog} class="card add" aria-labelledby="add-title" onClose={onClose}>
      <form method="dialog" onSubmit={submit}>
        <h2 id="add-title">Add torrents</h2>
        <label>
          Magnet link or URL of a .torrent
          <input name="link" type="text" placeholder="magnet:?xt=urn:btih:… or https://…" autocomplete="off" />
        </label>
        <label>
          .torrent files
          <input name="files" type="file" accept=".torrent,application/x-bittorrent" multiple />
        </label>
        <p class="hint">You can also drop .torrent files anywhere on the page.</p>
        <div class="row">
          <label>
            Priority
            <select value={priority} onChange={(e) => setPriority((e.currentTarget as HTMLSelectElement).value as Priority)}>
              {PRIORITIES.map((p) => <option value={p}>{p}</option>)}
            </select>
          </label>
          <label class="check">
            <input type="checkbox" checked={paused} onChange={(e) => setPaused((e.currentTarget as HTMLInputElement).checked)} />
            Start paused
          </label>
        </div>
        {outcomes.length > 0 && (
          <ul class="outcomes" role="alert">
            {outcomes.map((o) => (
              <li class={o.error ? 'error' : 'ok'}>
                <strong>{o.what}</strong>: {o.error ?? 'added'}
              </li>
            ))}
          </ul>
        )}
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy}>{busy ? 'Adding…' : 'Add'}</button>
        </div>
      </form>
    </dialog>
  );
}
