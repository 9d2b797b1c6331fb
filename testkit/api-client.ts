// The client a test uses as the in-process API server's admin, built the way every binary
// builds one: a KubeConfig loaded from the server's own kubeconfig.
import { KubeConfig } from '@kubernetes/client-node';
import type { ApiServer } from '../src/apiserver/index.js';
import { KubeClient } from '../src/kube/client.js';

export function adminKubeConfig(api: ApiServer): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfigYaml());
  return kc;
}

export function adminClient(api: ApiServer): KubeClient {
  return new KubeClient(adminKubeConfig(api));
}
