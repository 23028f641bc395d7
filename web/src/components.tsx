// Small shared pieces: the progress bar, the state badge, the connection indicator, the
// speed chart (uPlot) and the pieces map (a canvas).

import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { bytes, percent } from './format';
import { hasPiece, type Connection, type Sample } from './store';
import type { State } from './types';

export function ProgressBar({ value, label }: { value: number; label: string }) {
  return (
    <div class="bar" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100}
      aria-valuenow={Math.round(value * 10) / 10}>
      <div class="bar-fill" style={{ width: `${Math.min(100, value)}%` }} />
      <span class="bar-text">{percent(value)}</span>
    </div>
  );
}

export function StateBadge({ state }: { state: State }) {
  return <span class={`badge state-${state}`} data-state={state}>{state}</span>;
}

const CONNECTION_TEXT: Record<Connection, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
};

export function Indicator({ connection }: { connection: Connection }) {
  return (
    <span class={`indicator ${connection}`} role="status" aria-live="polite" data-connection={connection}>
      <span class="dot" aria-hidden="true" />
      {CONNECTION_TEXT[connection]}
    </span>
  );
}

function css(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

/** Whether the system is in dark mode, following its changes. */
function useDark(): boolean {
  const query = matchMedia('(prefers-color-scheme: dark)');
  const [dark, setDark] = useState(query.matches);
  useEffect(() => {
    const on = (e: MediaQueryListEvent) => setDark(e.matches);
    query.addEventListener('change', on);
    return () => query.removeEventListener('change', on);
  }, []);
  return dark;
}

/** Download and upload speed over time; redrawn in the colours of a new theme. */
export function SpeedChart({ samples, label }: { samples: Sample[]; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const dark = useDark();
  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: el.clientWidth || 300,
      height: 180,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1024, max * 1.1)] } },
      axes: [
        { stroke: css('--muted'), grid: { stroke: css('--grid') } },
        { stroke: css('--muted'), grid: { stroke: css('--grid') }, size: 70, values: (_u, v) => v.map((x) => `${bytes(x)}/s`) },
      ],
      series: [
        {},
        { label: 'Download', stroke: css('--down'), width: 2, value: (_u, v) => (v == null ? '–' : `${bytes(v)}/s`) },
        { label: 'Upload', stroke: css('--up'), width: 2, value: (_u, v) => (v == null ? '–' : `${bytes(v)}/s`) },
      ],
    };
    plot.current = new uPlot(opts, [[], [], []], el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth, height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [dark]);
  useEffect(() => {
    const xs = samples.map((s) => s[0]);
    plot.current?.setData([xs, samples.map((s) => s[1]), samples.map((s) => s[2])]);
  });
  return <div class="chart" ref={box} role="img" aria-label={label} />;
}

/** One cell per piece, filled when verified; redrawn when the count or the theme changes. */
export function PieceMap({ bits, total, have }: { bits: Uint8Array; total: number; have: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const dark = useDark();
  useEffect(() => {
    const c = canvas.current!;
    const width = c.clientWidth || 600;
    const cols = Math.max(1, Math.min(total, Math.floor(width / 6)));
    const size = width / cols;
    const rows = Math.ceil(total / cols);
    const scale = devicePixelRatio || 1;
    c.width = Math.round(width * scale);
    c.height = Math.round(rows * size * scale);
    c.style.height = `${rows * size}px`;
    const g = c.getContext('2d')!;
    g.scale(scale, scale);
    g.fillStyle = css('--piece-empty');
    g.fillRect(0, 0, width, rows * size);
    g.fillStyle = css('--piece-have');
    for (let i = 0; i < total; i++) {
      if (hasPiece(bits, i)) g.fillRect((i % cols) * size, Math.floor(i / cols) * size, size - 1, size - 1);
    }
  }, [bits, total, have, dark]);
  return (
    <canvas ref={canvas} class="pieces" data-have={have} data-total={total}
      role="img" aria-label={`${have} of ${total} pieces verified`} />
  );
}
