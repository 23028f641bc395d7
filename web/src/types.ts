// The server's JSON shapes (src/view.rs, src/engine/types.rs, src/events/payload.rs).

export type State =
  | 'queued'
  | 'metadata'
  | 'checking'
  | 'downloading'
  | 'seeding'
  | 'paused'
  | 'completed'
  | 'error';

export const STATES: State[] = [
  'downloading',
  'seeding',
  'queued',
  'metadata',
  'checking',
  'paused',
  'completed',
  'error',
];

export type Priority = 'high' | 'normal' | 'low';
export const PRIORITIES: Priority[] = ['high', 'normal', 'low'];

export interface Peers {
  connected: number;
  total: number;
}

export interface Torrent {
  infoHash: string;
  name: string | null;
  state: State;
  priority: Priority;
  paused: boolean;
  queuePosition: number | null;
  percentage: number;
  totalBytes: number;
  completedBytes: number;
  downloaded: number;
  uploaded: number;
  downloadSpeed: number;
  uploadSpeed: number;
  eta: number | null;
  ratio: number;
  peers: Peers;
  addedAt: number;
  completedAt: number | null;
  ownerId: string;
  error: string | null;
  /** Downloads and seeds only while a stream reads it. */
  streamOnly?: boolean;
  /** Stream-only and unread for IDLE_TIMEOUT: it moves no data until the next read. */
  idle?: boolean;
  /** Streams open on it now. */
  streams?: number;
}

/** A signed URL a player can open without a token. */
export interface SignedLink {
  url: string;
  /** Unix seconds. */
  expiresAt: number;
}

export interface FileView {
  index: number;
  path: string;
  /** Where the file starts in the torrent's bytes. */
  offset: number;
  length: number;
  downloaded: number;
  percentage: number;
}

export interface PeerView {
  address: string;
  state: string;
  client: string | null;
  connection: string | null;
  downloaded: number;
  uploaded: number;
}

export interface Details extends Torrent {
  magnetUri: string | null;
  files: FileView[];
  trackers: string[];
  droppedTrackers: { url: string; reason: string }[];
  pieces: { have: number; total: number; length: number; bitfield?: string };
  peerList: PeerView[];
  savePath: string | null;
}

export interface Envelope {
  id: string;
  seq: number;
  type: string;
  ts: number;
  infoHash?: string;
  userId?: string;
  [field: string]: unknown;
}

export interface Statistics {
  totalTorrents: number;
  activeCount: number;
  queuedCount: number;
  seedingCount: number;
  pausedCount: number;
  completedCount: number;
  errorCount: number;
  downloadSpeed: number;
  uploadSpeed: number;
  totalDownloaded: number;
  totalUploaded: number;
  maxConcurrent: number;
  disk?: { freeBytes: number; totalBytes: number } | null;
}

export interface Settings {
  downloadLimit: number;
  uploadLimit: number;
  maxConcurrentTorrents: number;
}

export interface User {
  id: string;
  username: string;
  role: 'admin' | 'user';
  createdAt: number;
}

/** Which file of which torrent plays a movie or episode. */
export interface Assignment {
  infoHash: string;
  fileIndex: number;
  filePath: string;
  size: number;
  resolution: string | null;
  source: string | null;
  assignedAt: number;
}

/** A movie, a show or an episode of the library. */
export interface MediaItem {
  id: string;
  ownerId: string;
  kind: 'movie' | 'show' | 'episode';
  title: string;
  year: number | null;
  showId: string | null;
  season: number | null;
  episode: number | null;
  assignment: Assignment | null;
  createdAt: number;
}

export interface ShowDetails extends MediaItem {
  episodes: MediaItem[];
}
