// A leaky application on the REAL kurento-client (7.3.0, or 6.18.0 with `--client 6`): N
// hello-world sessions, each with a scripted browser whose UDP peer sends RTP until media flows,
// then leaves. The application releases each session's pipeline when its browser leaves, except
// for every `--forget-every`-th session (sessions 10, 20, … by default), whose objects it keeps
// and never releases: the real-world leak. Its kurento-client connection stays open, so its KMS
// session stays alive and KMS's garbage collector never frees what it forgot.
//
// Usage: node leak_app.js <ws-url> [--client 6|7] [--dialect 6|7] [--sessions N]
//                         [--forget-every K] [--concurrency C]
//
// When every session is done it prints one JSON line on stdout:
//   {"forgotten": [pipeline ids], "released": n, "releasedIds": [...], "lastForgottenQuietMsAgo": ms, ...}
// (`lastForgottenQuietMsAgo`: how long before printing the last forgotten session's browser sent
// its last packet), then keeps the connection open until stdin reads a line `exit` or closes;
// then it closes the client and exits 0. Any failure: the reason on stderr, exit 1.
//
// Packets only ever go to 127.0.0.1 (the simulator's loopback host candidates).
'use strict';

const crypto = require('crypto');
const dgram = require('dgram');
const readline = require('readline');
const { BROWSER_OFFER, call, check, eventNames, loadClient, parseArgs, withTimeout } = require('./common');

const USAGE = 'node leak_app.js <ws-url> [--client 6|7] [--dialect 6|7] [--sessions N] '
  + '[--forget-every K] [--concurrency C]';
const LOOPBACK = '127.0.0.1';

const CALL_MS = 5000; // one request/response round trip
const MEDIA_MS = 10000; // sending until the endpoint reports media flowing out, per media
const PACKET_INTERVAL_MS = 20; // one audio and one video packet per tick
const PAYLOAD_BYTES = 100;

// Our own options first; the rest (url, --client, --dialect) is common.js's.
const own = { sessions: 20, 'forget-every': 10, concurrency: 5 };
const rest = [];
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].startsWith('--') ? argv[i].slice(2) : null;
    if (key !== null && Object.prototype.hasOwnProperty.call(own, key)) {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 1) {
        console.error(`--${key} must be a positive integer, got ${argv[i]}\nusage: ${USAGE}`);
        process.exit(2);
      }
      own[key] = value;
    } else {
      rest.push(argv[i]);
    }
  }
}
const args = parseArgs(rest, USAGE);
const { kurento, version } = loadClient(args.client);
const names = eventNames(args.client, args.dialect);

function fail(reason) {
  console.error(`leak_app FAILED: ${reason}`);
  process.exit(1);
}

// The endpoint's `127.0.0.1 <port> typ host` candidate from the SDP answer.
function hostCandidate(sdp) {
  for (const line of String(sdp).split(/\r?\n/)) {
    const f = line.trim().replace(/^a=/, '').split(/\s+/);
    if (f[0].startsWith('candidate:') && f[7] === 'host' && f[4] === LOOPBACK) {
      return { address: f[4], port: Number(f[5]) };
    }
  }
  throw new Error(`no "${LOOPBACK} <port> typ host" candidate in the answer:\n${sdp}`);
}

// One RTP stream (RFC 3550 fixed 12-byte header, random payload).
class RtpStream {
  constructor(payloadType, clockRate) {
    this.payloadType = payloadType;
    this.ssrc = crypto.randomBytes(4).readUInt32BE(0);
    this.sequence = crypto.randomBytes(2).readUInt16BE(0);
    this.timestamp = crypto.randomBytes(4).readUInt32BE(0);
    this.timestampStep = (clockRate * PACKET_INTERVAL_MS) / 1000;
  }

  next() {
    const packet = Buffer.alloc(12 + PAYLOAD_BYTES);
    packet[0] = 0x80; // version 2
    packet[1] = this.payloadType;
    packet.writeUInt16BE(this.sequence, 2);
    packet.writeUInt32BE(this.timestamp, 4);
    packet.writeUInt32BE(this.ssrc, 8);
    crypto.randomFillSync(packet, 12);
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (this.timestamp + this.timestampStep) >>> 0;
    return packet;
  }
}

// Resolves once `names.flowOut` FLOWING arrived for both AUDIO and VIDEO on `endpoint`.
function flowingOut(endpoint) {
  const pending = new Set(['AUDIO', 'VIDEO']);
  return new Promise((resolve) => {
    endpoint.on(names.flowOut, (data) => {
      if (data && data.state === 'FLOWING') pending.delete(data.mediaType);
      if (pending.size === 0) resolve();
    });
  });
}

// One hello-world session; resolves with its pipeline id and when its browser went quiet.
async function session(client, number, forget) {
  const pipeline = await withTimeout(call(client, 'create', 'MediaPipeline'), CALL_MS, `#${number} create MediaPipeline`);
  const endpoint = await withTimeout(call(pipeline, 'create', 'WebRtcEndpoint'), CALL_MS, `#${number} create WebRtcEndpoint`);
  const flowing = flowingOut(endpoint);
  // The tutorial forwards every candidate KMS finds to its browser; this one only counts them.
  let candidates = 0;
  endpoint.on(names.candidate, () => {
    candidates += 1;
  });
  await withTimeout(call(endpoint, 'connect', endpoint), CALL_MS, `#${number} connect (loopback)`);
  const answer = await withTimeout(call(endpoint, 'processOffer', BROWSER_OFFER), CALL_MS, `#${number} processOffer`);
  const target = hostCandidate(answer);

  const socket = dgram.createSocket('udp4');
  socket.on('error', (e) => fail(`#${number} UDP socket error: ${e.stack || e}`));
  socket.on('message', () => {}); // what the endpoint sends back (loopback) is not looked at
  await new Promise((resolve) => socket.bind(0, LOOPBACK, resolve));
  const IceCandidate = kurento.getComplexType('IceCandidate');
  const ice = IceCandidate({
    candidate: `candidate:1 1 udp 2122260223 ${LOOPBACK} ${socket.address().port} typ host generation 0`,
    sdpMid: '0',
    sdpMLineIndex: 0,
  });
  await withTimeout(call(endpoint, 'addIceCandidate', ice), CALL_MS, `#${number} addIceCandidate`);
  await withTimeout(call(endpoint, 'gatherCandidates'), CALL_MS, `#${number} gatherCandidates`);

  const audio = new RtpStream(111, 48000);
  const video = new RtpStream(96, 90000);
  const send = (packet) => {
    check(target.address === LOOPBACK, `refusing to send to ${target.address}`);
    socket.send(packet, target.port, target.address);
  };
  const ticker = setInterval(() => {
    send(audio.next());
    send(video.next());
  }, PACKET_INTERVAL_MS);
  try {
    await withTimeout(flowing, MEDIA_MS, `#${number} ${names.flowOut} FLOWING (AUDIO and VIDEO)`);
  } finally {
    // The browser leaves without a word.
    clearInterval(ticker);
  }
  const quietAt = Date.now();
  await new Promise((resolve) => socket.close(resolve));
  if (!forget) {
    await withTimeout(call(pipeline, 'release'), CALL_MS, `#${number} release`);
  }
  return { id: pipeline.id, forget, quietAt, candidates };
}

async function main() {
  const started = Date.now();
  const client = await withTimeout(kurento(args.url, { failAfter: 1 }), CALL_MS, 'the WebSocket connection');
  const results = [];
  let next = 1;
  const worker = async () => {
    while (next <= own.sessions) {
      const number = next++;
      results.push(await session(client, number, number % own['forget-every'] === 0));
    }
  };
  await Promise.all(Array.from({ length: Math.min(own.concurrency, own.sessions) }, worker));

  const forgotten = results.filter((r) => r.forget);
  const released = results.filter((r) => !r.forget);
  const lastQuiet = Math.max(...forgotten.map((r) => r.quietAt));
  console.log(JSON.stringify({
    forgotten: forgotten.map((r) => r.id),
    released: released.length,
    releasedIds: released.map((r) => r.id),
    lastForgottenQuietMsAgo: forgotten.length ? Date.now() - lastQuiet : null,
    sessions: own.sessions,
    candidatesFound: results.reduce((n, r) => n + r.candidates, 0),
    client: { major: args.client, version },
    dialect: args.dialect,
    ms: Date.now() - started,
  }));

  // The application lives on, and with it its KMS session and everything it forgot.
  const lines = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => {
    lines.on('line', (line) => {
      if (line.trim() === 'exit') resolve();
    });
    lines.on('close', resolve);
  });
  client.close();
  process.exit(0);
}

process.on('uncaughtException', (e) => fail(`uncaught: ${e && e.stack ? e.stack : String(e)}`));
main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
