#!/usr/bin/env node
// The one entry point of the image: `jupyterhub-forward-operator <command>`. Each command's
// module exports `main(argv): Promise<void>`: it parses its configuration once from the
// environment (an invalid one rejects: exit 1 here) and hands the rest of the process's life to
// runComponent (runtime/component.ts). An unknown command exits 2.
const COMMANDS: Record<
  string,
  { summary: string; load: () => Promise<{ main(argv: string[]): Promise<void> }> }
> = {
  operator: {
    summary: 'run the controllers for ForwardedServer and JumpNode',
    load: () => import('./operator/main.js'),
  },
  runner: {
    summary: 'hold the SSH forwards of one JumpNode (runs in the tunnel-runner pods)',
    load: () => import('./runner/main.js'),
  },
  facade: {
    summary: 'serve the hub-compatible HTTP API over the custom resources',
    load: () => import('./facade/main.js'),
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: jupyterhub-forward-operator <command>\n\nCommands:\n${lines.join('\n')}\n\nSettings are environment variables; see README.md.\n`;
}

async function run(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`Unknown command "${name}".\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  const mod = await command.load();
  await mod.main(rest);
}

run(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', message: 'Failed to start', error: err instanceof Error ? err.message : String(err) })}\n`,
  );
  process.exit(1);
});
