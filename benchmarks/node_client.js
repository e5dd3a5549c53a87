// A load generator written on node's `ws` client, driven by benchmarks/run.py.
//
// Why a second generator: on a two-core machine the Python generator can saturate a core
// before the fastest servers do, and then every server looks alike. Node's event loop and
// ws' C-free but JIT-compiled parser cost less per message, so the same scenario measured
// with both tells whether the generator or the server was the limit.
//
// Usage: node node_client.js URL CONNECTIONS PIPELINE SIZE SECONDS [raw]
// Prints one JSON line: {"messages", "echoed", "seconds", "p50", "p99", "errors"}: messages
// echoed within SECONDS, all echoes (the in-flight ones drained after it too), and
// latencies in seconds.
// Every echo is compared with what was sent (length and bytes). In raw mode the client
// speaks plain TCP to an echo server: it writes masked binary frames and counts the same
// number of bytes coming back, with no handshake.
'use strict';

const net = require('net');
const crypto = require('crypto');
const WebSocket = require('ws');

const [url, connArg, pipeArg, sizeArg, secondsArg, mode] = process.argv.slice(2);
const connections = Number(connArg);
const pipeline = Number(pipeArg);
const size = Number(sizeArg);
const seconds = Number(secondsArg);
const raw = mode === 'raw';

const payload = crypto.randomBytes(size);
const latencies = [];
let messages = 0;
let echoed = 0;
let errors = 0;
let sending = true;
let open = 0;
let started = 0n;
let finished = 0;

function frameFor(data) {
  // A masked binary frame, built once: raw mode sends the same bytes over and over.
  const mask = crypto.randomBytes(4);
  let header;
  if (data.length < 126) {
    header = Buffer.from([0x82, 0x80 | data.length]);
  } else if (data.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = 0x82;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(data.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x82;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(data.length), 2);
  }
  const body = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) body[i] = data[i] ^ mask[i & 3];
  return Buffer.concat([header, mask, body]);
}

function done() {
  finished += 1;
  if (finished < connections) return;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  latencies.sort((a, b) => a - b);
  const pick = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1,
    Math.floor(q * latencies.length))] : 0);
  process.stdout.write(JSON.stringify({
    messages, echoed, seconds: Math.min(elapsed, seconds), p50: pick(0.5), p99: pick(0.99), errors,
  }) + '\n');
  process.exit(0);
}

function startWebSocket() {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 512 * 1024 * 1024 });
  const sent = [];
  let closing = false;
  const send = () => {
    sent.push(process.hrtime.bigint());
    ws.send(payload, { binary: true });
  };
  const finish = () => {
    if (!closing) {
      closing = true;
      ws.close(1000);
    }
  };
  ws.on('open', () => {
    open += 1;
    if (open === connections) begin();
  });
  ws.on('message', (data) => {
    const at = process.hrtime.bigint();
    const t0 = sent.shift();
    if (data.length !== size || !payload.equals(data)) errors += 1;
    echoed += 1;
    if (sending) {
      messages += 1;
      latencies.push(Number(at - t0) / 1e9);
    }
    if (sending) send();
    else if (sent.length === 0) finish();
  });
  ws.on('error', () => { errors += 1; });
  ws.on('close', done);
  ws.beginSending = () => { for (let i = 0; i < pipeline; i++) send(); };
  ws.stopIfIdle = () => { if (sent.length === 0) finish(); };
  return ws;
}

function startRaw() {
  const { hostname, port } = new URL(url);
  const frame = frameFor(payload);
  const sock = net.connect({ host: hostname, port: Number(port) });
  sock.setNoDelay(true);
  const sent = [];
  let pendingBytes = 0;
  const conn = {};
  const send = () => {
    sent.push(process.hrtime.bigint());
    sock.write(frame);
  };
  sock.on('connect', () => {
    open += 1;
    if (open === connections) begin();
  });
  sock.on('data', (chunk) => {
    pendingBytes += chunk.length;
    while (pendingBytes >= frame.length) {
      pendingBytes -= frame.length;
      const at = process.hrtime.bigint();
      const t0 = sent.shift();
      echoed += 1;
      if (sending) {
        messages += 1;
        latencies.push(Number(at - t0) / 1e9);
        send();
      }
    }
    if (!sending && sent.length === 0) sock.end();
  });
  sock.on('error', () => { errors += 1; });
  sock.on('close', done);
  conn.beginSending = () => { for (let i = 0; i < pipeline; i++) send(); };
  conn.stopIfIdle = () => { if (sent.length === 0) sock.end(); };
  return conn;
}

const clients = [];
for (let i = 0; i < connections; i++) clients.push(raw ? startRaw() : startWebSocket());

function begin() {
  started = process.hrtime.bigint();
  for (const client of clients) client.beginSending();
  setTimeout(() => {
    sending = false;
    for (const client of clients) client.stopIfIdle();
  }, seconds * 1000);
}

setTimeout(() => {
  errors += 1;
  process.stdout.write(JSON.stringify({ messages, echoed, seconds, p50: 0, p99: 0, errors }) + '\n');
  process.exit(1);
}, (seconds + 30) * 1000).unref();
