// Preload for measuring a component's memory per thread under a benchmark (NODE_OPTIONS=--require
// this file; Node runs preloads in worker threads too). Every 2 s each thread writes
// $JFO_HEAP_STATS_DIR/<pid>-<threadId>.json: V8's heap statistics and heap spaces of that thread
// (and process.memoryUsage() from the main thread). When the file $JFO_HEAP_STATS_DIR/gc exists,
// each thread collects its garbage once (a full GC) and writes <pid>-<threadId>.gc.json, the same
// statistics after it: the live part of the heap. When $JFO_HEAP_STATS_DIR/snapshot exists, each
// thread writes one heap snapshot, <pid>-<threadId>.heapsnapshot, then a <pid>-<threadId>.done
// marker. Bench-only: never loaded by the product.
const v8 = require('node:v8');
const { existsSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const vm = require('node:vm');
const { isMainThread, threadId } = require('node:worker_threads');

const dir = process.env.JFO_HEAP_STATS_DIR;
if (dir) {
  const base = join(dir, `${process.pid}-${threadId}`);
  let snapshotted = false;
  let collected = false;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const write = () => {
    const stats = {
      pid: process.pid,
      threadId,
      isMainThread,
      at: Date.now(),
      heap: v8.getHeapStatistics(),
      spaces: Object.fromEntries(
        v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]),
      ),
      memoryUsage: isMainThread ? process.memoryUsage() : undefined,
    };
    writeFileSync(`${base}.tmp`, JSON.stringify(stats));
    renameSync(`${base}.tmp`, `${base}.json`);
    if (!collected && existsSync(join(dir, 'gc'))) {
      collected = true;
      gc();
      const after = { ...stats, at: Date.now(), heap: v8.getHeapStatistics() };
      after.memoryUsage = isMainThread ? process.memoryUsage() : undefined;
      writeFileSync(`${base}.tmp`, JSON.stringify(after));
      renameSync(`${base}.tmp`, `${base}.gc.json`);
    }
    if (!snapshotted && existsSync(join(dir, 'snapshot'))) {
      snapshotted = true;
      v8.writeHeapSnapshot(`${base}.heapsnapshot`);
      writeFileSync(`${base}.done`, '');
    }
  };
  setInterval(write, 2000).unref();
}
