// Where the controller's credentials come from (the agent's own loader is credentials.ts, which
// does not load client-node): a kubeconfig file when given (--kubeconfig or
// KUBECONFIG), else the Pod's in-cluster configuration through client-node's own loader
// (projected ServiceAccount token, CA file, KUBERNETES_SERVICE_HOST/PORT). PODLB_IN_CLUSTER_ROOT
// prefixes the projected files' path; the lab sets it because its binaries share the host's
// file system, where /var/run/secrets/kubernetes.io/serviceaccount is not theirs.
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(kubeconfig: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  const file = kubeconfig ?? process.env.KUBECONFIG;
  if (file) kc.loadFromFile(file);
  // client-node reads KUBERNETES_SERVICE_HOST/PORT from process.env itself.
  else kc.loadFromCluster(process.env.PODLB_IN_CLUSTER_ROOT ?? '');
  return kc;
}
