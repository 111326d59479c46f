// Shared by app_session.js and peer_session.js: command line, client choice, event names per
// KMS dialect, the browser's SDP offer and small promise helpers.
'use strict';

const Module = require('module');
const path = require('path');

// Both majors are installed side by side (package.json aliases 6.18.0 as kurento-client-6), so
// one checkout can test the simulator against the client generations applications really use.
const CLIENT_PACKAGES = { 6: 'kurento-client-6', 7: 'kurento-client' };

// Logical event -> [7.x name, 6.x legacy name]. A 6.x KMS emits both names; a 7.x KMS only the
// first and answers 40106 to a subscribe for the second, and the 7.3 client refuses legacy names
// outright. `null`: no legacy twin exists, so a legacy-speaking application does not listen to it.
const EVENT_NAMES = {
  flowOut: ['MediaFlowOutStateChanged', 'MediaFlowOutStateChange'],
  flowIn: ['MediaFlowInStateChanged', 'MediaFlowInStateChange'],
  iceState: ['IceComponentStateChanged', 'OnIceComponentStateChanged'],
  candidate: ['IceCandidateFound', 'OnIceCandidate'],
  gatheringDone: ['IceGatheringDone', 'OnIceGatheringDone'],
  pairSelected: ['NewCandidatePairSelected', null],
  mediaState: ['MediaStateChanged', 'MediaStateChanged'],
};

// A Chrome-style offer: bundled audio (opus PT 111) and video (VP8 PT 96, H264), both sendrecv,
// trickle ICE (no candidates in the SDP).
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

// `<ws-url> [--client 6|7] [--dialect 6|7]`; the dialect defaults to the client's major, which
// is what an application deployed against a matching KMS would assume.
function parseArgs(argv, usage) {
  const args = { url: null, client: '7', dialect: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--client' || arg === '--dialect') {
      const value = argv[++i];
      if (value !== '6' && value !== '7') usageError(usage, `${arg} must be 6 or 7, got ${value}`);
      args[arg.slice(2)] = value;
    } else if (!arg.startsWith('--') && args.url === null) {
      args.url = arg;
    } else {
      usageError(usage, `unexpected argument ${arg}`);
    }
  }
  if (!args.url) usageError(usage, 'missing <ws-url>');
  args.dialect = args.dialect || args.client;
  return args;
}

function usageError(usage, message) {
  console.error(`${message}\nusage: ${usage}`);
  process.exit(2);
}

// The kurento-client module of the chosen major, and its exact version for the reports.
function loadClient(major) {
  const name = CLIENT_PACKAGES[major];
  if (name !== 'kurento-client') pinOwnLibrary(name);
  const loaded = { kurento: require(name), version: require(`${name}/package.json`).version };
  const strays = Object.keys(require.cache).filter((file) => foreignClientFile(file, name));
  check(strays.length === 0, `${name} loaded another kurento-client's files: ${strays.slice(0, 3)}`);
  return loaded;
}

// kurento-client-core, -elements and -filters call require('kurento-client') by its real name
// (an undeclared peer dependency). Under the npm alias that name resolves to the hoisted 7.3.0
// package, so the 6.18 classes would run on the 7.3 library (its Transaction class, a second
// registry, all the 7.3 modules loaded beside them). Point the real name at the alias for
// requests made from inside the alias's own tree, which is what a plain 6.18 install resolves.
function pinOwnLibrary(alias) {
  const root = path.dirname(require.resolve(`${alias}/package.json`)) + path.sep;
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function resolveFilename(request, parent, ...rest) {
    const fromAlias = parent && typeof parent.filename === 'string' && parent.filename.startsWith(root);
    return resolve.call(this, fromAlias && request === 'kurento-client' ? alias : request, parent, ...rest);
  };
}

// A file of the other client generation: the hoisted 7.3.0 packages (kurento-client, its
// -core/-elements/-filters and kurento-jsonrpc) sit at the top of node_modules, an alias keeps
// all of its own packages inside its folder.
function foreignClientFile(file, name) {
  const parts = file.split(path.sep);
  const top = parts[parts.indexOf('node_modules') + 1];
  if (!top || !top.startsWith('kurento-') || top === name) return false;
  return name !== 'kurento-client' || Object.values(CLIENT_PACKAGES).includes(top);
}

// Event names an application would subscribe to: the legacy ones only where both sides speak
// them (a 6.x client against a 6.x KMS); the new names everywhere else.
function eventNames(client, dialect) {
  const legacy = client === '6' && dialect === '6';
  const names = {};
  for (const [kind, [current, old]] of Object.entries(EVENT_NAMES)) {
    names[kind] = legacy ? old : current;
  }
  return names;
}

// Calls `object.method(...args, callback)` and settles with the server's answer. The promise
// form of kurento-client's getters resolves `undefined` (or never settles) on a server error,
// so every call here goes through the callback, which reports errors as they are.
function call(object, method, ...args) {
  return new Promise((resolve, reject) => {
    object[method](...args, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

// Resolves with the error `object.method(...args)` fails with; rejects if the call succeeds,
// fails with another code or does not answer within `ms`.
async function expectError(object, method, args, code, ms) {
  let result;
  try {
    result = await withTimeout(call(object, method, ...args), ms, `${method} to fail with ${code}`);
  } catch (e) {
    if (e instanceof TimeoutError) throw e;
    check(e && e.code === code, `expected ${method} to fail with ${code}, got ${e && e.code}: ${e && e.message}`);
    return e;
  }
  throw new Error(`expected ${method} to fail with ${code}, it returned ${JSON.stringify(result)}`);
}

class TimeoutError extends Error {}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

module.exports = {
  BROWSER_OFFER,
  EVENT_NAMES,
  call,
  check,
  eventNames,
  expectError,
  loadClient,
  parseArgs,
  withTimeout,
};
