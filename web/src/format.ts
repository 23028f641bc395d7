// Numbers as people read them.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function bytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0 B';
  const i = Math.min(UNITS.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  const v = n / 1024 ** i;
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[i]}`;
}

export function speed(n: number): string {
  return n > 0 ? `${bytes(n)}/s` : '–';
}

export function eta(seconds: number | null): string {
  if (seconds == null || !Number.isFinite(seconds)) return '∞';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m ${Math.round(seconds % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function percent(p: number): string {
  return `${p >= 100 ? 100 : Math.floor(p * 10) / 10}%`;
}

export function ratio(r: number): string {
  return Number.isFinite(r) ? r.toFixed(2) : '∞';
}

export function time(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}
