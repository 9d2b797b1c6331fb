// The strings that may reach bird.conf besides addresses and prefixes (src/net/ip.ts): BIRD
// symbols and TCP-MD5 passwords. Each is a branded type that only the validating function
// here produces, so the renderer's signature refuses an unvalidated string at compile time.
import { createHash } from 'node:crypto';

/** A valid BIRD symbol ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters). */
export type BirdSymbol = string & { readonly __brand: 'BirdSymbol' };
/** Printable ASCII without `"` or `\`, 1-80 bytes: safe inside a bird.conf string. */
export type BirdPassword = string & { readonly __brand: 'BirdPassword' };

export const BIRD_SYMBOL = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
/** TCP-MD5 (RFC 2385) keys are at most 80 bytes on Linux. */
export const MAX_PASSWORD_BYTES = 80;

export function birdSymbol(raw: string): BirdSymbol | undefined {
  return BIRD_SYMBOL.test(raw) ? (raw as BirdSymbol) : undefined;
}

/**
 * `podlb_<name, [a-z0-9] kept, others as _, truncated to 32>_<6 hex of sha256(name)>`:
 * readable, a valid BIRD symbol for any input, and distinct for distinct names.
 */
export function protocolName(peerName: string): BirdSymbol {
  const clean = peerName
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '_')
    .slice(0, 32);
  const hash = createHash('sha256').update(peerName).digest('hex').slice(0, 6);
  return `podlb_${clean}_${hash}` as BirdSymbol;
}

/** Why the bytes of a Secret cannot be a password in bird.conf; never echoes them. */
export type PasswordProblem = 'empty' | 'tooLong' | 'unsafeCharacter';

export function birdPassword(value: Buffer): { ok: true; password: BirdPassword } | { ok: false; why: PasswordProblem } {
  if (value.length === 0) return { ok: false, why: 'empty' };
  if (value.length > MAX_PASSWORD_BYTES) return { ok: false, why: 'tooLong' };
  for (const byte of value) {
    if (byte < 0x20 || byte > 0x7e || byte === 0x22 || byte === 0x5c) return { ok: false, why: 'unsafeCharacter' };
  }
  return { ok: true, password: value.toString('ascii') as BirdPassword };
}
