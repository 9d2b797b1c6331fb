// CRD schema enforcement by the in-process API server: the shipped CRDs' openAPIV3Schema on
// every create, update, patch and /status write, with the real server's messages.
import { describe, expect, it } from 'vitest';
import { refusal } from '../../testkit/api-errors.js';
import { isDateTime } from './formats.js';
import { ObjectStore } from './store.js';

const peer = (spec: Record<string, unknown>) => ({
  apiVersion: 'podlb.io/v1alpha1',
  kind: 'BGPPeer',
  metadata: { name: 'tor' },
  spec: { peerAddress: '192.0.2.1', peerASN: 65000, localASN: 65001, ...spec },
});
const session = { peer: 'tor', protocol: 'p_tor', peerAddress: '192.0.2.1', state: 'Established' };

describe('PodLBNode status', () => {
  it("refuses BIRD's time of day in a date-time field with the real server's 422", () => {
    const s = new ObjectStore();
    s.create('podlbnodes', { apiVersion: 'podlb.io/v1alpha1', kind: 'PodLBNode', metadata: { name: 'node1' }, spec: {} });
    const st = refusal(() =>
      s.patch('podlbnodes', 'node1', undefined, 'merge', { status: { bgp: { sessions: [{ ...session, since: '06:08:42.361' }] } } }, { subresource: 'status' }),
    );
    expect(st.code).toBe(422);
    expect(st.reason).toBe('Invalid');
    expect(st.message).toBe(
      'PodLBNode.podlb.io "node1" is invalid: status.bgp.sessions[0].since: Invalid value: "06:08:42.361": status.bgp.sessions[0].since in body must be of type date-time: "06:08:42.361"',
    );
    expect(st.details?.causes).toEqual([
      {
        reason: 'FieldValueTypeInvalid',
        field: 'status.bgp.sessions[0].since',
        message: 'Invalid value: "06:08:42.361": status.bgp.sessions[0].since in body must be of type date-time: "06:08:42.361"',
      },
    ]);
    const ok = s.patch(
      'podlbnodes',
      'node1',
      undefined,
      'merge',
      { status: { bgp: { sessions: [{ ...session, since: '2026-12-06T06:08:42.361Z' }] } } },
      { subresource: 'status' },
    );
    expect(ok.status.bgp.sessions[0].since).toBe('2026-12-06T06:08:42.361Z');
  });

  it('prunes unknown fields instead of refusing them, in spec and status', () => {
    const s = new ObjectStore();
    const created = s.create('podlbnodes', { apiVersion: 'podlb.io/v1alpha1', kind: 'PodLBNode', metadata: { name: 'node1' }, spec: { typo: 1 } });
    expect(created.spec).toEqual({});
    const o = s.patch(
      'podlbnodes',
      'node1',
      undefined,
      'merge',
      { status: { members: { registered: 1, healthy: 1, draining: 0, extra: 2 }, bogus: true } },
      { subresource: 'status' },
    );
    expect(o.status).toEqual({ members: { registered: 1, healthy: 1, draining: 0 } });
  });

  it('refuses duplicate keys of a list-type map and a missing required field', () => {
    const s = new ObjectStore();
    s.create('podlbnodes', { metadata: { name: 'n' }, apiVersion: 'podlb.io/v1alpha1', kind: 'PodLBNode', spec: {} });
    const dup = refusal(() =>
      s.patch(
        'podlbnodes',
        'n',
        undefined,
        'merge',
        {
          status: {
            conditions: [
              { type: 'BGPReady', status: 'True' },
              { type: 'BGPReady', status: 'False' },
            ],
          },
        },
        { subresource: 'status' },
      ),
    );
    expect(dup.details?.causes).toEqual([{ reason: 'FieldValueDuplicate', field: 'status.conditions[1]', message: 'Duplicate value: {"type":"BGPReady"}' }]);
    const req = refusal(() => s.patch('podlbnodes', 'n', undefined, 'merge', { status: { members: { registered: 1 } } }, { subresource: 'status' }));
    expect(req.details?.causes?.map((c) => `${c.field}: ${c.message}`)).toEqual([
      'status.members.healthy: Required value',
      'status.members.draining: Required value',
    ]);
  });
});

describe('BGPPeer spec', () => {
  it.each([
    [{ peerAddress: 'not-an-ip' }, 'spec.peerAddress: Invalid value: "not-an-ip": spec.peerAddress in body must validate at least one schema (anyOf)'],
    [{ holdTimeSeconds: 70000 }, 'spec.holdTimeSeconds: Invalid value: 70000: spec.holdTimeSeconds in body should be less than or equal to 65535'],
    [{ peerASN: 'x' }, 'spec.peerASN: Invalid value: "string": spec.peerASN in body must be of type integer: "string"'],
    [{ bfd: { enabled: 1 } }, 'spec.bfd.enabled: Invalid value: "integer": spec.bfd.enabled in body must be of type boolean: "integer"'],
    [
      { passwordSecretRef: { name: 'Bad_Name', key: 'k' } },
      'spec.passwordSecretRef.name: Invalid value: "Bad_Name": spec.passwordSecretRef.name in body should match \'^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$\'',
    ],
  ])('refuses %j', (spec, first) => {
    const st = refusal(() => new ObjectStore().create('bgppeers', peer(spec)));
    expect(st.code).toBe(422);
    expect(st.message).toContain(first);
  });

  it('evaluates x-kubernetes-validations with CEL, after the schema passed', () => {
    const s = new ObjectStore();
    const blocked = refusal(() => s.create('bgppeers', peer({ holdTimeSeconds: 2, peerASN: undefined })));
    expect(blocked.details?.causes?.map((c) => c.field)).toEqual(['spec.peerASN', '<nil>']);
    expect(blocked.details?.causes?.[1]?.message).toBe(
      'Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
    );
    const st = refusal(() => s.create('bgppeers', peer({ holdTimeSeconds: 2 })));
    expect(st.message).toBe('BGPPeer.podlb.io "tor" is invalid: spec.holdTimeSeconds: Invalid value: "integer": holdTimeSeconds must be 0 or 3-65535');
    const ka = refusal(() => s.create('bgppeers', peer({ keepaliveSeconds: 95 })));
    expect(ka.message).toContain('spec: Invalid value: "object": keepaliveSeconds must be 1 to holdTimeSeconds-1');
    const fam = refusal(() => s.create('bgppeers', peer({ sourceAddress: '2001:db8::1' })));
    expect(fam.message).toContain('spec: Invalid value: "object": sourceAddress and peerAddress must be of the same IP family');
    expect(s.create('bgppeers', peer({ keepaliveSeconds: 30, holdTimeSeconds: 90, sourceAddress: '192.0.2.9' })).spec.keepaliveSeconds).toBe(30);
  });

  it('fills in defaults of the schema', () => {
    const o = new ObjectStore().create('bgppeers', peer({ gracefulRestart: {} }));
    expect(o.spec.gracefulRestart).toEqual({ enabled: true });
  });

  it('checks updates and merge patches too, and ratchets values the update does not change', () => {
    const s = new ObjectStore();
    s.create('bgppeers', peer({}));
    expect(refusal(() => s.patch('bgppeers', 'tor', undefined, 'merge', { spec: { peerASN: 0 } })).code).toBe(422);
    const cur = s.get('bgppeers', 'tor');
    expect(refusal(() => s.update('bgppeers', { ...cur, spec: { ...cur.spec, ebgpMultihop: 256 } })).message).toContain('spec.ebgpMultihop');
  });
});

describe('LoadBalancerClass spec', () => {
  it('refuses an enum value outside the list with Unsupported value', () => {
    const st = refusal(() =>
      new ObjectStore().create('loadbalancerclasses', {
        apiVersion: 'podlb.io/v1alpha1',
        kind: 'LoadBalancerClass',
        metadata: { name: 'x' },
        spec: { provider: 'f5' },
      }),
    );
    expect(st.details?.causes?.[0]).toEqual({
      reason: 'FieldValueNotSupported',
      field: 'spec.provider',
      message: 'Unsupported value: "f5": supported values: "haproxy", "octavia"',
    });
  });
});

describe('date-time (strfmt.IsDateTime)', () => {
  it.each([
    ['2026-12-06T06:08:42.361Z', true],
    ['2026-12-06T06:08:42+01:00', true],
    ['2026-12-06t06:08:42z', true],
    ['06:08:42.361', false],
    ['2026-12-06 06:08:42Z', false],
    ['2026-02-30T06:08:42Z', false],
    ['2026-12-06T24:00:00Z', false],
    ['2026-12-06T06:08:42', false],
  ])('%s → %s', (s, want) => expect(isDateTime(s)).toBe(want));
});

describe('extra CRDs', () => {
  it('resourceFromCrd enforces any CRD schema a test registers', async () => {
    const { resourceFromCrd } = await import('./resources.js');
    const crd = {
      spec: {
        group: 'example.io',
        scope: 'Namespaced' as const,
        names: { kind: 'Widget', plural: 'widgets' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 } } } } } },
          },
        ],
      },
    };
    const s = new ObjectStore({ resources: [resourceFromCrd(crd)] });
    expect(
      s.create('widgets', { apiVersion: 'example.io/v1', kind: 'Widget', metadata: { name: 'w', namespace: 'default' }, spec: { size: 2, extra: 1 } }).spec,
    ).toEqual({ size: 2 });
    expect(
      refusal(() => s.create('widgets', { apiVersion: 'example.io/v1', kind: 'Widget', metadata: { name: 'v', namespace: 'default' }, spec: { size: 0 } }))
        .message,
    ).toContain('spec.size in body should be greater than or equal to 1');
  });
});

describe('ratcheting', () => {
  it('an update is not refused for invalid values it leaves as they were, only for those it changes', async () => {
    const { StructuralSchema } = await import('./schema.js');
    const { shippedCrds, crdSchema } = await import('./crds.js');
    const schema = new StructuralSchema(crdSchema(shippedCrds(), 'podlb.io', 'v1alpha1', 'PodLBNode')!);
    // Stored when an older schema did not require healthy and draining, nor a date-time since.
    const old = { status: { members: { registered: 1 }, bgp: { sessions: [{ ...session, since: '06:08:42.361' }] } } };
    const fields = ['status.bgp.sessions[0].since', 'status.members.draining', 'status.members.healthy'];
    expect(
      schema
        .validate(structuredClone(old))
        .map((e) => e.field)
        .sort(),
    ).toEqual(fields);
    const unrelated = { status: { ...structuredClone(old.status), bgp: { ...old.status.bgp, lastApplyResult: 'Applied' } } };
    expect(schema.validate(unrelated, old)).toEqual([]);
    const touched = { status: { members: { registered: 2 }, bgp: { sessions: [{ ...session, since: '07:00:00.000' }] } } };
    expect(
      schema
        .validate(touched, old)
        .map((e) => e.field)
        .sort(),
    ).toEqual(fields);
  });
});

describe('pattern (Go RE2 syntax)', () => {
  it("takes RE2's leading inline flags, as in Calico's ^(?i)(Trace|...)?$", async () => {
    const { StructuralSchema } = await import('./schema.js');
    const schema = new StructuralSchema({
      type: 'object',
      properties: {
        spec: { type: 'object', properties: { level: { type: 'string', pattern: '^(?i)(Info|Debug)?$' }, name: { type: 'string', pattern: '(?i)^ab$' } } },
      },
    });
    expect(schema.validate({ spec: { level: 'INFO', name: 'AB' } })).toEqual([]);
    expect(schema.validate({ spec: { level: '' } })).toEqual([]);
    expect(schema.validate({ spec: { level: 'verbose', name: 'abc' } }).map((e) => e.field)).toEqual(['spec.level', 'spec.name']);
  });
});
