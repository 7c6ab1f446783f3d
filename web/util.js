// util.js — owns the page's small shared helpers with no state of their own: element lookup and
// creation, time/size formatting, the clip/motion distinction, and a tiny event bus through which the
// modules call each other without importing in a circle (timeline → "select-clip", api → "unauthorized"…).

export const SVGNS = 'http://www.w3.org/2000/svg';
export const SEC = 1e9;

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : String(v));
  e.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return e;
}

export const pad = (n, w = 2) => String(n).padStart(w, '0');
export function clock(epochMs, ms = false) {
  const d = new Date(epochMs);
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return ms ? `${hms}.${pad(d.getMilliseconds(), 3)}` : hms;
}
export const dateFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 60_000) return `${(ms / 1000).toFixed(3)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor(s / 60) % 60)} min`;
}
export function fmtSpan(ns) {
  const s = ns / SEC;
  return s < 60 ? `${Math.round(s)} s` : s < 3600 ? `${Math.round(s / 60)} min` : `${+(s / 3600).toFixed(1)} h`;
}
export function fmtBytes(b) {
  if (b === null || b === undefined) return '—';
  const i = Math.max(0, Math.min(4, Math.floor(Math.log10(Math.max(1, b)) / 3)));
  return `${i === 0 ? b : (b / 1000 ** i).toFixed(1)} ${['B', 'kB', 'MB', 'GB', 'TB'][i]}`;
}
/** "850 ms ago", "12.3 s ago", "3 min 04 s ago". */
export function fmtAge(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms ago` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s ago` : `${fmtDuration(ms)} ago`;
}
/** The pill class of an ingest state. */
export function stateClass(state) {
  return state === 'running' ? 'ok' : state === 'failed' || state === 'stalled' || state === 'degraded' ? 'bad' : state === 'disabled' ? '' : 'warn';
}
/** Motion events are the clips the motion pipeline makes (labelled so). */
export const isMotion = (c) => /motion/i.test(c.label || '');

// ---------------------------------------------------------------- the bus
const handlers = new Map();
/** Registers `fn` for the named call (see the modules' `emit`s). */
export function on(name, fn) {
  handlers.set(name, [...(handlers.get(name) ?? []), fn]);
}
export function emit(name, ...args) {
  for (const fn of handlers.get(name) ?? []) fn(...args);
}
