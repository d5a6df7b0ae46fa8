// A form that came back with errors: move the focus to its error summary, so a screen reader reads
// the list of problems first and a keyboard user tabs straight to its links (GOV.UK's pattern).
// A link of the summary moves the focus into its field, not merely the view to it.
(function () {
  "use strict";
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) {
    return;
  }
  // The title says it too ("Fout: Een gebruiker aanmaken"), as the first thing a screen reader reads.
  var prefix = summary.getAttribute("data-title-prefix");
  if (prefix && document.title.indexOf(prefix) !== 0) {
    document.title = prefix + document.title;
  }
  summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    if (!link) {
      return;
    }
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (field) {
      event.preventDefault();
      field.focus();
      var box = field.closest(".field") || field;
      box.scrollIntoView({ block: "start" });
    }
  });
})();
