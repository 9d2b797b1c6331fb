// The two pieces of undici the API client uses, Agent and request, loaded without undici's
// index: the index also loads fetch, WebSocket, EventSource, the cache and mock dispatchers,
// zlib, web streams and worker_threads, 14 MB of RSS in a per-node agent that never uses them.
// `request` is what the index's `request` does (undici/index.js makeDispatcher): the dispatcher
// from the options, else the global one, and the URL split into origin and path. These paths
// are undici's own layout (the package has no `exports` map); client.test.ts and every suite
// that talks to an API server run through them, so a release that moves them fails there.
import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';

const require = createRequire(import.meta.url);

type RequestFn = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof UndiciAgent;
const apiRequest = require('undici/lib/api/api-request.js') as RequestFn;
const { getGlobalDispatcher } = require('undici/lib/global.js') as { getGlobalDispatcher(): Dispatcher };

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher?: Dispatcher };

export function request(url: URL, opts: RequestOptions): Promise<Dispatcher.ResponseData> {
  const { dispatcher = getGlobalDispatcher(), ...rest } = opts;
  return apiRequest.call(dispatcher, { ...rest, origin: url.origin, path: `${url.pathname}${url.search}` });
}
