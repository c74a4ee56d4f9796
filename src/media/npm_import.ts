/**
 * Imports an `npm:` specifier with the runtime's own loader.
 *
 * Under vitest every `import()` in project files is routed through Vite, which cannot resolve
 * `npm:` specifiers; `data:` modules are handed to the native loader, so the import is issued
 * from one of those.
 */
const NATIVE_IMPORTER = "data:text/javascript,export default (specifier) => import(specifier);";

// deno-lint-ignore no-explicit-any
export async function importNpm<T = any>(specifier: string): Promise<T> {
  const { default: nativeImport } = await import(NATIVE_IMPORTER);
  return await nativeImport(specifier);
}
