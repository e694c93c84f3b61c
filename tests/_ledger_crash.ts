/**
 * A process that dies inside a ledger write, for the crash test of
 * tests/_ledger_conformance.ts: it opens the store named by its argument
 * (any backend), starts a publish, prints `inside` once the rows are written
 * but not committed, and waits to be killed.
 *
 * @module
 */

import { publishWithin } from "../core/advisory.ts";
import { parseStoreLocation } from "../core/store_url.ts";
import { openAdvisoryLedger } from "../cli/store.ts";
import { report, skew } from "./_report_fixture.ts";

const ledger = await openAdvisoryLedger(parseStoreLocation(Deno.args[0]), "write");
await ledger.write(async (sql) => {
  await publishWithin(sql, ledger.location, report([skew("crash", { A: 2, B: 1 })]), {
    allowOlderReport: true,
  });
  console.log("inside");
  await new Promise(() => {});
});
