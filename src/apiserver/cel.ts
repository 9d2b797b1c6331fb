// The CEL environment of the in-process API server: CRD x-kubernetes-validations and
// ValidatingAdmissionPolicy expressions. Every input is dyn (no type checking against the
// OpenAPI schema, and no cost budget); values are converted as the API server's unstructured
// conversion does (integral JSON numbers are CEL ints).
import { Environment } from '@marcbachmann/cel-js';

let env: Environment | undefined;
const programs = new Map<string, ReturnType<Environment['parse']>>();

export function celEnvironment(): {
  parse(expression: string): (ctx: Record<string, unknown>) => unknown;
  check(expression: string): { valid: boolean; error?: Error };
} {
  env ??= new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });
  const e = env;
  return {
    parse(expression) {
      let p = programs.get(expression);
      if (!p) {
        p = e.parse(expression);
        programs.set(expression, p);
      }
      return p as (ctx: Record<string, unknown>) => unknown;
    },
    check: (expression) => e.check(expression),
  };
}

/** JSON numbers become CEL ints (bigint) when integral, as the API server's unstructured conversion does. */
export function toCel(v: unknown): unknown {
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(toCel);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  return v;
}
