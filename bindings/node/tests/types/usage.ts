// Typed usage of the binding: `tsc --noEmit -p tests/types` (make test-node)
// checks index.d.ts against the ways the README and the tests use it.
import { Telepathine, TelepathineError, asJSON, abiVersion, Reply } from '../..';
import T = require('../..');

const seed = new Telepathine(0, [], { preset: 'local', cluster: 'types' }).start();
// The reference library's options.
new Telepathine(9000, [], { gossipIntervalMS: 2500, heartBeatIntervalMS: 2500, udp: false, emitValueOnHeartBeat: true,
  addressMap: { '10.0.0.1:9000': '203.0.113.7:9000' } }).close();
const peer = new T.Telepathine(0, [':9000', '127.0.0.1:9001'], { transportMode: 'tcp', gossipIntervalMs: 50 })
  .after(1000, function () {
    this.set('somekey', 'somevalue');
    this.set('somekey2', 'somevalue', Date.now() + 10000);
    this.set('doc', { nested: [1, 2, 3] }, new Date());
    this.set('bytes', Buffer.from([1, 2]));
    this.set('json', asJSON('a string as JSON'));
  })
  .start(function (p) {
    const name: string = p.peer_name;
    console.log(name, this.port, this.address);
  });

peer.on('set', function (owner, key, value, expiresAt) {
  const o: string = owner;
  const k: string = key;
  const at: number = expiresAt;
  console.log(this.peer_name, o, k, value, at);
});
peer.on('peer:stop', (name) => console.log(name.toUpperCase()));
peer.on('say:**', function (data: unknown, from: string) {
  console.log(this.event, data, from);
});
peer.know('*', function (owner, value) {
  console.log(this.event, owner, value);
});
peer.hear('question', function (data, from, reply) {
  if (reply) reply({ answer: 42, to: from });
});
peer.hearOnce('once', (data) => console.log(data));
peer.say('eventname', 'eventdata');
peer.say('later', { x: 1 }, 5000, true);
peer.say('reply');

async function flow(): Promise<void> {
  await peer.started();
  const replies: Reply[] = await peer.ask('question', null, 1000);
  for (const r of replies) console.log(r.peer, r.value);
  const keys: string[] = peer.getRemoteKeys(seed.peer_name);
  const v = peer.getRemote(seed.peer_name, keys[0]);
  const deleted: boolean = peer.delete('somekey');
  const live: string[] = peer.livePeers();
  const all: string[] = peer.allPeers().concat(peer.deadPeers());
  const info = peer.peerInfo()[0];
  const gen: bigint = info.generation;
  const dropped: number = peer.stats().eventsDropped;
  const authDrops: number | undefined = peer.stats().drops['malformed'];
  const next = Buffer.alloc(32, 7);
  peer.installKey(next).useKey(next).setPlaintext({ accept: true, send: false });
  const ring: Buffer[] = peer.clusterKeys();
  peer.removeKey(ring[ring.length - 1]);
  const secure = new Telepathine(0, [], { keys: [next], networkKey: 'pass', acceptPlaintext: true, sendPlaintext: false, stateDir: '/tmp/tp' });
  secure.close();
  // Identity mode: the options are Config's fields (identityKeyFile, identityKey, allowKeys, tofu).
  const signed = new Telepathine(0, [], { identityKey: new Uint8Array(32).fill(1), tofu: true, allowKeys: '', identityKeyFile: '' });
  signed.close();
  console.log(authDrops);
  console.log(v, deleted, live, all, gen, dropped, abiVersion().major, peer.info().cluster);
  try {
    peer.set('', 'x');
  } catch (e) {
    if (e instanceof TelepathineError) console.log(e.code, e.status);
  }
  peer.stop();
  await peer.stopped();
  peer.close();
  seed.stop().close();
}
void flow;
