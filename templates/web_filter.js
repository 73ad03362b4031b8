// Narrows the category list as the reader types. Without JavaScript the
// "筛选" button asks the server for the same narrowed list.
(function () {
  "use strict";
  var box = document.getElementById("category-filter");
  var list = document.getElementById("category-list");
  var status = document.getElementById("category-count");
  if (!box || !list) { return; }
  var items = Array.prototype.slice.call(list.getElementsByTagName("li"));
  var keys = items.map(function (item) {
    var input = item.querySelector("input");
    return (item.textContent + " " + (input ? input.value : "")).toLowerCase();
  });
  function apply() {
    var query = box.value.trim().toLowerCase();
    var shown = 0;
    items.forEach(function (item, i) {
      var input = item.querySelector("input");
      var visible = !query || keys[i].indexOf(query) !== -1 || (input && input.checked);
      item.hidden = !visible;
      if (visible) { shown += 1; }
    });
    if (status) { status.textContent = "显示 " + shown + " / " + items.length + " 个分类"; }
  }
  box.addEventListener("input", apply);
  box.addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); apply(); }
  });
  var chosen = document.getElementById("scope-chosen");
  list.addEventListener("change", function (event) {
    if (event.target.checked && chosen) { chosen.checked = true; }
  });
  var button = document.getElementById("filter-button");
  if (button) { button.hidden = true; }
  apply();
})();
