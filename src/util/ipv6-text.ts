// RFC 5952 text of an IPv6 address given as eight 16-bit words: lower-case hex, the longest
// run of two or more zero words (the first one on ties) written as '::'. Shared by the BGP
// model (addresses as bigint) and netlink (addresses as raw bytes).
export function formatV6Words(w: readonly number[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = w.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
