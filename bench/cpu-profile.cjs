// Preload for profiling a component under a benchmark (NODE_OPTIONS=--require this file; Node
// does not allow --cpu-prof there): profiles from start until SIGUSR2, then writes
// $JFO_CPU_PROFILE_DIR/<pid>.cpuprofile (open it in Chrome DevTools or summarise it with
// bench/cpu-summary.mjs). Bench-only: never loaded by the product.
const { Session } = require('node:inspector');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.JFO_CPU_PROFILE_DIR || '.';
const session = new Session();
session.connect();
session.post('Profiler.setSamplingInterval', { interval: 1000 });
session.post('Profiler.enable', () => session.post('Profiler.start'));
process.on('SIGUSR2', () => {
  session.post('Profiler.stop', (err, res) => {
    if (!err) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    session.post('Profiler.start');
  });
});
