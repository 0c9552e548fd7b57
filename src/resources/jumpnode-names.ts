// Names by which remote systems designate a JumpNode: its name and its aliases. Two JumpNodes of
// a namespace that share one (a name that is another's alias, or a common alias) make that name
// ambiguous: the facade refuses requests naming it (400), and the operator reports the
// collision on both JumpNodes (condition NamesUnique=False). Pure.
import type { JumpNode } from '../api/types.js';

export function namesOf(jn: JumpNode): string[] {
  return [jn.metadata.name, ...(jn.spec.aliases ?? [])];
}

/** The names `jn` shares with other JumpNodes of its namespace, each with who shares it. */
export function nameCollisions(jn: JumpNode, all: readonly JumpNode[]): string[] {
  const mine = new Set(namesOf(jn));
  const out: string[] = [];
  for (const other of all) {
    if (other.metadata.name === jn.metadata.name) continue;
    if (other.metadata.namespace !== jn.metadata.namespace) continue;
    for (const n of namesOf(other))
      if (mine.has(n)) out.push(`"${n}" also designates JumpNode ${other.metadata.name}`);
  }
  return out.sort();
}
