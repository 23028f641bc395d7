// The whole server at a glance: total speeds, the queue, state counts and the disk.

import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { SpeedChart } from '../components';
import { bytes, speed } from '../format';
import { store, useStore } from '../store';
import { STATES, type Statistics } from '../types';

export function Overview() {
  useStore();
  // Disk space is not pushed: it is read when the overview opens.
  const [stats, setStats] = useState<Statistics | null>(null);
  useEffect(() => {
    void api<Statistics>('GET', '/api/statistics').then(setStats, () => setStats(null));
  }, []);
  const all = [...store.torrents.values()];
  const down = all.reduce((s, t) => s + t.downloadSpeed, 0);
  const up = all.reduce((s, t) => s + t.uploadSpeed, 0);
  const disk = stats?.disk;
  return (
    <section class="overview" aria-labelledby="overview-title">
      <h2 id="overview-title">Overview</h2>
      <div class="cards">
        <div class="card stat"><span>Download</span><strong>{speed(down)}</strong></div>
        <div class="card stat"><span>Upload</span><strong>{speed(up)}</strong></div>
        <div class="card stat"><span>Active</span><strong data-testid="active">{store.queue.activeCount}</strong></div>
        <div class="card stat"><span>Queued</span><strong data-testid="queued">{store.queue.queuedCount}</strong></div>
        {disk && (
          <div class="card stat">
            <span>Disk free</span>
            <strong>{bytes(disk.freeBytes)}</strong>
            <small>of {bytes(disk.totalBytes)}</small>
          </div>
        )}
      </div>
      <h3>Total speed</h3>
      <SpeedChart samples={store.totals} label="Total download and upload speed" />
      <h3>Torrents by state</h3>
      <ul class="counts plain">
        {STATES.map((s) => (
          <li><span class={`badge state-${s}`}>{s}</span> {all.filter((t) => t.state === s).length}</li>
        ))}
      </ul>
    </section>
  );
}
