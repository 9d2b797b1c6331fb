// What `podlb version` and `kubectl podlb version` print: the package version and the commit
// and date the build recorded in dist/src/build-info.json (src/build/write-build-info.ts, run
// by `npm run build`). Built outside git (a Docker build without .git and without the build
// args) or compiled by plain `tsc`, commit and date are "unknown" rather than invented.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';

export interface VersionInfo {
  version: string;
  gitCommit: string;
  /** "clean", "dirty" (uncommitted changes at build time) or "unknown". */
  gitTreeState: string;
  /** The commit's date (ISO 8601), so that two builds of one commit say the same. */
  buildDate: string;
  nodeVersion: string;
  platform: string;
}

function readJson(url: URL): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function text(v: unknown): string {
  return typeof v === 'string' && v !== '' ? v : 'unknown';
}

export function versionInfo(): VersionInfo {
  // Compiled this file is dist/src/version.js; under vitest it is src/version.ts.
  const pkg = readJson(new URL('../../package.json', import.meta.url)) ?? readJson(new URL('../package.json', import.meta.url));
  const build = readJson(new URL('./build-info.json', import.meta.url)) ?? {};
  return {
    version: text(pkg?.version),
    gitCommit: text(build.gitCommit),
    gitTreeState: text(build.gitTreeState),
    buildDate: text(build.buildDate),
    nodeVersion: process.version,
    platform: `${process.platform}/${process.arch}`,
  };
}

/** `-o json|yaml` print the whole object (kubectl's `version -o json` shape: under clientVersion); otherwise one line. */
export function renderVersion(program: string, output: string | undefined, info: VersionInfo = versionInfo()): string {
  if (output === 'json') return `${JSON.stringify({ clientVersion: info }, null, 2)}\n`;
  if (output === 'yaml') return stringify({ clientVersion: info });
  return `${program} version ${info.version} (commit ${info.gitCommit}${info.gitTreeState === 'dirty' ? '-dirty' : ''}, built ${info.buildDate}, node ${info.nodeVersion} ${info.platform})\n`;
}
