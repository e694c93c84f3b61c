/**
 * Aligned text tables for human output. Widths ignore ANSI colour codes, so
 * coloured cells line up too.
 *
 * @module
 */

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

function width(text: string): number {
  return [...text.replace(ANSI, "")].length;
}

/**
 * Render rows as a table with a header, columns separated by two spaces.
 * @param header the column titles
 * @param rows the cells
 * @returns the lines of the table, joined by newlines
 */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(width(title), ...rows.map((row) => width(row[column] ?? "")))
  );
  const line = (cells: string[]) =>
    cells.map((cell, column) =>
      column === cells.length - 1 ? cell : cell + " ".repeat(widths[column] - width(cell))
    ).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
