// Build stage of the Dockerfile: rewrites every .js/.cjs/.mjs file under the given directory
// without comments and whitespace, keeping license comments. A parse and print with no
// compression and no renaming, so the code is the same code; a file uglify-js cannot parse stays
// as it is. Generated API clients are mostly doc comments: client-node 1.x goes from 21 to 6 MB.
//   node images/strip-comments.cjs node_modules
'use strict';
const { readdirSync, readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
// handlebars' optional dependency, so present wherever `npm ci` ran with optional dependencies.
const { minify } = require('uglify-js');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node images/strip-comments.cjs DIR');
  process.exit(2);
}
let before = 0;
let after = 0;
const kept = [];
for (const rel of readdirSync(dir, { recursive: true })) {
  if (!/\.(c|m)?js$/.test(rel)) continue;
  const file = join(dir, rel);
  const src = readFileSync(file, 'utf8');
  const out = minify(src, { compress: false, mangle: false, module: rel.endsWith('.mjs'), output: { comments: 'some', shebang: true } });
  if (out.error) {
    kept.push(rel);
    continue;
  }
  before += src.length;
  after += out.code.length;
  writeFileSync(file, out.code);
}
console.log(`strip-comments: ${dir} ${(before / 1e6).toFixed(1)} MB -> ${(after / 1e6).toFixed(1)} MB; ${kept.length} files kept as they were (uglify-js cannot parse them)`);
