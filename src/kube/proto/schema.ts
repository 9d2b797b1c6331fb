// The protobuf schemas built from the proto text in proto-source.ts: the server's (every field
// declared) and the client's (without the fields marked server_only), and the kinds that
// travel as protobuf.
import protobuf from 'protobufjs';
import { PROTO_SOURCE } from './proto-source.js';

const SERVER_ONLY = '(server_only)';
export const KEEP_ZERO = '(keep_zero)';

/** The kinds that travel as protobuf, by apiVersion and kind, with their message types. */
const KINDS: Record<string, string> = {
  'v1/Pod': 'k8s.io.api.core.v1.Pod',
  'v1/PodList': 'k8s.io.api.core.v1.PodList',
  'v1/Service': 'k8s.io.api.core.v1.Service',
  'v1/ServiceList': 'k8s.io.api.core.v1.ServiceList',
  'v1/Node': 'k8s.io.api.core.v1.Node',
  'v1/NodeList': 'k8s.io.api.core.v1.NodeList',
  'discovery.k8s.io/v1/EndpointSlice': 'k8s.io.api.discovery.v1.EndpointSlice',
  'discovery.k8s.io/v1/EndpointSliceList': 'k8s.io.api.discovery.v1.EndpointSliceList',
  'v1/Status': 'k8s.io.apimachinery.pkg.apis.meta.v1.Status',
};

export interface ProtoSchema {
  readonly root: protobuf.Root;
  /** The message type of an object of this apiVersion and kind, or undefined when it has none. */
  typeOf(apiVersion: string, kind: string): protobuf.Type | undefined;
  type(name: string): protobuf.Type;
}

function schema(root: protobuf.Root): ProtoSchema {
  root.resolveAll();
  const cache = new Map<string, protobuf.Type>();
  const type = (name: string): protobuf.Type => {
    let t = cache.get(name);
    if (!t) {
      t = root.lookupType(name);
      cache.set(name, t);
    }
    return t;
  };
  return {
    root,
    type,
    typeOf: (apiVersion, kind) => {
      const name = KINDS[`${apiVersion}/${kind}`];
      return name === undefined ? undefined : type(name);
    },
  };
}

function parse(): protobuf.Root {
  // one package per file in protobuf, so each package section is parsed into the same root
  const root = new protobuf.Root();
  const header = 'syntax = "proto2";\n';
  for (const section of PROTO_SOURCE.split(/^(?=package )/m).slice(1)) protobuf.parse(header + section, root, { keepCase: true });
  return root;
}

function withoutServerOnly(root: protobuf.Root): protobuf.Root {
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const child of ns.nestedArray) {
      if (child instanceof protobuf.Type) {
        for (const f of child.fieldsArray) if (f.options?.[SERVER_ONLY] === true) child.remove(f);
      }
      if (child instanceof protobuf.Namespace) visit(child);
    }
  };
  visit(root);
  return root;
}

/** What the in-process API server encodes: the client's fields and the ones it stores besides. */
export const serverSchema: ProtoSchema = schema(parse());
/** What podlb decodes: only the fields it reads. */
export const clientSchema: ProtoSchema = schema(withoutServerOnly(parse()));

export function isBuiltinProtoKind(apiVersion: string, kind: string): boolean {
  return KINDS[`${apiVersion}/${kind}`] !== undefined;
}
