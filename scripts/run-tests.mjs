#!/usr/bin/env node
// `npm test`: set up what is missing (scripts/setup.sh), then type-check, lint, the import-cycle
// check, build, and every test suite (jest: unit, integration against the real control plane,
// e2e; pytest: the Python spawner on JupyterHub 6 and on JupyterHub 5). Runs all of them even when one fails and ends with one plain
// line "N passed, N failed" that counts individual tests, where type-check, lint, the cycle check
// and build count as one test each. Uses node's built-in modules only: it runs before
// node_modules exists.
//
// Arguments are passed to jest (e.g. `npm test -- test/unit/names.test.ts`); with arguments, the
// static checks and pytest are skipped.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const focused = args.length > 0;
const artifacts = join(root, 'test-artifacts');
mkdirSync(artifacts, { recursive: true });

let passed = 0;
let failed = 0;
const failures = [];

function run(cmd, argv, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    const forward = (sig) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
    child.on('error', (err) => {
      console.error(`${cmd}: ${err.message}`);
      resolve(127);
    });
  });
}

async function check(name, cmd, argv) {
  console.log(`\n=== ${name} ===`);
  const code = await run(cmd, argv);
  if (code === 0) passed++;
  else {
    failed++;
    failures.push(name);
  }
}

const bin = (name) => join(root, 'node_modules', '.bin', name);

if ((await run('bash', [join(root, 'scripts', 'setup.sh')])) !== 0) {
  console.log('\nSet-up failed (scripts/setup.sh); no test ran.\n\n0 passed, 1 failed');
  process.exit(1);
}

if (!focused) {
  await check('typecheck (tsc --noEmit)', bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
  await check('lint (eslint)', bin('eslint'), ['.']);
  await check('format (prettier --check)', bin('prettier'), ['--check', '.']);
  await check('no import cycles in src/', process.execPath, [
    join(root, 'scripts', 'check-cycles.mjs'),
  ]);
}
// The build is needed by tests that start `node dist/cli.js` as a separate process.
await check('build (tsc)', bin('tsc'), ['-p', 'tsconfig.build.json']);

console.log('\n=== jest ===');
const jestJson = join(artifacts, 'jest-results.json');
const jestCode = await run(
  process.execPath,
  [bin('jest'), '--json', `--outputFile=${jestJson}`, '--maxWorkers=2', ...args],
  { NODE_OPTIONS: '--max-old-space-size=4096' },
);
if (existsSync(jestJson)) {
  const r = JSON.parse(readFileSync(jestJson, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  // A suite that failed to run (syntax error, failing beforeAll) has no failed tests of its own.
  const broken = r.testResults.filter(
    (t) => t.status === 'failed' && t.assertionResults.length === 0,
  );
  failed += broken.length;
  for (const t of r.testResults) {
    for (const a of t.assertionResults) if (a.status === 'failed') failures.push(a.fullName);
  }
  for (const t of broken) failures.push(`suite did not run: ${t.name}`);
} else if (jestCode !== 0) {
  failed++;
  failures.push('jest did not produce results');
}

if (!focused && existsSync(join(root, 'spawner', 'pyproject.toml'))) {
  const venvPython = join(root, '.venv', 'bin', 'python');
  const python = existsSync(venvPython) ? venvPython : 'python3';
  await check('lint (ruff, spawner)', python, ['-m', 'ruff', 'check', 'spawner']);
  await check('format (ruff format --check, spawner)', python, [
    '-m',
    'ruff',
    'format',
    '--check',
    'spawner',
  ]);
  // The spawner's suite runs on both supported JupyterHub majors: 6 in .venv, 5 in .venv-jh5.
  const suites = [['JupyterHub 6', python, 'pytest-junit.xml']];
  const jh5 = join(root, '.venv-jh5', 'bin', 'python');
  if (existsSync(jh5)) suites.push(['JupyterHub 5', jh5, 'pytest-junit-jh5.xml']);
  else {
    failed++;
    failures.push('pytest (spawner, JupyterHub 5): .venv-jh5 is missing (scripts/setup.sh)');
  }
  for (const [hub, py, file] of suites) {
    console.log(`\n=== pytest (spawner, ${hub}) ===`);
    const junit = join(artifacts, file);
    const code = await run(py, ['-m', 'pytest', '-q', 'spawner/tests', `--junitxml=${junit}`]);
    if (existsSync(junit)) {
      const xml = readFileSync(junit, 'utf8');
      const attr = (n) =>
        Number((xml.match(new RegExp(`<testsuite [^>]*\\b${n}="(\\d+)"`)) ?? [])[1] ?? 0);
      const total = attr('tests');
      const bad = attr('failures') + attr('errors');
      const skipped = attr('skipped');
      passed += total - bad - skipped;
      failed += bad;
      if (bad) failures.push(`pytest (${hub}): ${bad} failed (see ${junit})`);
    } else if (code !== 0) {
      failed++;
      failures.push(`pytest (${hub}) did not produce results`);
    }
  }
}

if (failures.length) {
  console.log('\nFailed:');
  for (const f of failures) console.log(`  - ${f}`);
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
