import { createLineLogger, createLogger, errorMessage } from '../../src/log.js';

describe('createLineLogger', () => {
  it('writes one JSON object per line: default fields, fields, level, message, timestamp', () => {
    const lines: string[] = [];
    const log = createLineLogger('info', { component: 'runner' }, (l) => lines.push(l));
    log.info('Connected to JumpNode', { name: 'hpc', port: 22 });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toEqual({
      component: 'runner',
      name: 'hpc',
      port: 22,
      level: 'info',
      message: 'Connected to JumpNode',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
  });

  it('drops lines below its level', () => {
    const lines: string[] = [];
    const log = createLineLogger('warn', {}, (l) => lines.push(l));
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(lines.map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(['warn', 'error']);
  });

  it('never throws on fields JSON cannot hold: cycles, bigints, errors', () => {
    const lines: string[] = [];
    const log = createLineLogger('info', {}, (l) => lines.push(l));
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    log.info('Odd fields', { cyclic, big: 10n ** 20n, err: new Error('boom') });
    expect(JSON.parse(lines[0]!)).toMatchObject({
      cyclic: { a: 1, self: '[Circular]' },
      big: '100000000000000000000',
      err: { message: 'boom', name: 'Error' },
    });
  });
});

describe('createLogger', () => {
  it('flush() resolves, also when called twice', async () => {
    const log = createLogger('error');
    const first = log.flush();
    await expect(first).resolves.toBeUndefined();
    await expect(log.flush()).resolves.toBeUndefined();
  });
});

it('errorMessage takes the message of an Error and the text of anything else', () => {
  expect(errorMessage(new Error('x'))).toBe('x');
  expect(errorMessage('plain')).toBe('plain');
  expect(errorMessage(42)).toBe('42');
});
