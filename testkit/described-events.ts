// The Events `kubectl describe` shows for an object, asked the way kubectl asks (describe.go
// searchEvents): in the object's namespace, or in every namespace for a cluster-scoped one,
// with the field selector involvedObject.name, .namespace, .kind and .uid. An Event without
// the object's uid is not among them.
import type { KubeClient } from '../src/kube/client.js';

export interface DescribedEvent {
  type: string;
  reason: string;
  message: string;
  count?: number;
  involvedObject: { kind: string; name: string; namespace?: string; uid?: string };
  source?: { component?: string; host?: string };
}

export async function describedEvents(
  client: KubeClient,
  obj: { kind: string; metadata: { name?: string; namespace?: string; uid?: string } },
): Promise<DescribedEvent[]> {
  const { name = '', namespace = '', uid } = obj.metadata;
  const fields = [`involvedObject.name=${name}`, `involvedObject.namespace=${namespace}`, `involvedObject.kind=${obj.kind}`];
  if (uid) fields.push(`involvedObject.uid=${uid}`);
  const path = namespace ? `/api/v1/namespaces/${namespace}/events` : '/api/v1/events';
  return (await client.list<DescribedEvent>(path, { fieldSelector: fields.join(',') })).items;
}
