import { describe, expect, it } from 'vitest';
import { parseControllerFlags } from './main.js';

describe('parseControllerFlags', () => {
  it('defaults: client-go leader-election timing, podlb names, identity from POD_NAME', () => {
    const f = parseControllerFlags([], { POD_NAME: 'podlb-controller-7d9f-x' });
    expect(f.options).toEqual({
      identity: 'podlb-controller-7d9f-x',
      namespace: 'podlb-system',
      leaseName: 'podlb-controller',
      leaseDurationSeconds: 15,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      webhookPort: 9443,
      webhookServiceName: 'podlb-webhook',
      webhookConfigName: 'podlb',
      tlsSecretName: 'podlb-webhook-tls',
      tlsSecretNamespace: 'podlb-controller',
      gcGraceMs: 120_000,
      gcIntervalMs: 30_000,
    });
    expect(f.healthPort).toBe(9253);
    expect(f.kubeconfig).toBeUndefined();
  });

  it.each([
    [['--lease-duration', '1500ms'], /whole seconds/],
    [['--gc-grace', 'soon'], /--gc-grace.*not a duration/],
    [['--webhook-port', '70000'], /--webhook-port.*not a port/],
    [['--no-such-flag'], /Unknown option/],
    [['positional'], /positional/i],
  ])('%j is refused', (argv, message) => {
    expect(() => parseControllerFlags(argv, {})).toThrow(message);
  });
});
