// Typeset the math pymdownx.arithmatex (generic mode) leaves in the page: inline math as
// <span class="arithmatex">\(...\)</span>, display math as <div class="arithmatex">\[...\]</div>.
// Rendering exactly those elements (rather than scanning the text for $) leaves shell variables such as
// $NPNET_DATA_DIR in prose and code alone. A formula KaTeX cannot parse is shown in red (a .katex-error
// element, which tests/test_docs_site.py looks for) instead of stopping the rest of the page.
function renderArithmatex(root) {
  root.querySelectorAll(".arithmatex").forEach((element) => {
    const source = element.textContent.trim();
    const display = source.startsWith("\\[");
    const tex = source.slice(2, -2);
    katex.render(tex, element, { displayMode: display, throwOnError: false });
  });
}

if (typeof document$ !== "undefined") {
  document$.subscribe(({ body }) => renderArithmatex(body)); // Material's page-load stream
} else {
  document.addEventListener("DOMContentLoaded", () => renderArithmatex(document.body));
}
