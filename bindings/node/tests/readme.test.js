'use strict';
// The README's Node example runs as written (require('telepathine') resolved
// to this package) and exits by itself once its peers are stopped.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const readme = path.resolve(__dirname, '..', '..', '..', 'README.md');

test("the README's Node example", () => {
  const text = fs.readFileSync(readme, 'utf8');
  const section = text.slice(text.indexOf('\n## Node\n'));
  const m = /```js\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'a js block in the Node section');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tp-readme-'));
  try {
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(path.resolve(__dirname, '..'), path.join(dir, 'node_modules', 'telepathine'));
    fs.writeFileSync(path.join(dir, 'example.js'), m[1]);
    const r = spawnSync(process.execPath, [path.join(dir, 'example.js')], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, `exit ${r.status} ${r.signal}\n${r.stderr}`);
    assert.match(r.stdout, /b heard chat:hello from 127\.0\.0\.1:\d+: \[ 1, 2, 3 \]/);
    assert.match(r.stdout, /a knows 127\.0\.0\.1:\d+ set color=blue/);
    assert.match(r.stdout, /replies: \[ \{ peer: '127\.0\.0\.1:\d+', value: 'I am 127\.0\.0\.1:\d+' \} \]/);
    assert.match(r.stdout, /b reads a's info: \{ cpus: 8 \}/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
