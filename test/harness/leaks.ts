// What a test needs to prove that clean-up left nothing behind: the processes of a process tree
// (identified by pid and start time, so a reused pid is not mistaken for a survivor), the network
// namespaces of given process ids (netns.ts names them `jfo-<pid>-...`), and the entries of a
// temporary directory.
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcessEntry {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  start: number;
  cmd: string;
}

function entry(pid: number): ProcessEntry | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return { pid, ppid: Number(fields[1]), start: Number(fields[19]), cmd };
  } catch {
    return undefined; // ended while we looked
  }
}

/** Every process now running, by pid. */
export function processTable(): Map<number, ProcessEntry> {
  const out = new Map<number, ProcessEntry>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const e = entry(Number(name));
    if (e) out.set(e.pid, e);
  }
  return out;
}

/** `root` and all its descendants now running. */
export function processTree(root: number): ProcessEntry[] {
  const table = processTable();
  const out: ProcessEntry[] = [];
  const walk = (pid: number) => {
    const e = table.get(pid);
    if (!e) return;
    out.push(e);
    for (const c of table.values()) if (c.ppid === pid) walk(c.pid);
  };
  walk(root);
  return out;
}

/** The entries of `seen` that still run (same pid and start time), wherever they are now. */
export function survivors(seen: Iterable<ProcessEntry>): ProcessEntry[] {
  const out: ProcessEntry[] = [];
  for (const s of seen) {
    const now = entry(s.pid);
    if (now && now.start === s.start) out.push(now);
  }
  return out;
}

const key = (e: ProcessEntry) => `${e.pid}/${e.start}`;

/**
 * Remembers every process of a tree across several looks (children come and go), except those
 * of `baseline` (what ran before).
 */
export class TreeRecorder {
  private readonly seen = new Map<string, ProcessEntry>();
  private readonly ignored: Set<string>;
  constructor(
    private readonly root: number,
    baseline: ProcessEntry[] = [],
  ) {
    this.ignored = new Set(baseline.map(key));
  }
  look(): ProcessEntry[] {
    const tree = processTree(this.root).filter((e) => !this.ignored.has(key(e)));
    for (const e of tree) this.seen.set(key(e), e);
    return tree;
  }
  all(): ProcessEntry[] {
    return [...this.seen.values()];
  }
}

/** Network namespaces named after any of these process ids. */
export function namespacesOf(pids: Iterable<number>): string[] {
  let names: string[];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return [];
  }
  const wanted = new Set([...pids].map((p) => `jfo-${p}-`));
  return names.filter((n) => [...wanted].some((w) => n.startsWith(w)));
}
