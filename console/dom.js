// Building DOM nodes without innerHTML: every value from the API becomes a text node or an
// attribute, never markup (and the strict CSP allows no inline style or script anyway).

const SVG_NS = "http://www.w3.org/2000/svg";

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setAttributes(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      node.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (name === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  return node;
}

/** An HTML element: h("a", {href: "#/"}, "Fleet"). */
export function h(tag, attrs = {}, ...children) {
  return append(setAttributes(document.createElement(tag), attrs), children);
}

/** An SVG element (attributes are presentation attributes, not style: the CSP forbids inline style). */
export function s(tag, attrs = {}, ...children) {
  return append(setAttributes(document.createElementNS(SVG_NS, tag), attrs), children);
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
  return node;
}

export function replace(node, ...children) {
  return append(clear(node), children);
}

/** A table with a caption, header cells scoped to columns, and one row per item. */
export function table({ caption, columns, rows, rowClass, empty = "Nothing to show." }) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class }, c.label))));
  const body = h("tbody");
  if (!rows.length) {
    body.append(h("tr", {}, h("td", { colspan: columns.length, class: "muted" }, empty)));
  }
  for (const row of rows) {
    body.append(
      h(
        "tr",
        { class: rowClass ? rowClass(row) : null },
        columns.map((c, i) => h(i === 0 && c.rowHeader ? "th" : "td", {
          scope: i === 0 && c.rowHeader ? "row" : null,
          class: c.class,
        }, c.cell(row))),
      ),
    );
  }
  // A scroll container keyboard users can reach (narrow screens scroll the table sideways).
  return h(
    "div",
    { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption || "table" },
    h("table", {}, caption ? h("caption", {}, caption) : null, head, body),
  );
}
