// Turns a posted progress event into the event stored in ForwardedServer status. Pure (the time
// is passed in).
//
// Kept from the reference: the `<details><summary>` timestamp rule and the `html_message`
// fallback to `message`. Not kept: unsanitised HTML (an allow-list keeps `<details><summary>` and
// simple formatting, drops scripts, handlers and javascript: links, allows a few CSS properties
// with allow-listed values only, and gives every link with a `target` rel="noopener noreferrer"),
// truthiness of `failed` (it must be a boolean) and arbitrary keys (only the four fields
// JupyterHub's page reads are stored; `ready` is dropped as JupyterHub's SSE handler drops it).
import sanitizeHtml from 'sanitize-html';
import type { ProgressEvent } from '../api/types.js';
import { badRequest } from './errors.js';

/** Limits of the CRD's event fields. */
export const MAX_MESSAGE = 8192;
export const MAX_HTML_MESSAGE = 32768;

const DETAILS_SUMMARY = '<details><summary>';

// CSS: an allow-list of properties, each with an allow-list of whole values. Nothing else
// survives: no url(), expression(), var(), escapes, `cursor: none` (hides the pointer), no
// positioning or sizing (overlays that cover the page).
const COLOR = [
  /^#[0-9a-f]{3,8}$/i,
  /^[a-z]{3,20}$/i,
  /^rgba?\(\s*\d{1,3}%?\s*,\s*\d{1,3}%?\s*,\s*\d{1,3}%?\s*(,\s*(0|1|0?\.\d+))?\s*\)$/i,
];
const STYLES: Record<string, RegExp[]> = {
  color: COLOR,
  'background-color': COLOR,
  'font-weight': [/^(normal|bold|bolder|lighter|[1-9]00)$/i],
  'font-style': [/^(normal|italic|oblique)$/i],
  'text-decoration': [/^(none|underline|overline|line-through)$/i],
  cursor: [/^(auto|default|pointer|text|help)$/i],
};

/** A link that opens another browsing context cannot reach back to the spawn page. */
const SAFE_LINK: sanitizeHtml.Transformer = (tagName, attribs) => {
  const out = { ...attribs };
  if (out.target !== undefined) out.rel = 'noopener noreferrer';
  else delete out.rel;
  return { tagName, attribs: out };
};

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: [...sanitizeHtml.defaults.allowedTags, 'details', 'summary'],
  allowedAttributes: {
    a: ['href', 'title', 'target', 'rel'],
    details: ['open'],
    summary: ['style'],
    span: ['style'],
    div: ['style'],
    p: ['style'],
  },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowProtocolRelative: false,
  allowedStyles: { '*': STYLES },
  transformTags: { a: SAFE_LINK },
  disallowedTagsMode: 'discard',
};

/** The allow-list sanitiser applied to every stored `html_message`. */
export function sanitiseHtml(html: string): string {
  return sanitizeHtml(html, SANITIZE);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]`: local time, milliseconds. */
export function formatTimestamp(d: Date): string {
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${date} ${time}.${pad(d.getMilliseconds(), 3)}`;
}

export interface IngestedEvent {
  event: ProgressEvent;
  failed: boolean;
}

function optional<T>(body: Record<string, unknown>, key: string, type: string): T | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== type) throw badRequest(`${key} must be a ${type}`);
  return v as T;
}

function readFields(body: Record<string, unknown>): ProgressEvent {
  const progress = optional<number>(body, 'progress', 'number');
  if (progress !== undefined && !(progress >= 0 && progress <= 100))
    throw badRequest('progress must be a number from 0 to 100');
  const message = optional<string>(body, 'message', 'string');
  if (message !== undefined && message.length > MAX_MESSAGE)
    throw badRequest(`message must be at most ${MAX_MESSAGE} characters`);
  const html = optional<string>(body, 'html_message', 'string');
  const failed = optional<boolean>(body, 'failed', 'boolean');
  const event: ProgressEvent = {};
  if (progress !== undefined) event.progress = Math.round(progress);
  if (message !== undefined) event.message = message;
  if (html !== undefined) event.html_message = html;
  if (failed !== undefined) event.failed = failed;
  return event;
}

/**
 * Validates, timestamps and sanitises one posted event. Throws a 400 HttpError for a body that
 * carries nothing to show (the reference's `if not event`) or a field of the wrong type.
 */
export function ingestEvent(body: Record<string, unknown>, now: Date): IngestedEvent {
  const event = readFields(body);
  if (Object.keys(event).length === 0)
    throw badRequest('Bad Request: the event has none of progress, message, html_message, failed');
  const m = event.html_message ?? event.message ?? '';
  let html: string;
  if (m.startsWith(DETAILS_SUMMARY))
    html = `${DETAILS_SUMMARY}${formatTimestamp(now)}: ${m.slice(DETAILS_SUMMARY.length)}`;
  else html = event.html_message ? event.html_message : (event.message ?? '');
  event.html_message = sanitiseHtml(html);
  if (event.html_message.length > MAX_HTML_MESSAGE)
    throw badRequest(`html_message must be at most ${MAX_HTML_MESSAGE} characters once sanitised`);
  return { event, failed: event.failed === true };
}
