/** Type-check generated code with the TypeScript compiler API, as `tsc --strict` would. */
import ts from 'typescript';

export const STRICT_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noUncheckedIndexedAccess: true,
  noImplicitOverride: true,
  noUnusedLocals: true,
  noUnusedParameters: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts'],
  types: [],
  skipLibCheck: true,
};

export interface Diagnostic {
  readonly file: string | null;
  readonly line: number | null;
  readonly code: number;
  readonly message: string;
}

/** Compile `files` (absolute paths); optionally emit JS into `outDir`. */
export function compile(files: readonly string[], outDir?: string): Diagnostic[] {
  const options = outDir ? { ...STRICT_OPTIONS, outDir } : { ...STRICT_OPTIONS, noEmit: true };
  const program = ts.createProgram(files, options);
  const diagnostics = [...ts.getPreEmitDiagnostics(program)];
  if (outDir) diagnostics.push(...program.emit().diagnostics);
  return diagnostics.map((d) => ({
    file: d.file?.fileName ?? null,
    line:
      d.file && d.start !== undefined
        ? d.file.getLineAndCharacterOfPosition(d.start).line + 1
        : null,
    code: d.code,
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}
