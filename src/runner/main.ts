// Placeholder until the runner command lands (see its issue); exits with an error so that nothing
// mistakes it for a working component.
export async function main(_argv: string[]): Promise<void> {
  throw new Error('the runner command is not implemented yet');
}
