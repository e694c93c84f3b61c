import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface InfoModule {
  specifier: string;
  dependencies?: { specifier?: string; code?: { specifier?: string } }[];
}

/**
 * The specifiers a module names only in `import type` / `export type`
 * statements: those edges are erased at run time and cannot make a cycle.
 */
function typeOnlySpecifiers(source: string): Set<string> {
  const statements = [...source.matchAll(/^(import|export)\b([^;]*?)\bfrom\s*"([^"]+)"/gms)];
  const typeOnly = new Set<string>();
  const runtime = new Set<string>();
  for (const [, , clause, specifier] of statements) {
    (/^\s*type\b/.test(clause) ? typeOnly : runtime).add(specifier);
  }
  return new Set([...typeOnly].filter((s) => !runtime.has(s)));
}

/** The local module graph of an entry point at run time, from `deno info --json`. */
async function graphOf(entry: string): Promise<Map<string, string[]>> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const modules: InfoModule[] = JSON.parse(new TextDecoder().decode(stdout)).modules;
  const local = (s: string) => s.startsWith(ROOT.href) ? s.slice(ROOT.href.length) : undefined;
  const graph = new Map<string, string[]>();
  for (const module of modules) {
    const from = local(module.specifier);
    if (from === undefined) continue;
    const erased = typeOnlySpecifiers(await Deno.readTextFile(new URL(from, ROOT)));
    const to = (module.dependencies ?? []).flatMap((d) => {
      if (d.specifier !== undefined && erased.has(d.specifier)) return [];
      const path = d.code?.specifier === undefined ? undefined : local(d.code.specifier);
      return path === undefined ? [] : [path];
    });
    graph.set(from, [...new Set(to)]);
  }
  return graph;
}

/** Every cycle's modules (strongly connected components of more than one module, or a self-import). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

Deno.test("typeOnlySpecifiers() keeps an edge any value import uses", () => {
  const source = [
    'import type { A } from "./a.ts";',
    'import { type B, c } from "./b.ts";',
    'import type { D } from "./d.ts";',
    'import { d } from "./d.ts";',
    'export type { E } from "./e.ts";',
    "import type {\n  F,\n} from './f.ts';",
  ].join("\n");
  assert.deepEqual([...typeOnlySpecifiers(source)].sort(), ["./a.ts", "./e.ts"]);
});

Deno.test("cycles() finds a cycle, and only a cycle", () => {
  const graph = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]], ["e", ["e"]]]);
  assert.deepEqual(cycles(graph).sort(), [["a", "b", "c"], ["e"]]);
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", []]])), []);
});

Deno.test("no module of the CLI, the library or the service imports itself through others", async () => {
  const found: string[][] = [];
  for (const entry of ["cli.ts", "mod.ts", "server/app.ts"]) {
    for (const cycle of cycles(await graphOf(entry))) {
      if (!found.some((c) => c.join() === cycle.join())) found.push(cycle);
    }
  }
  assert.deepEqual(found, [], `import cycles: ${found.map((c) => c.join(" <-> ")).join("; ")}`);
});
