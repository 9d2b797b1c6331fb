// The lab's confd picks a BGPPeer's nodes with the controller's own Calico selector evaluator
// (src/controller/calico/selector-match.ts, after projectcalico/calico v3.32.1
// libcalico-go/lib/selector): one reading of Calico's selector language, so the clash check and
// the lab's Calico node can never disagree on which nodes a hand-made peer picks.
export { calicoSelectorMatches } from '../../src/controller/calico/selector-match.js';
