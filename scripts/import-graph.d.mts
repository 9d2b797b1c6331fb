export function valueImports(file: string, opts?: { dynamic?: boolean }): { local: Set<string>; bare: Set<string> };
