// A scripted "browser": one application session with a REAL UDP media peer, driven by the real
// kurento-client (7.3.0 or 6.18.0) against a KMS URL (meant for the simulator, which binds its
// media ports on 127.0.0.1).
//
// Usage: node peer_session.js ws://127.0.0.1:PORT/kurento --client 6|7 --dialect 6|7
//
// The peer offers audio+video, trickles its loopback UDP socket as its only candidate, sends RTP
// to the endpoint's host candidate, and the endpoint is connected to itself (hello-world
// loopback) so media comes back. Every expectation has a deadline. On success it prints
// `OK peer session` and then the JSON summary on one line and exits 0; on the first failed
// expectation it prints the summary so far (with `failedStep`) on stdout, the reason on stderr,
// and exits 1.
'use strict';

const crypto = require('crypto');
const dgram = require('dgram');
const {
  BROWSER_OFFER, call, check, eventNames, expectError, loadClient, parseArgs, withTimeout,
} = require('./common');

const USAGE = 'node peer_session.js <ws-url> --client 6|7 --dialect 6|7';
const LOOPBACK = '127.0.0.1';

const CALL_MS = 5000; // one request/response round trip
const GATHER_MS = 5000; // gatherCandidates until the gathering-done event
const MEDIA_MS = 10000; // sending until every "media is up" event arrived
const DRAIN_MS = 2000; // until the last sent datagram left the socket
const STATS_MS = 5000; // until getStats counts every packet sent
const STATS_POLL_MS = 200;
const SILENCE_MS = 15000; // after the last packet, until every "media is gone" event arrived

const PACKET_INTERVAL_MS = 20; // one audio and one video packet per tick, like a 20 ms opus frame
const PAYLOAD_BYTES = 100;
// Keep sending for at least this many packets per media even if every event came early, so the
// stats check counts a real stream and not the first packet or two.
const MIN_PACKETS = 50;

const args = parseArgs(process.argv.slice(2), USAGE);
const { kurento, version } = loadClient(args.client);
const names = eventNames(args.client, args.dialect);
const startedAt = Date.now();

const summary = {
  client: { major: args.client, version },
  dialect: args.dialect,
  subscribed: Object.values(names).filter(Boolean),
  steps: [],
  answer: null,
  candidates: { found: 0, used: [], skipped: [] },
  peer: null,
  sent: { audio: 0, video: 0, bytes: 0, errors: 0 },
  received: { fromEndpoint: 0, fromElsewhere: 0, bytes: 0, rtp: 0, rtcp: 0, stun: 0, other: 0, rtpPayloadTypes: {} },
  stats: null,
  silence: null,
  events: {},
  timeline: [],
  expectedErrors: {},
};

let step = 'start';

function fail(reason) {
  summary.failedStep = step;
  console.log(JSON.stringify(summary));
  console.error(`FAILED at step "${step}": ${reason}`);
  process.exit(1);
}

// Runs one numbered step of the contract, timing it for the summary.
async function run(name, body) {
  step = name;
  const begun = Date.now();
  const result = await body();
  summary.steps.push({ step: name, ms: Date.now() - begun });
  return result;
}

// Every event the endpoint delivers, in arrival order. Waiting looks at the recorded history
// from a mark on, so an event that arrived before anyone waited for it is not lost.
class EventLog {
  constructor() {
    this.events = [];
    this.waiters = new Set();
  }

  listen(endpoint, kind, name) {
    if (!name) return;
    endpoint.on(name, (data) => this.record(kind, name, data));
  }

  record(kind, name, data) {
    const event = { kind, name, data, at: Date.now() };
    this.events.push(event);
    summary.events[name] = (summary.events[name] || 0) + 1;
    summary.timeline.push(describeEvent(event));
    for (const waiter of [...this.waiters]) waiter();
  }

  mark() {
    return this.events.length;
  }

  // The first event of `kind` at position `since` or later for which `match(data)` holds.
  waitFor(kind, match, since) {
    return new Promise((resolve) => {
      const scan = () => {
        const found = this.events.slice(since).find((e) => e.kind === kind && match(e.data));
        if (!found) return;
        this.waiters.delete(scan);
        resolve(found);
      };
      this.waiters.add(scan);
      scan();
    });
  }
}

function describeEvent(event) {
  const { data } = event;
  const entry = { t: event.at - startedAt, name: event.name };
  for (const field of ['mediaType', 'state', 'newState', 'componentId']) {
    if (data && data[field] !== undefined) entry[field] = data[field];
  }
  if (data && data.candidate) entry.candidate = data.candidate.candidate;
  return entry;
}

// `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …`
function parseCandidate(text) {
  const fields = String(text).trim().replace(/^a=/, '').split(/\s+/);
  const typ = fields.indexOf('typ');
  return {
    text: String(text),
    transport: fields[2],
    address: fields[4],
    port: Number(fields[5]),
    type: typ > 0 ? fields[typ + 1] : undefined,
  };
}

function isLoopbackHost(candidate, port) {
  return candidate.address === LOOPBACK && candidate.type === 'host' && candidate.port === port;
}

function parseAnswer(sdp) {
  const lines = String(sdp).split(/\r?\n/);
  const audio = lines.find((l) => l.startsWith('m=audio '));
  return {
    audioPort: audio ? Number(audio.split(/\s+/)[1]) : NaN,
    candidates: lines.filter((l) => l.startsWith('a=candidate:')).map(parseCandidate),
  };
}

// One outgoing RTP stream: fixed SSRC and payload type, sequence numbers from a random start
// and a timestamp advancing by one packet interval of the codec's clock (RFC 3550 §5.1).
class RtpStream {
  constructor(payloadType, clockRate, avoidSsrc) {
    this.payloadType = payloadType;
    do {
      this.ssrc = crypto.randomBytes(4).readUInt32BE(0);
    } while (this.ssrc === 0 || this.ssrc === avoidSsrc);
    this.sequence = crypto.randomInt(0, 0x10000);
    this.timestamp = crypto.randomBytes(4).readUInt32BE(0);
    this.timestampStep = (clockRate * PACKET_INTERVAL_MS) / 1000;
  }

  next() {
    const packet = Buffer.alloc(12 + PAYLOAD_BYTES);
    packet[0] = 0x80; // version 2, no padding, no extension, no CSRC
    packet[1] = this.payloadType; // marker clear
    packet.writeUInt16BE(this.sequence, 2);
    packet.writeUInt32BE(this.timestamp, 4);
    packet.writeUInt32BE(this.ssrc, 8);
    crypto.randomFillSync(packet, 12); // nobody decodes the payload; noise defeats compression
    this.sequence = (this.sequence + 1) & 0xffff;
    this.timestamp = (this.timestamp + this.timestampStep) >>> 0;
    return packet;
  }
}

// RFC 7983 demultiplexing of what comes back on the peer's single (rtcp-mux) socket.
function classify(datagram) {
  const first = datagram[0];
  if (first <= 3) return 'stun';
  if (first >= 128 && first <= 191 && datagram.length >= 12) {
    const secondByte = datagram[1];
    return secondByte >= 192 && secondByte <= 223 ? 'rtcp' : 'rtp';
  }
  return 'other';
}

// The peer's UDP socket, counting what the endpoint sends back.
class Peer {
  constructor() {
    this.socket = dgram.createSocket('udp4');
    this.pending = 0;
    this.drained = null;
    this.firstFromEndpoint = null;
    this.endpointPort = null;
  }

  async bind() {
    this.socket.on('error', (e) => fail(`UDP socket error: ${e.stack || e}`));
    await new Promise((resolve) => this.socket.bind(0, LOOPBACK, resolve));
    this.socket.on('message', (datagram, from) => this.receive(datagram, from));
    return this.socket.address().port;
  }

  // Resolves on the first datagram from the endpoint's media port (set once known).
  expectFromEndpoint(port) {
    this.endpointPort = port;
    return new Promise((resolve) => {
      this.firstFromEndpoint = resolve;
      if (summary.received.fromEndpoint > 0) resolve();
    });
  }

  receive(datagram, from) {
    const r = summary.received;
    if (from.address !== LOOPBACK || from.port !== this.endpointPort) {
      r.fromElsewhere += 1;
      return;
    }
    r.fromEndpoint += 1;
    r.bytes += datagram.length;
    const kind = classify(datagram);
    r[kind] += 1;
    if (kind === 'rtp') {
      const pt = datagram[1] & 0x7f;
      r.rtpPayloadTypes[pt] = (r.rtpPayloadTypes[pt] || 0) + 1;
    }
    if (this.firstFromEndpoint) this.firstFromEndpoint();
  }

  // Counts a packet as sent only once the kernel took it.
  send(packet, address, port, media) {
    // The simulator's loopback ports are the only place this test may ever send to;
    // candidates with other addresses (documentation ranges) are skipped before this point.
    check(address === LOOPBACK, `refusing to send to ${address}`);
    this.pending += 1;
    this.socket.send(packet, port, address, (error) => {
      this.pending -= 1;
      if (error) {
        summary.sent.errors += 1;
      } else {
        summary.sent[media] += 1;
        summary.sent.bytes += packet.length;
      }
      if (this.pending === 0 && this.drained) this.drained();
    });
  }

  drain() {
    return new Promise((resolve) => {
      this.drained = resolve;
      if (this.pending === 0) resolve();
    });
  }

  close() {
    this.socket.close();
  }
}

// Polls `probe` until it returns a value other than undefined; `probe` throws to fail at once.
async function pollUntil(probe, ms, what) {
  const deadline = Date.now() + ms;
  let last = 'nothing yet';
  for (;;) {
    const outcome = await probe((detail) => {
      last = detail;
    });
    if (outcome !== undefined) return outcome;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, STATS_POLL_MS));
  }
}

function statsEntries(stats, type) {
  return Object.values(stats || {}).filter((s) => s && s.type === type);
}

// Polls getStats(mediaType) until its single inboundrtp entry counts every packet sent (KMS
// updates its counters asynchronously), then checks the entry describes the peer's stream.
async function readInbound(endpoint, mediaType, ssrc, sent) {
  const { entry, stats } = await pollUntil(async (note) => {
    const stats = await withTimeout(call(endpoint, 'getStats', mediaType), CALL_MS, `getStats(${mediaType})`);
    const entries = statsEntries(stats, 'inboundrtp');
    note(JSON.stringify(entries));
    check(entries.length <= 1, `getStats(${mediaType}) has ${entries.length} inboundrtp entries`);
    if (entries.length === 0) return undefined;
    const received = Number(entries[0].packetsReceived);
    check(received <= sent, `getStats(${mediaType}) counts ${received} packets received, only ${sent} were sent`);
    return received === sent ? { entry: entries[0], stats } : undefined;
  }, STATS_MS, `getStats(${mediaType}) inboundrtp packetsReceived = ${sent}`);
  check(Number(entry.bytesReceived) > 0, `${mediaType} inboundrtp bytesReceived = ${entry.bytesReceived}`);
  check(entry.ssrc === String(ssrc), `${mediaType} inboundrtp ssrc = ${entry.ssrc}, the peer sends ${ssrc}`);
  return {
    packetsReceived: Number(entry.packetsReceived),
    bytesReceived: Number(entry.bytesReceived),
    ssrc: entry.ssrc,
    // What KMS sent back to the peer (loopback), per outboundrtp entry.
    outboundPacketsSent: statsEntries(stats, 'outboundrtp').map((s) => Number(s.packetsSent)),
  };
}

async function main() {
  const log = new EventLog();
  const peer = new Peer();
  let client;
  let pipeline;
  let endpoint;

  await run('1 create and subscribe', async () => {
    client = await withTimeout(kurento(args.url, { failAfter: 1 }), CALL_MS, 'the WebSocket connection');
    pipeline = await withTimeout(call(client, 'create', 'MediaPipeline'), CALL_MS, 'create MediaPipeline');
    endpoint = await withTimeout(call(pipeline, 'create', 'WebRtcEndpoint'), CALL_MS, 'create WebRtcEndpoint');
    for (const [kind, name] of Object.entries(names)) log.listen(endpoint, kind, name);
    // kurento-client subscribes in the background and reports a refusal only as an uncaught
    // 'error'. The server answers one connection's requests in order, so once a later request
    // is answered every subscribe has been, and a refusal is blamed on this step.
    await withTimeout(call(endpoint, 'getName'), CALL_MS, 'a request after the subscribes');
  });

  await run('2 state before negotiation', async () => {
    const mediaState = await withTimeout(call(endpoint, 'getMediaState'), CALL_MS, 'getMediaState');
    check(mediaState === 'DISCONNECTED', `getMediaState = ${mediaState}, expected DISCONNECTED`);
    const flowingOut = await withTimeout(call(endpoint, 'isMediaFlowingOut', 'AUDIO'), CALL_MS, 'isMediaFlowingOut');
    check(flowingOut === false, `isMediaFlowingOut(AUDIO) = ${flowingOut}, expected false`);
    const ice = await withTimeout(call(endpoint, 'getIceConnectionState'), CALL_MS, 'getIceConnectionState');
    check(Array.isArray(ice) && ice.length === 0, `getIceConnectionState = ${JSON.stringify(ice)}, expected []`);
  });

  const endpointPort = await run('3 negotiate', async () => {
    const answer = await withTimeout(call(endpoint, 'processOffer', BROWSER_OFFER), CALL_MS, 'processOffer');
    const parsed = parseAnswer(answer);
    summary.answer = { audioPort: parsed.audioPort, candidates: parsed.candidates.map((c) => c.text) };
    check(Number.isInteger(parsed.audioPort) && parsed.audioPort > 0,
      `the answer's m=audio port is ${parsed.audioPort}:\n${answer}`);
    check(parsed.candidates.some((c) => isLoopbackHost(c, parsed.audioPort)),
      `the answer has no a=candidate "${LOOPBACK} ${parsed.audioPort} typ host":\n${answer}`);

    const again = await expectError(endpoint, 'processOffer', [BROWSER_OFFER], 40208, CALL_MS);
    summary.expectedErrors.secondOffer = { code: again.code, message: again.message };

    const fresh = await withTimeout(call(pipeline, 'create', 'WebRtcEndpoint'), CALL_MS, 'create a second WebRtcEndpoint');
    const garbage = await expectError(fresh, 'processOffer', ['garbage'], 40201, CALL_MS);
    summary.expectedErrors.garbageOffer = { code: garbage.code, message: garbage.message };
    await withTimeout(call(fresh, 'release'), CALL_MS, 'release the second WebRtcEndpoint');
    return parsed.audioPort;
  });

  await run('4 gather candidates', async () => {
    const since = log.mark();
    const done = log.waitFor('gatheringDone', () => true, since);
    await withTimeout(call(endpoint, 'gatherCandidates'), CALL_MS, 'gatherCandidates');
    const doneEvent = await withTimeout(done, GATHER_MS, names.gatheringDone);
    const found = log.events.slice(since, log.events.indexOf(doneEvent))
      .filter((e) => e.kind === 'candidate')
      .map((e) => parseCandidate(e.data.candidate && e.data.candidate.candidate));
    summary.candidates.found = found.length;
    // Only loopback candidates may be used: srflx/relay ones carry documentation addresses
    // (203.0.113.x, 198.51.100.x) that must never receive a packet from this machine.
    for (const c of found) {
      (c.address === LOOPBACK ? summary.candidates.used : summary.candidates.skipped).push(c.text);
    }
    check(found.some((c) => isLoopbackHost(c, endpointPort)),
      `no ${names.candidate} "${LOOPBACK} ${endpointPort} typ host" before ${names.gatheringDone}; ` +
      `got ${JSON.stringify(found.map((c) => c.text))}`);
    check(found.filter((c) => c.address === LOOPBACK).every((c) => c.port === endpointPort),
      `loopback candidates on other ports than ${endpointPort}: ${JSON.stringify(summary.candidates.used)}`);
  });

  await run('5 announce the peer', async () => {
    const port = await peer.bind();
    summary.peer = { address: LOOPBACK, port };
    const IceCandidate = kurento.getComplexType('IceCandidate');
    const candidate = IceCandidate({
      candidate: `candidate:1 1 udp 2122260223 ${LOOPBACK} ${port} typ host generation 0`,
      sdpMid: '0',
      sdpMLineIndex: 0,
    });
    await withTimeout(call(endpoint, 'addIceCandidate', candidate), CALL_MS, 'addIceCandidate');
  });

  await run('6 loopback connect', async () => {
    await withTimeout(call(endpoint, 'connect', endpoint), CALL_MS, 'connect(endpoint, endpoint)');
  });

  const audio = new RtpStream(111, 48000);
  const video = new RtpStream(96, 90000, audio.ssrc);
  summary.ssrc = { audio: audio.ssrc, video: video.ssrc };

  const sendingSince = log.mark();
  let ticker = null;
  await run('7+8 send media until it flows both ways', async () => {
    const backFromEndpoint = peer.expectFromEndpoint(endpointPort);
    let ticks = 0;
    let enoughSent;
    const minimumSent = new Promise((resolve) => {
      enoughSent = resolve;
    });
    ticker = setInterval(() => {
      peer.send(audio.next(), LOOPBACK, endpointPort, 'audio');
      peer.send(video.next(), LOOPBACK, endpointPort, 'video');
      ticks += 1;
      if (ticks === MIN_PACKETS) enoughSent();
    }, PACKET_INTERVAL_MS);

    const flowing = (media) => (d) => d.state === 'FLOWING' && d.mediaType === media;
    const expectations = [
      [`${names.flowOut} FLOWING AUDIO`, log.waitFor('flowOut', flowing('AUDIO'), sendingSince)],
      [`${names.flowOut} FLOWING VIDEO`, log.waitFor('flowOut', flowing('VIDEO'), sendingSince)],
      // ICE may complete as soon as the peer's candidate is known, before the first packet.
      [`${names.iceState} CONNECTED or READY`,
        log.waitFor('iceState', (d) => d.state === 'CONNECTED' || d.state === 'READY', 0)],
      [`${names.mediaState} CONNECTED`, log.waitFor('mediaState', (d) => d.newState === 'CONNECTED', sendingSince)],
      [`${names.flowIn} FLOWING (loopback)`, log.waitFor('flowIn', (d) => d.state === 'FLOWING', sendingSince)],
      [`a datagram from ${LOOPBACK}:${endpointPort}`, backFromEndpoint],
      [`${MIN_PACKETS} packets per media`, minimumSent],
    ];
    const missing = new Set(expectations.map(([what]) => what));
    const all = Promise.all(expectations.map(([what, p]) => p.then(() => missing.delete(what))));
    await withTimeout(all, MEDIA_MS, 'media to flow').catch((e) => {
      throw new Error(`${e.message}; still missing: ${[...missing].join(', ')}`);
    });
  });

  const stoppedAt = await run('9 stop and read stats', async () => {
    clearInterval(ticker);
    await withTimeout(peer.drain(), DRAIN_MS, 'the last datagrams to leave the socket');
    const stopped = { at: Date.now(), mark: log.mark() };
    check(summary.sent.errors === 0, `${summary.sent.errors} datagrams could not be sent`);

    const inbound = (mediaType, stream, sent) => readInbound(endpoint, mediaType, stream.ssrc, sent);
    summary.stats = {
      audio: await inbound('AUDIO', audio, summary.sent.audio),
      video: await inbound('VIDEO', video, summary.sent.video),
    };
    const sentBack = [...summary.stats.audio.outboundPacketsSent, ...summary.stats.video.outboundPacketsSent];
    check(sentBack.some((n) => n > 0), `no outboundrtp entry with packetsSent > 0 (loopback): ${JSON.stringify(sentBack)}`);
    return stopped;
  });

  await run('10 silence', async () => {
    const since = stoppedAt.mark;
    const notFlowing = (media) => (d) => d.state === 'NOT_FLOWING' && d.mediaType === media;
    const expectations = {
      notFlowingAudio: [`${names.flowOut} NOT_FLOWING AUDIO`, log.waitFor('flowOut', notFlowing('AUDIO'), since)],
      notFlowingVideo: [`${names.flowOut} NOT_FLOWING VIDEO`, log.waitFor('flowOut', notFlowing('VIDEO'), since)],
      disconnected: [`${names.mediaState} DISCONNECTED`, log.waitFor('mediaState', (d) => d.newState === 'DISCONNECTED', since)],
      iceFailed: [`${names.iceState} FAILED`, log.waitFor('iceState', (d) => d.state === 'FAILED', since)],
    };
    const missing = new Set(Object.values(expectations).map(([what]) => what));
    summary.silence = {};
    const all = Promise.all(Object.entries(expectations).map(([key, [what, p]]) => p.then((event) => {
      missing.delete(what);
      summary.silence[`${key}AfterMs`] = event.at - stoppedAt.at;
    })));
    // The deadline counts from the last packet, not from the end of the stats polling.
    const left = SILENCE_MS - (Date.now() - stoppedAt.at);
    await withTimeout(all, Math.max(left, 0), 'the endpoint to notice the silence').catch((e) => {
      throw new Error(`${e.message}; still missing: ${[...missing].join(', ')}`);
    });
  });

  await run('11 release and close', async () => {
    await withTimeout(call(pipeline, 'release'), CALL_MS, 'release the pipeline');
    peer.close();
    client.close();
  });

  console.log('OK peer session');
  console.log(JSON.stringify(summary));
  process.exit(0);
}

// kurento-client reports a failed subscribe by emitting 'error' on the object, which nobody can
// listen to (MediaObject refuses listeners for unknown event names), so it surfaces here.
process.on('uncaughtException', (e) => fail(`uncaught: ${e && e.stack ? e.stack : String(e)}`));

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
