// For administrators: the runtime settings (limits, download slots) and the users.

import { useEffect, useState } from 'preact/hooks';
import { api, describe } from '../api';
import type { Settings, User } from '../types';

export function Admin() {
  return (
    <section class="admin" aria-labelledby="admin-title">
      <h2 id="admin-title">Administration</h2>
      <SettingsForm />
      <Users />
    </section>
  );
}

function SettingsForm() {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [note, setNote] = useState<string | null>(null);
  useEffect(() => {
    void api<Settings>('GET', '/api/settings').then(setSettings, (e) => setNote(describe(e)));
  }, []);
  async function save(ev: Event) {
    ev.preventDefault();
    const f = new FormData(ev.currentTarget as HTMLFormElement);
    const kib = (k: string) => Math.round(Number(f.get(k)) * 1024);
    try {
      const next = await api<Settings>('PUT', '/api/settings', {
        downloadLimit: kib('downloadLimit'),
        uploadLimit: kib('uploadLimit'),
        maxConcurrentTorrents: Number(f.get('maxConcurrentTorrents')),
      });
      setSettings(next);
      setNote('Saved.');
    } catch (e) {
      setNote(describe(e));
    }
  }
  if (!settings) return <p>{note ?? 'Loading settings…'}</p>;
  return (
    // Uncontrolled fields (defaultValue), keyed by the saved settings: a re-render of the
    // page (every live event) kept resetting a value being typed to the saved one.
    <form key={JSON.stringify(settings)} class="card form" onSubmit={save} aria-labelledby="settings-title">
      <h3 id="settings-title">Settings</h3>
      <label>Download limit (KiB/s, 0 = none)
        <input name="downloadLimit" type="number" min="0" step="1" defaultValue={String(Math.round(settings.downloadLimit / 1024))} />
      </label>
      <label>Upload limit (KiB/s, 0 = none)
        <input name="uploadLimit" type="number" min="0" step="1" defaultValue={String(Math.round(settings.uploadLimit / 1024))} />
      </label>
      <label>Torrents downloading at once
        <input name="maxConcurrentTorrents" type="number" min="1" max="10000" defaultValue={String(settings.maxConcurrentTorrents)} />
      </label>
      {note && <p role="status">{note}</p>}
      <button type="submit" class="primary">Save</button>
    </form>
  );
}

function Users() {
  const [users, setUsers] = useState<User[]>([]);
  const [note, setNote] = useState<string | null>(null);
  const load = () => api<User[]>('GET', '/api/users').then(setUsers, (e) => setNote(describe(e)));
  useEffect(() => void load(), []);
  async function create(ev: Event) {
    ev.preventDefault();
    const form = ev.currentTarget as HTMLFormElement;
    const f = new FormData(form);
    try {
      await api('POST', '/api/users', { username: f.get('username'), password: f.get('password'), role: f.get('role') });
      setNote(`Created ${f.get('username')}.`);
      form.reset();
      await load();
    } catch (e) {
      setNote(describe(e));
    }
  }
  return (
    <div class="card form">
      <h3>Users</h3>
      <table class="simple">
        <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Since</th></tr></thead>
        <tbody>{users.map((u) => <tr><td>{u.username}</td><td>{u.role}</td><td>{new Date(u.createdAt).toLocaleDateString()}</td></tr>)}</tbody>
      </table>
      <form onSubmit={create} aria-label="Create a user">
        <label>User name <input name="username" required minLength={3} maxLength={32} autocomplete="off" /></label>
        <label>Password <input name="password" type="password" required minLength={8} autocomplete="new-password" /></label>
        <label>Role
          <select name="role"><option value="user">user</option><option value="admin">admin</option></select>
        </label>
        {note && <p role="status">{note}</p>}
        <button type="submit">Create user</button>
      </form>
    </div>
  );
}
