// One refused BGP session must not hold back the rest of bird.conf. BIRD checks a whole file
// and refuses all of it for one bad protocol (`neighbor ::` is "Neighbor must be configured"),
// so without this one BGPPeer froze every later change on every node it selects: a rejected
// pool stayed advertised, a deleted Pod's /32 too. Here the session BIRD refuses is found (the
// line of BIRD's error inside a protocol block, else by bisecting the sessions with
// `configure check`), left out, and the rest applied. A fault outside the sessions (prefixes,
// the router id) cannot be isolated this way: the caller keeps the running config, as before.
import type { BirdApplyResult } from './bird-apply.js';
import type { BirdModel } from './model.js';
import type { BirdPeerModel } from './peers.js';

/** A session left out of bird.conf because BIRD refused it. */
export interface RefusedPeer {
  readonly peer: string;
  readonly protocol: string;
  /** The session's rendered block: while it renders the same, it is left out without asking BIRD again. */
  readonly block: string;
  /** BIRD's message, without the file name and position (they are of a temporary candidate). */
  readonly error: string;
}

export type CheckResult = { ok: true } | { ok: false; error: string; transient?: boolean };

export interface IsolateDeps {
  render: (model: BirdModel) => string;
  /** check + configure; the outcome decides whether to look for a culprit. */
  apply: (text: string) => Promise<BirdApplyResult>;
  /** `configure check` only, for bisecting. */
  check: (text: string) => Promise<CheckResult>;
  /** Sessions refused before, by protocol name. */
  refused: ReadonlyMap<string, RefusedPeer>;
}

export interface IsolateResult {
  res: BirdApplyResult;
  /** The model of the text last tried (what BIRD runs when res is not Failed). */
  model: BirdModel;
  leftOut: RefusedPeer[];
}

const PROTOCOL_START = /^protocol bgp ([A-Za-z_][A-Za-z0-9_]*) \{$/;

/** Each BGP protocol block of a rendered bird.conf: name → 1-based first and last line, and its text. */
export function bgpBlocks(text: string): Map<string, { first: number; last: number; text: string }> {
  const lines = text.split('\n');
  const out = new Map<string, { first: number; last: number; text: string }>();
  for (let i = 0; i < lines.length; i++) {
    const m = PROTOCOL_START.exec(lines[i]!);
    if (!m) continue;
    // The templates close a protocol with `}` at column 0 and nest nothing else there.
    let j = i + 1;
    while (j < lines.length && lines[j] !== '}') j++;
    out.set(m[1]!, { first: i + 1, last: j + 1, text: lines.slice(i, j + 1).join('\n') });
  }
  return out;
}

/** BIRD's `file:line:col message` → line and message; undefined for any other shape. */
export function birdErrorPosition(error: string | undefined): { line: number; message: string } | undefined {
  const m = error === undefined ? null : /:(\d+):\d+ (.*)$/s.exec(error);
  return m ? { line: Number(m[1]), message: m[2]!.trim() } : undefined;
}

function protocolAtLine(text: string, line: number): string | undefined {
  for (const [name, b] of bgpBlocks(text)) if (line >= b.first && line <= b.last) return name;
  return undefined;
}

const without = (model: BirdModel, protocols: ReadonlySet<string>): BirdModel => ({ ...model, peers: model.peers.filter((p) => !protocols.has(p.protocol)) });

/**
 * The first session whose addition makes BIRD refuse the config: a binary search over prefixes
 * of the sorted sessions, O(log n) checks. Undefined when the config without any session is
 * refused too (the fault is elsewhere) or BIRD could not be asked.
 */
async function bisect(model: BirdModel, deps: IsolateDeps): Promise<BirdPeerModel | undefined> {
  const peers = model.peers;
  const accepts = async (k: number): Promise<boolean | undefined> => {
    const r = await deps.check(deps.render({ ...model, peers: peers.slice(0, k) }));
    return r.ok ? true : r.transient ? undefined : false;
  };
  if ((await accepts(0)) !== true) return undefined;
  let lo = 0;
  let hi = peers.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const ok = await accepts(mid);
    if (ok === undefined) return undefined;
    if (ok) lo = mid;
    else hi = mid;
  }
  return peers[hi - 1];
}

/** Applies `model`, leaving out each session BIRD refuses (known ones without asking again). */
export async function applyIsolating(model: BirdModel, deps: IsolateDeps): Promise<IsolateResult> {
  const leftOut: RefusedPeer[] = [];
  const blocks = bgpBlocks(deps.render(model));
  for (const p of model.peers) {
    const known = deps.refused.get(p.protocol);
    if (known && known.block === blocks.get(p.protocol)?.text) leftOut.push({ ...known, peer: p.peer });
  }
  let current = without(model, new Set(leftOut.map((r) => r.protocol)));
  for (;;) {
    const text = deps.render(current);
    const res = await deps.apply(text);
    if (res.result !== 'Failed' || res.transient || current.peers.length === 0) return { res, model: current, leftOut };
    const pos = birdErrorPosition(res.error);
    const byLine = pos ? protocolAtLine(text, pos.line) : undefined;
    const culprit = current.peers.find((p) => p.protocol === byLine) ?? (await bisect(current, deps));
    if (!culprit) return { res, model: current, leftOut };
    const block = bgpBlocks(text).get(culprit.protocol)?.text ?? '';
    // Found by bisecting, BIRD's message may be about a line outside the block: it is still what BIRD said.
    leftOut.push({ peer: culprit.peer, protocol: culprit.protocol, block, error: pos?.message ?? res.error ?? 'refused by BIRD' });
    current = without(current, new Set([culprit.protocol]));
  }
}
