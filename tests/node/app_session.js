// A typical application session, run by the real kurento-client (7.3.0 or 6.18.0) against a KMS
// URL. Usage: node app_session.js ws://127.0.0.1:PORT/kurento [--client 6|7] [--dialect 6|7]
// (the dialect, 6.x or 7.x KMS, defaults to the client's major; it picks the event names).
// Exits 0 when every step succeeded; otherwise prints the failing step and exits 1.
'use strict';

const { BROWSER_OFFER, check, eventNames, loadClient, parseArgs, withTimeout } = require('./common');

const USAGE = 'node app_session.js <ws-url> [--client 6|7] [--dialect 6|7]';
const args = parseArgs(process.argv.slice(2), USAGE);
const { kurento, version } = loadClient(args.client);
const url = args.url;
const events = eventNames(args.client, args.dialect);

let step = 'start';

function fail(reason) {
  console.error(`FAILED at step "${step}": ${reason}`);
  process.exit(1);
}

// The promise form of getPipelines never settles on error (docs/kms-protocol.md §16); use the callback form.
function getPipelines(serverManager) {
  return new Promise((resolve, reject) => {
    serverManager.getPipelines((error, pipelines) => (error ? reject(error) : resolve(pipelines)));
  });
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
  // A 6.x KMS emits every WebRTC event under its legacy name and its new name: a legacy
  // application listens to the former, and the new name must arrive as well.
  const candidateEvents = [...new Set([events.candidate, 'IceCandidateFound'])];
  const candidatesFound = candidateEvents.map((name) => withTimeout(
    new Promise((resolve) => caller.once(name, resolve)), 5000, name));
  await caller.gatherCandidates();
  for (const event of await Promise.all(candidatesFound)) {
    check(event.candidate && /typ /.test(event.candidate.candidate),
      `candidate event without a candidate: ${JSON.stringify(event)}`);
  }

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
  console.log(`OK kurento-client session completed (kurento-client ${version}, ` +
    `dialect ${args.dialect}, ${candidateEvents.join(' + ')})`);
  process.exit(0);
}

// kurento-client reports a failed subscribe by emitting 'error' on the object, which nobody can
// listen to (MediaObject refuses listeners for unknown event names), so it surfaces here.
process.on('uncaughtException', (e) => fail(`uncaught: ${e && e.stack ? e.stack : String(e)}`));

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
