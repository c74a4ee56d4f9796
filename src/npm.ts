/**
 * Imports an `npm:` specifier with the runtime's own loader.
 *
 * Under vitest every `import()` in project files is routed through Vite, which cannot resolve
 * `npm:` specifiers; `data:` modules are handed to Deno's native loader, so the import is
 * issued from one of those. Deno downloads the pinned package on first use (nodeModulesDir).
 */
const NATIVE_IMPORTER =
  "data:text/javascript,export default (specifier, options) => import(specifier, options);";

/** Loads a pinned npm package, e.g. `await importNpm("npm:fflate@0.8.2")`. */
// deno-lint-ignore no-explicit-any
export async function importNpm<T = any>(
  specifier: string,
  options?: ImportCallOptions,
): Promise<T> {
  const { default: nativeImport } = await import(NATIVE_IMPORTER);
  return await nativeImport(specifier, options);
}
