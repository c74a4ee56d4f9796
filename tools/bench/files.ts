/** Atomic writes of the bench reports (tools/bench.ts, tools/bench_merge.ts). */

export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

/** Writes Markdown atomically, formatted by `deno fmt` so the checked-in page stays fmt-clean. */
export async function writeMarkdown(path: string, text: string): Promise<void> {
  const tmp = `${path.replace(/\.md$/, "")}.tmp-${Deno.pid}.md`;
  await Deno.writeTextFile(tmp, text);
  try {
    await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", tmp] })
      .output();
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}
