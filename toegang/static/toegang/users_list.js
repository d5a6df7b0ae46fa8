// The users list: the header's checkbox selects (or clears) every row of the page that has one.
// Progressive enhancement: without script the checkbox stays hidden and each row is ticked by hand.
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (!all) { return; }
  var table = all.closest("table");
  var boxes = Array.prototype.slice.call(table.querySelectorAll("tbody input[type=checkbox][name=ids]"));
  if (!boxes.length) { return; }
  function sync() {
    var ticked = boxes.filter(function (b) { return b.checked; }).length;
    all.checked = ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
  }
  all.addEventListener("change", function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
    sync();
  });
  boxes.forEach(function (b) { b.addEventListener("change", sync); });
  all.hidden = false;
  var heading = table.querySelector(".select-heading");
  if (heading) { heading.hidden = true; }
  sync();
})();
