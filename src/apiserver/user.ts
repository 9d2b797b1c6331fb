// Who a request is from, as the real API server's authenticators produce it
// (k8s.io/apiserver/pkg/authentication/user.Info). Authentication fills it; RBAC and admission
// (ValidatingAdmissionPolicy's `request.userInfo`) read it.
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  /** e.g. `authentication.kubernetes.io/node-name` for a ServiceAccount token bound to a Pod. */
  extra?: Record<string, string[]>;
}

/** Writes made in-process (the lab's kubelet and EndpointSlice controller, test set-up) act as the control plane itself. */
export const IN_PROCESS_USER: UserInfo = { username: 'system:apiserver', groups: ['system:masters', 'system:authenticated'] };
