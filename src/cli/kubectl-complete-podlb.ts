#!/usr/bin/env node
// `kubectl_complete-podlb`: kubectl 1.26+ runs this executable (found on PATH by that name) to
// complete `kubectl podlb …`, passing the words after `podlb` with the word being completed
// last, and expects cobra's `__complete` answer. It loads only the command tree.
import { complete, renderCompletion } from './completion.js';
import { KUBECTL_GLOBAL_FLAGS, KUBECTL_PODLB } from './kubectl/commands.js';

const args = process.argv.slice(2);
process.stdout.write(renderCompletion(complete(KUBECTL_PODLB, args.slice(0, -1), args.at(-1) ?? '', KUBECTL_GLOBAL_FLAGS)));
