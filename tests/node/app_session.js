// A typical application session, run by the real kurento-client@7.3.0 against a KMS URL.
// Usage: node app_session.js ws://127.0.0.1:PORT/kurento
// Exits 0 when every step succeeded; otherwise prints the failing step and exits 1.
'use strict';

const kurento = require('kurento-client');

const url = process.argv[2];
if (!url) {
  console.error('usage: node app_session.js <ws-url>');
  process.exit(2);
}

// A Chrome-style offer: bundled audio (opus) and video (VP8/H264), trickle ICE.
const BROWSER_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS 6a1c5c7f-2d0f-4c1e-9f59-1b7e2f0d9c11',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:4ZcD',
  'a=ice-pwd:2/1muCWoOi3uLifh0NuRHlDr',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:09',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=sendrecv',
  'a=msid:6a1c5c7f-2d0f-4c1e-9f59-1b7e2f0d9c11 0d0f5f5e-7d1c-4a5e-a2c1-5c0f1c1a9a01',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=ssrc:3391742210 cname:Q3k1b2FkZWxpbmU=',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:4ZcD',
  'a=ice-pwd:2/1muCWoOi3uLifh0NuRHlDr',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:09',
  'a=setup:actpass',
  'a=mid:1',
  'a=sendrecv',
  'a=msid:6a1c5c7f-2d0f-4c1e-9f59-1b7e2f0d9c11 9b1e0f0a-3c3d-4b7e-8f0e-3b2a1c0d9e02',
  'a=rtcp-mux',
  'a=rtcp-rsize',
  'a=rtpmap:96 VP8/90000',
  'a=rtcp-fb:96 goog-remb',
  'a=rtcp-fb:96 transport-cc',
  'a=rtcp-fb:96 ccm fir',
  'a=rtcp-fb:96 nack',
  'a=rtcp-fb:96 nack pli',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  'a=rtpmap:103 rtx/90000',
  'a=fmtp:103 apt=102',
  'a=ssrc-group:FID 938697880 1293847561',
  'a=ssrc:938697880 cname:Q3k1b2FkZWxpbmU=',
  'a=ssrc:1293847561 cname:Q3k1b2FkZWxpbmU=',
  '',
].join('\r\n');

let step = 'start';

function fail(reason) {
  console.error(`FAILED at step "${step}": ${reason}`);
  process.exit(1);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// The promise form of getPipelines never settles on error (protocol §6); use the callback form.
function getPipelines(serverManager) {
  return new Promise((resolve, reject) => {
    serverManager.getPipelines((error, pipelines) => (error ? reject(error) : resolve(pipelines)));
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  step = 'connect';
  const client = await kurento(url, { failAfter: 1 });

  step = 'getServerManager';
  const serverManager = await client.getServerManager();

  step = 'getInfo';
  const info = await serverManager.getInfo();
  const modules = info.modules.map((m) => m.name);
  for (const name of ['core', 'elements', 'filters']) {
    check(modules.includes(name), `getInfo modules lack ${name}: ${modules}`);
  }

  step = 'create MediaPipeline';
  const pipeline = await client.create('MediaPipeline');

  step = 'create WebRtcEndpoints';
  const caller = await pipeline.create('WebRtcEndpoint');
  const callee = await pipeline.create('WebRtcEndpoint');
  check(caller.id.startsWith(pipeline.id + '/'), `child id ${caller.id} does not nest under ${pipeline.id}`);

  step = 'connect';
  await caller.connect(callee);

  step = 'getSinkConnections';
  const sinks = await caller.getSinkConnections();
  check(sinks.length > 0, 'no sink connections after connect');
  check(sinks.every((c) => c.source === caller.id || (c.source && c.source.id === caller.id)),
    `unexpected connection data ${JSON.stringify(sinks)}`);

  step = 'processOffer';
  const answer = await caller.processOffer(BROWSER_OFFER);
  check(/^v=0/.test(answer) && answer.includes('m=video'), `implausible SDP answer: ${answer}`);

  step = 'gatherCandidates';
  const candidateFound = new Promise((resolve) => caller.once('IceCandidateFound', resolve));
  await caller.gatherCandidates();
  const event = await withTimeout(candidateFound, 5000, 'IceCandidateFound');
  check(event.candidate && /typ /.test(event.candidate.candidate),
    `IceCandidateFound without a candidate: ${JSON.stringify(event)}`);

  step = 'getChildren';
  const children = await pipeline.getChildren();
  check(children.length === 2, `expected 2 children, got ${children.length}`);

  step = 'getStats';
  const stats = await caller.getStats('VIDEO');
  check(stats === null || typeof stats === 'object', `getStats returned ${typeof stats}`);
  const entries = stats ? Object.values(stats) : [];
  check(entries.some((s) => s.type === 'inboundrtp'), `no inboundrtp entry in ${JSON.stringify(stats)}`);

  step = 'getMediaState';
  const mediaState = await caller.getMediaState();
  check(['CONNECTED', 'DISCONNECTED'].includes(mediaState), `media state ${mediaState}`);

  step = 'isMediaFlowingIn';
  const flowing = await caller.isMediaFlowingIn('VIDEO');
  check(typeof flowing === 'boolean', `isMediaFlowingIn returned ${flowing}`);

  step = 'getPipelines';
  const pipelines = await withTimeout(getPipelines(serverManager), 5000, 'getPipelines');
  check(pipelines.some((p) => p.id === pipeline.id), 'our pipeline is missing from getPipelines');

  step = 'release';
  await pipeline.release();

  step = 'call on released object';
  // Callback form: it reports the server's error as is.
  const error = await withTimeout(
    new Promise((resolve) => callee.getName((e) => resolve(e || null))),
    5000,
    'getName on a released object',
  );
  check(error !== null, 'a call on a released object succeeded');
  check(error.code === 40101, `expected error 40101, got ${error.code}: ${error.message}`);

  step = 'close';
  client.close();
  console.log('OK kurento-client session completed');
  process.exit(0);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
