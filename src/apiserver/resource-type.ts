// What the server knows about a resource: its names, scope, subresources and the parts of its
// registry strategy podlb needs. builtinResources (resources.ts) lists them.
import type { FieldError } from './errors.js';
import type { PatchSchema } from './patch.js';
import type { NameRule } from './validation.js';

// biome-ignore lint/suspicious/noExplicitAny: the stand-in stores objects of every kind, CRDs included; only the run-time schema checks know their shape
export type Obj = Record<string, any>;

/** Services the store gives the strategies (cluster IP and node port allocation). */
export interface StrategyContext {
  allocateClusterIP(family: 'IPv4' | 'IPv6'): string;
  /** The next nodePort of the range after the last one handed out, skipping `taken`; undefined when every one is taken. */
  nextNodePort(taken: ReadonlySet<number>): number | undefined;
  /** The stored objects of a resource (by plural), as they are before this write. */
  stored(plural: string): Iterable<Obj>;
  now(): Date;
}

export interface ResourceType {
  group: string; // '' for core
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Has a /status subresource (status strategy: main resource ignores .status, /status changes only .status). */
  statusSubresource: boolean;
  /** Served by a CustomResourceDefinition: no strategic merge patch, PUT needs resourceVersion, list items keep apiVersion/kind. */
  custom: boolean;
  /** Sets metadata.generation and bumps it when anything but metadata and status changes. */
  generation: boolean;
  nameRule: NameRule;
  patch: PatchSchema;
  /** Field labels beyond metadata.name and metadata.namespace. */
  fieldLabels?: (o: Obj) => Record<string, string>;
  /** The DELETE response: the object (true) or a Status Success (false). */
  returnDeletedObject: boolean;
  /** Defaults applied on every write of the main resource (and of /status for the status part). */
  defaults?: (o: Obj) => void;
  /** PrepareForCreate: what the strategy clears or sets on create. */
  prepareForCreate?: (o: Obj, ctx: StrategyContext) => void;
  /** PrepareForUpdate of the main resource, after .status was restored from the old object. */
  prepareForUpdate?: (o: Obj, old: Obj, ctx: StrategyContext) => void;
  validate?: (o: Obj) => FieldError[];
  validateUpdate?: (o: Obj, old: Obj) => FieldError[];
  validateStatus?: (o: Obj, old: Obj) => FieldError[];
  /** Validation of every write (create, update, /status), with the stored object on update: a CRD schema's. */
  validateWrite?: (o: Obj, old: Obj | undefined) => FieldError[];
  /** Graceful deletion period for a DELETE without gracePeriodSeconds; undefined = not graceful. */
  gracePeriod?: (o: Obj, requested: number | undefined) => number | undefined;
}

export const apiVersionOf = (rt: ResourceType): string => (rt.group === '' ? rt.version : `${rt.group}/${rt.version}`);

export const noPatch: PatchSchema = { mergeKeys: {}, primitiveMerge: new Set() };
const metaPatch = { 'metadata.ownerReferences': 'uid', 'metadata.managedFields': 'manager' };
const metaPrimitive = ['metadata.finalizers'];
export const patchSchema = (keys: Record<string, string>, prim: string[] = []): PatchSchema => ({
  mergeKeys: { ...metaPatch, ...keys },
  primitiveMerge: new Set([...metaPrimitive, ...prim]),
});

export const str = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
