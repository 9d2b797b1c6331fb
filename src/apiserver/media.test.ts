// Accept negotiation as k8s.io/apiserver's NegotiateMediaTypeOptions: the first acceptable clause
// by quality, then in the client's order; conversions (`as=Table`) this server does not do make
// a clause unacceptable rather than ignored.
import { describe, expect, it } from 'vitest';
import { negotiate } from './media.js';

describe('negotiate', () => {
  it.each([
    [undefined, 'json'],
    ['', 'json'],
    ['application/json', 'json'],
    ['application/vnd.kubernetes.protobuf', 'protobuf'],
    ['application/vnd.kubernetes.protobuf, application/json', 'protobuf'],
    ['application/vnd.kubernetes.protobuf,application/json', 'protobuf'],
    ['application/json, application/vnd.kubernetes.protobuf', 'json'],
    ['application/json;q=0.5, application/vnd.kubernetes.protobuf', 'protobuf'],
    ['*/*, application/vnd.kubernetes.protobuf', 'protobuf'],
    ['application/vnd.kubernetes.protobuf;stream=watch, application/json', 'protobuf'],
    ['application/json;as=Table;v=v1;g=meta.k8s.io,application/json', 'json'],
    ['application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json', 'json'],
    ['*/*', 'json'],
    ['application/*', 'json'],
    ['text/html', undefined],
    ['application/vnd.kubernetes.protobuf;q=0', undefined],
  ])('%j -> %s', (accept, media) => {
    expect(negotiate(accept)).toBe(media);
  });
});
