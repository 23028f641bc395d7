// A Socket.IO client driven over stdio by the Rust integration tests
// (tests/it/socketio.rs): the official `socket.io-client`, so the gateway is tested
// against what browsers actually run.
//
// Usage: node client.mjs URL [AUTH_JSON] [TRANSPORT]
//   URL        the server, e.g. http://127.0.0.1:PORT
//   AUTH_JSON  the handshake `auth` object, e.g. {"token":"...","lastSeq":12}; default {}
//   TRANSPORT  "websocket" (default) or "polling"
//
// stdout: one JSON object per line for everything that happens:
//   {"event": NAME, "data": FIRST_ARG}    every server event, plus connect,
//                                         connect_error and disconnect
//   {"event": "ack", "data": {"emit": NAME, "response": ...}}   an acknowledgement
// stdin: one command per line:
//   {"emit": NAME, "data": ..., "ack": true|false}   emit an event (ack: ask for one)
//   quit                                             disconnect and exit
// The client also exits when stdin closes, so a dying test never leaves it behind.

import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

const [url, authJson = '{}', transport = 'websocket'] = process.argv.slice(2);
if (!url) {
  process.stderr.write('usage: node client.mjs URL [AUTH_JSON] [TRANSPORT]\n');
  process.exit(2);
}

function print(event, data) {
  process.stdout.write(JSON.stringify({ event, data: data === undefined ? null : data }) + '\n');
}

const socket = io(url, {
  auth: JSON.parse(authJson),
  transports: [transport],
  reconnection: false,
  forceNew: true,
});

socket.on('connect', () => print('connect', { id: socket.id, transport: socket.io.engine.transport.name }));
socket.on('connect_error', (err) => print('connect_error', { message: err.message }));
socket.on('disconnect', (reason) => print('disconnect', { reason }));
socket.onAny((event, ...args) => print(event, args.length > 1 ? args : args[0]));

function quit() {
  socket.disconnect();
  // Let stdout drain before leaving: the test reads every line.
  process.stdout.write('', () => process.exit(0));
}

function run(line) {
  const text = line.trim();
  if (!text) return;
  if (text === 'quit') return quit();
  let cmd;
  try {
    cmd = JSON.parse(text);
  } catch (e) {
    return print('client_error', { message: `bad command: ${text}` });
  }
  if (cmd.quit) return quit();
  if (typeof cmd.emit !== 'string') return print('client_error', { message: `no emit in ${text}` });
  if (cmd.ack) {
    socket.emit(cmd.emit, cmd.data, (response) => print('ack', { emit: cmd.emit, response }));
  } else {
    socket.emit(cmd.emit, cmd.data);
  }
}

createInterface({ input: process.stdin }).on('line', run).on('close', quit);
