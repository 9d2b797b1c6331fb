export function valueImports(file: string): { local: Set<string>; bare: Set<string> };
