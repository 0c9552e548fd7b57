import { formatTimestamp, ingestEvent, sanitiseHtml } from '../../src/facade/event-ingest.js';
import { HttpError } from '../../src/facade/errors.js';

const now = new Date(2025, 0, 21, 10, 11, 12, 345); // local time, like the reference
const ts = '2025-01-21 10:11:12.345';

describe('formatTimestamp', () => {
  it('is strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] in local time', () => {
    expect(formatTimestamp(now)).toBe(ts);
    expect(formatTimestamp(new Date(2025, 11, 3, 4, 5, 6, 7))).toBe('2025-12-03 04:05:06.007');
  });
});

describe('ingestEvent', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    [
      'the OpenAPI example: <details><summary> gets the timestamp',
      {
        failed: false,
        progress: 50,
        html_message:
          '<details><summary>Server is still starting up</summary>The last status was: PENDING</details>',
      },
      {
        failed: false,
        progress: 50,
        html_message: `<details><summary>${ts}: Server is still starting up</summary>The last status was: PENDING</details>`,
      },
    ],
    [
      'message starting with <details><summary> becomes a timestamped html_message',
      { message: '<details><summary>Queued</summary>job 7</details>' },
      {
        message: '<details><summary>Queued</summary>job 7</details>',
        html_message: `<details><summary>${ts}: Queued</summary>job 7</details>`,
      },
    ],
    [
      'plain message is copied to html_message without timestamp',
      { progress: 10, message: 'Waiting' },
      { progress: 10, message: 'Waiting', html_message: 'Waiting' },
    ],
    [
      'other html_message is kept without timestamp',
      { html_message: '<b>Hi</b>', message: 'x' },
      { html_message: '<b>Hi</b>', message: 'x' },
    ],
    ['failed alone', { failed: false }, { failed: false, html_message: '' }],
    [
      'unknown keys and ready are dropped, progress rounded',
      { progress: 33.6, ready: true, raw_event: { a: 1 }, message: 'm' },
      { progress: 34, message: 'm', html_message: 'm' },
    ],
    [
      'nulls count as absent',
      { progress: null, message: 'm', html_message: null, failed: null },
      { message: 'm', html_message: 'm' },
    ],
    [
      'text that looks like markup is escaped, not executed',
      { message: 'a < b & <script>alert(1)</script>' },
      { message: 'a < b & <script>alert(1)</script>', html_message: 'a &lt; b &amp; ' },
    ],
  ])('%s', (_name, body, stored) => {
    expect(ingestEvent(body, now).event).toEqual(stored);
  });

  it.each<[string, string]>([
    [
      '<details><summary>S</summary><script>alert(1)</script>x</details>',
      `<details><summary>${ts}: S</summary>x</details>`,
    ],
    ['<img src=x onerror="alert(1)">ok', 'ok'],
    ['<a href="javascript:alert(1)">l</a>', '<a>l</a>'],
    ['<a href="https://example.org/logs">logs</a>', '<a href="https://example.org/logs">logs</a>'],
    [
      '<details open><summary style="color: red; background: url(x)">E</summary><pre>a\nb</pre></details>',
      '<details open><summary style="color:red">E</summary><pre>a\nb</pre></details>',
    ],
    ['<iframe src="https://evil"></iframe><style>body{}</style>t', 't'],
    ['<div onclick="x()">d</div>', '<div>d</div>'],
    // Reverse tabnabbing: a link opening another tab gets no handle on the spawn page.
    [
      '<a href="https://example.org" target="_blank">l</a>',
      '<a href="https://example.org" target="_blank" rel="noopener noreferrer">l</a>',
    ],
    [
      '<a href="https://example.org" target="_blank" rel="opener">l</a>',
      '<a href="https://example.org" target="_blank" rel="noopener noreferrer">l</a>',
    ],
    // CSS: allow-listed properties with allow-listed values only.
    ['<span style="color:expression(alert(1))">a</span>', '<span>a</span>'],
    ['<span style="cursor:none">a</span>', '<span>a</span>'],
    ['<span style="color: \\65 xpression(alert(1))">a</span>', '<span>a</span>'],
    ['<div style="background-color: url(https://evil/x.png)">a</div>', '<div>a</div>'],
    ['<p style="position: fixed; top: 0; width: 100%">a</p>', '<p>a</p>'],
    [
      '<summary style="color: red; font-weight: bold; cursor: pointer;">O3</summary>',
      '<summary style="color:red;font-weight:bold;cursor:pointer">O3</summary>',
    ],
  ])('sanitises %s', (html, expected) => {
    expect(ingestEvent({ html_message: html }, now).event.html_message).toBe(expected);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['empty event', {}, /none of progress/],
    ['only unknown keys', { foo: 1 }, /none of progress/],
    ['failed as a string', { failed: 'false' }, /failed must be a boolean/],
    ['failed as a number', { failed: 1 }, /failed must be a boolean/],
    ['progress above 100', { progress: 101 }, /progress must be/],
    ['progress as a string', { progress: '50' }, /progress must be a number/],
    ['message too long', { message: 'x'.repeat(8193) }, /message must be at most/],
    [
      'html growing past the limit when escaped',
      { html_message: '&'.repeat(32768) },
      /once sanitised/,
    ],
  ])('refuses %s with 400', (_name, body, message) => {
    let err: unknown;
    try {
      ingestEvent(body, now);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).statusCode).toBe(400);
    expect((err as HttpError).message).toMatch(message);
  });

  it('reports failed: true', () => {
    expect(ingestEvent({ failed: true, message: 'Cancelled' }, now).failed).toBe(true);
    expect(ingestEvent({ failed: false, message: 'x' }, now).failed).toBe(false);
  });

  it('keeps <details><summary> intact through the sanitiser', () => {
    expect(sanitiseHtml('<details><summary>a</summary>b</details>')).toBe(
      '<details><summary>a</summary>b</details>',
    );
  });
});
