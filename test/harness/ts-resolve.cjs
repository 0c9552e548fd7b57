// Jest's globalSetup/globalTeardown are loaded without moduleNameMapper, so the NodeNext-style
// imports of the TypeScript sources ("./x.js" for "./x.ts") would not resolve. This maps a
// missing relative "*.js" to the "*.ts" beside it. Test files themselves use moduleNameMapper.
const Module = require('node:module');
const { existsSync } = require('node:fs');
const { resolve, dirname } = require('node:path');

const original = Module._resolveFilename;
if (!original.__jfoPatched) {
  Module._resolveFilename = function (request, parent, ...rest) {
    if (request.startsWith('.') && request.endsWith('.js') && parent && parent.filename) {
      const js = resolve(dirname(parent.filename), request);
      const ts = js.slice(0, -3) + '.ts';
      if (!existsSync(js) && existsSync(ts)) return original.call(this, ts, parent, ...rest);
    }
    return original.call(this, request, parent, ...rest);
  };
  Module._resolveFilename.__jfoPatched = true;
}
