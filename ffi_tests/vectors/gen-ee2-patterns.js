// Generates pattern-matching vectors from EventEmitter2 (wildcard, ':').
const { EventEmitter2 } = require('eventemitter2');
const patterns = ["set","set:k","set:*","set:**","*","**","*:*","*:**","**:*","peer:*","say:chat:*","say:*:hello",
  "say:**:hello","**:expired","a:**:c","a:**","**:x","x:**","say:a:b","key:expired","start","delete:*"];
const names = ["set","set:k","set:a:b","start","peer:new","peer:stop","say:chat","say:chat:hello","say:hello",
  "say:a:b:c:hello","say:a:b:c:bye","key:expired","a","a:b","a:b:c","x","x:y","delete:k","say:a:b","a:"];
const out = [];
for (const p of patterns) for (const n of names) {
  const e = new EventEmitter2({ wildcard: true, delimiter: ':' });
  let hit = false;
  e.on(p, () => { hit = true; });
  e.emit(n);
  out.push({ pattern: p, name: n, match: hit });
}
process.stdout.write(JSON.stringify({ generator: "eventemitter2@6.4.9 {wildcard:true, delimiter:':'}", vectors: out }, null, 1) + "\n");
