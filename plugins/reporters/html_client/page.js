// The drift matrix's client: sorting, filtering and paging the rows of the page
// plugins/reporters/html.ts writes. Plain script (no module, no library): it builds the DOM by
// textContent only, so data never becomes markup. deno task html-client embeds it.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("jrm-data").textContent);
  // The bits of a cell's mask, in the order of CELL_ROLES; only targets (align, review) are coloured.
  const ROLES = [["act-align", "A"], ["act-review", "R"], [null, "S"]];
  const table = document.getElementById("matrix");
  const tbody = table.tBodies[0];
  const input = document.getElementById("filter");
  const status = document.getElementById("matrix-status");
  const more = document.getElementById("show-more");
  const all = document.getElementById("show-all");
  const headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  const width = headers.length;
  const rows = data.rows.map(function (r, index) {
    const words = [r[0], data.sevs[r[2]] || ""];
    r[1].forEach(function (t) {
      words.push(data.types[t]);
    });
    r[3].forEach(function (cell, e) {
      if (cell && cell[2] & 3) words.push(data.envs[e]);
      if (cell && cell[3] !== null) words.push(cell[3]);
    });
    r[4].forEach(function (d) {
      words.push(d[2]);
    });
    return {
      r: r,
      index: index,
      words: words.join("\n").toLowerCase(),
      tr: null,
      detail: null,
      open: false,
    };
  });
  let order = rows.slice();
  let view = rows;
  let limit = data.page;
  let sortKey = null;
  let sortDir = 1;
  let terms = [];

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function confText(c) {
    return typeof c === "number" ? c.toFixed(2) : String(c);
  }
  function cellText(cell) {
    const parts = [];
    if (cell[0] !== null) parts.push("rev " + cell[0]);
    if (cell[1] !== null) parts.push("conf " + confText(cell[1]));
    return parts.length ? parts.join(" \u00b7 ") : "entry";
  }
  function buildRow(row) {
    const r = row.r;
    const tr = el("tr");
    tr.setAttribute("data-index", String(row.index));
    const th = el("th");
    th.scope = "row";
    const toggle = el("button", "toggle", r[0]);
    toggle.type = "button";
    toggle.title = "Show the drifts of this signature";
    toggle.setAttribute("aria-expanded", row.open ? "true" : "false");
    th.appendChild(toggle);
    tr.appendChild(th);
    tr.appendChild(el(
      "td",
      "types",
      r[1].map(function (t) {
        return data.types[t];
      }).join(", "),
    ));
    const sev = el("td");
    sev.appendChild(
      el(
        "span",
        "badge sev-" + (data.sevs[r[2]] || "other").replace(/[^a-z]/g, ""),
        data.sevs[r[2]],
      ),
    );
    tr.appendChild(sev);
    r[3].forEach(function (cell, e) {
      if (!cell) {
        const missing = el("td", "cell missing", "\u2014");
        missing.title = data.envs[e] + ": no entry";
        tr.appendChild(missing);
        return;
      }
      const td = el("td", "cell agree", cellText(cell));
      const title = [data.envs[e] + ": " + cellText(cell)];
      if (cell[3] !== null) title.push("patch " + cell[3]);
      if (cell[1] !== null) title.push("confidence " + cell[1]);
      ROLES.forEach(function (role, bit) {
        if (cell[2] & (1 << bit)) {
          if (role[0]) {
            td.classList.remove("agree");
            td.classList.add(role[0]);
          }
          td.appendChild(el("span", "tag", role[1]));
        }
      });
      r[4].forEach(function (d) {
        const type = data.types[d[0]];
        if (d[6].indexOf(e) !== -1) {
          title.push(
            type + ": " +
              (d[4] === "align" ? "must align with " + data.envs[d[5]] : "must be reviewed"),
          );
        } else if (d[5] === e) {
          title.push(type + ": the reference");
        }
      });
      td.title = title.join("\n");
      tr.appendChild(td);
    });
    return tr;
  }
  function buildDetail(row) {
    const tr = el("tr", "detail");
    const td = el("td");
    td.colSpan = width;
    const list = el("ul");
    row.r[4].forEach(function (d) {
      const li = el("li");
      li.appendChild(el("strong", null, data.types[d[0]]));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(
        el(
          "span",
          "badge sev-" + (data.sevs[d[1]] || "other").replace(/[^a-z]/g, ""),
          data.sevs[d[1]],
        ),
      );
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("code", null, d[2]));
      li.appendChild(document.createTextNode(" " + d[3]));
      li.appendChild(el("div", "rec", d[4] + ": " + d[7]));
      list.appendChild(li);
    });
    td.appendChild(list);
    tr.appendChild(td);
    return tr;
  }
  function render() {
    const shown = view.length < limit ? view.length : limit;
    const fragment = document.createDocumentFragment();
    for (let i = 0; i < shown; i++) {
      const row = view[i];
      fragment.appendChild(row.tr || (row.tr = buildRow(row)));
      if (row.open) fragment.appendChild(row.detail || (row.detail = buildDetail(row)));
    }
    tbody.replaceChildren(fragment);
    const total = rows.length.toLocaleString("en-US");
    if (rows.length === 0) status.textContent = "No cross-environment drift was found.";
    else if (view.length === 0) {
      status.textContent = "No drifting signature matches the filter (" + total + " in all).";
    } else {
      status.textContent = "Showing " + shown.toLocaleString("en-US") + " of " +
        view.length.toLocaleString("en-US") + (terms.length ? " matching" : "") + " signature" +
        (view.length === 1 ? "" : "s") + (terms.length ? " (" + total + " in all)" : "") + ".";
    }
    more.hidden = all.hidden = view.length <= limit;
  }
  function compare(a, b) {
    if (a === b) return 0;
    if (a === null) return 1;
    if (b === null) return -1;
    if (typeof a === "number" && typeof b === "number") return a - b;
    a = String(a);
    b = String(b);
    return a < b ? -1 : a > b ? 1 : 0;
  }
  function keyOf(row, key) {
    const r = row.r;
    if (key === "signature") return [r[0]];
    if (key === "types") {
      return [
        r[1].map(function (t) {
          return data.types[t];
        }).join(","),
      ];
    }
    if (key === "severity") return [r[2]];
    const cell = r[3][Number(key.slice(4))];
    return cell ? [cell[0], cell[1]] : [null, null];
  }
  function sortRows() {
    order = rows.slice();
    if (sortKey !== null) {
      const keys = order.map(function (row) {
        return keyOf(row, sortKey);
      });
      order.sort(function (a, b) {
        const ka = keys[a.index],
          kb = keys[b.index];
        for (let i = 0; i < ka.length; i++) {
          const missingA = ka[i] === null, missingB = kb[i] === null;
          if (missingA !== missingB) return missingA ? 1 : -1;
          const c = compare(ka[i], kb[i]) * sortDir;
          if (c) return c;
        }
        return a.index - b.index;
      });
    }
    headers.forEach(function (th) {
      const key = th.getAttribute("data-sort");
      th.setAttribute(
        "aria-sort",
        key === sortKey ? (sortDir === 1 ? "ascending" : "descending") : "none",
      );
    });
  }
  function filterRows() {
    terms = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    view = terms.length === 0 ? order : order.filter(function (row) {
      for (let i = 0; i < terms.length; i++) if (row.words.indexOf(terms[i]) === -1) return false;
      return true;
    });
    limit = data.page;
    render();
    status.setAttribute("data-applied", input.value);
  }
  function sortBy(key, dir) {
    sortKey = key;
    sortDir = dir;
    sortRows();
    filterRows();
  }
  headers.forEach(function (th) {
    th.querySelector("button").addEventListener("click", function () {
      const key = th.getAttribute("data-sort");
      sortBy(key, key === sortKey ? -sortDir : key === "severity" ? -1 : 1);
    });
  });
  let timer = 0;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(filterRows, rows.length > 2000 ? 120 : 0);
  });
  tbody.addEventListener("click", function (event) {
    const toggle = event.target.closest && event.target.closest("button.toggle");
    if (!toggle) return;
    const row = rows[Number(toggle.parentNode.parentNode.getAttribute("data-index"))];
    row.open = !row.open;
    toggle.setAttribute("aria-expanded", row.open ? "true" : "false");
    render();
  });
  more.addEventListener("click", function () {
    limit += data.page;
    render();
  });
  all.addEventListener("click", function () {
    limit = Infinity;
    render();
  });
  function fromHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    if (params.has("filter")) input.value = params.get("filter");
    let key = null;
    const sort = params.get("sort");
    if (sort !== null) {
      const env = data.envs.indexOf(sort);
      key = env !== -1
        ? "env:" + env
        : ["signature", "types", "severity"].indexOf(sort) !== -1
        ? sort
        : null;
    }
    sortBy(key, params.get("dir") === "desc" ? -1 : 1);
  }
  globalThis.addEventListener("hashchange", fromHash);
  fromHash();
})();
