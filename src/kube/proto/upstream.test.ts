// The schema against bytes Kubernetes itself wrote (testdata/README.md): each upstream .pb,
// decoded with the agent's minimal schema and with the in-process server's fuller one, equals
// the upstream JSON of the same object cut down to the fields that schema names. The cut is
// made here from the schema's field names alone, not by podlb's decoder.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { decodeObject, encodeObject } from './envelope.js';
import { clientSchema, type ProtoSchema, serverSchema } from './schema.js';

const LEAVES = new Set([
  '.k8s.io.apimachinery.pkg.apis.meta.v1.Time',
  '.k8s.io.apimachinery.pkg.util.intstr.IntOrString',
  '.k8s.io.apimachinery.pkg.api.resource.Quantity',
]);

type Json = Record<string, unknown>;

function project(type: protobuf.Type, json: Json): Json {
  const out: Json = {};
  for (const f of type.fieldsArray) {
    if (!(f.name in json)) continue;
    const v = json[f.name];
    const rt = f.resolvedType;
    if (f.map || !(rt instanceof protobuf.Type) || LEAVES.has(rt.fullName)) out[f.name] = v;
    else if (f.repeated) out[f.name] = (v as Json[]).map((x) => project(rt, x));
    else out[f.name] = project(rt, v as Json);
  }
  return out;
}

const fixture = (name: string, ext: string) => readFileSync(new URL(`./testdata/${name}.${ext}`, import.meta.url));

describe.each([
  ['the agent', clientSchema],
  ['the in-process server', serverSchema],
] as [string, ProtoSchema][])('upstream 1.32 bytes with %s’s schema', (_, schema) => {
  it.each([
    ['core.v1.Pod', 'v1', 'Pod'],
    ['core.v1.Service', 'v1', 'Service'],
    ['core.v1.Node', 'v1', 'Node'],
    ['discovery.k8s.io.v1.EndpointSlice', 'discovery.k8s.io/v1', 'EndpointSlice'],
  ])('%s decodes to its JSON', (name, apiVersion, kind) => {
    const json = JSON.parse(fixture(name, 'json').toString()) as Json;
    const decoded = decodeObject(schema, new Uint8Array(fixture(name, 'pb')));
    expect(decoded.apiVersion).toBe(apiVersion);
    expect(decoded.kind).toBe(kind);
    const { apiVersion: _a, kind: _k, ...body } = decoded;
    expect(body).toEqual(project(schema.typeOf(apiVersion, kind)!, json));
  });
});

describe('the in-process server’s encoder on the upstream objects', () => {
  it.each([
    ['core.v1.Pod', 'v1', 'Pod'],
    ['core.v1.Service', 'v1', 'Service'],
    ['core.v1.Node', 'v1', 'Node'],
    ['discovery.k8s.io.v1.EndpointSlice', 'discovery.k8s.io/v1', 'EndpointSlice'],
  ])('%s: what the schema names comes back, and the rest is reported as dropped', (name, apiVersion, kind) => {
    const json = JSON.parse(fixture(name, 'json').toString()) as Json;
    const dropped: string[] = [];
    const { apiVersion: _a, kind: _k, ...body } = decodeObject(serverSchema, encodeObject(serverSchema, apiVersion, kind, json, dropped));
    expect(body).toEqual(project(serverSchema.typeOf(apiVersion, kind)!, json));
    // every field filled upstream: the fuller schema still leaves most of a Pod out
    expect(dropped.length).toBeGreaterThan(0);
  });
});
