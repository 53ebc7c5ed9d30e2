'use strict';
// The Go matcher (engine/internal/bus) is held to EventEmitter2's behaviour by shared
// vectors: ffi_tests/vectors/gen-ee2-patterns.js, run with the eventemitter2
// this package installs, must reproduce engine/internal/bus/testdata/ee2_patterns.json
// exactly. (The binding itself matches with that same eventemitter2.)
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const repo = path.resolve(__dirname, '..', '..', '..');
const pkg = path.resolve(__dirname, '..');

test('gen-ee2-patterns.js with the installed eventemitter2 reproduces ee2_patterns.json', () => {
  const out = execFileSync(process.execPath, [path.join(repo, 'ffi_tests', 'vectors', 'gen-ee2-patterns.js')], {
    env: { ...process.env, NODE_PATH: path.join(pkg, 'node_modules') },
    encoding: 'utf8',
  });
  const committed = fs.readFileSync(path.join(repo, 'engine', 'internal', 'bus', 'testdata', 'ee2_patterns.json'), 'utf8');
  assert.equal(out, committed);
  const installed = require('eventemitter2/package.json').version;
  assert.match(JSON.parse(committed).generator, new RegExp(`eventemitter2@${installed.replace(/\./g, '\\.')} `));
});

test('a peer matches patterns as the vectors say', async () => {
  const { Telepathine } = require('..');
  const { vectors } = JSON.parse(fs.readFileSync(path.join(repo, 'engine', 'internal', 'bus', 'testdata', 'ee2_patterns.json'), 'utf8'));
  const p = new Telepathine(0, [], { preset: 'local' });
  try {
    for (const v of vectors) {
      const listener = () => {};
      p.on(v.pattern, listener);
      assert.equal(p.listeners(v.name).includes(listener), v.match, `${v.pattern} vs ${v.name}`);
      p.off(v.pattern, listener);
    }
  } finally {
    p.close();
  }
});
