'use strict';
// The CommonJS entry: `require('ja-bert')` gives the same module as `import`, through Node's
// require() of ES modules (Node 20.19 and later; ja-bert's engines field asks for it). One module
// either way, so classes, errors and the engine thread are shared by code that mixes the two.
try {
  module.exports = require('../dist/src/index.js');
} catch (e) {
  if (e && e.code === 'ERR_REQUIRE_ESM') {
    throw new Error(`ja-bert: require('ja-bert') needs Node 20.19 or later (this is ${process.version}); upgrade Node, or use import`);
  }
  throw e;
}
